#!/usr/bin/env python3
"""kvmpilot replay from the command line: JSON scores, --log, --compare, errors."""
import json
import os
import subprocess
import sys

kv = os.environ.get("KVMPILOT", "build/kvmpilot")
out = os.environ.get("TEST_OUT", "/tmp")
src = os.environ.get("KVMPILOT_SRC", ".")


def run(*args):
    return subprocess.run([kv, "replay", *args], capture_output=True, text=True, timeout=60)


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)


hand = os.path.join(out, "hand.csv")
with open(hand, "w") as f:
    f.write("time_s,mem_used_mb,cpu_demand_vcpus\n0,900,0.5\n1,1100,1.5\n2,1000,1.5\n3,100,0.2\n4,100,0.2\n")

# Scores as JSON, the hand-checked values (see test_replay.c).
r = run("--policy", "threshold", "--mem-reserve", "0", "--json", hand)
check(r.returncode == 0, "json run: " + r.stderr)
j = json.loads(r.stdout)
s = j["traces"][0]["scores"]
check(j["policy"] == "threshold", "policy name")
check(s == {"ticks": 5, "mem_pressure_s": 1, "mean_slack_mb": 464.0, "cpu_pressure_s": 1,
            "mean_idle_vcpus": 0.72, "actions": 4}, "scores %r" % s)

# --log: time_s,alloc_mb,vcpus for every tick.
log = os.path.join(out, "log.csv")
r = run("--policy", "threshold", "--mem-reserve", "0", "--log", log, hand)
check(r.returncode == 0, "log run: " + r.stderr)
with open(log) as f:
    rows = f.read().splitlines()
check(rows == ["time_s,alloc_mb,vcpus", "0,1024,1", "1,1124,1", "2,1224,2", "3,1324,2", "4,824,1"],
      "log %r" % rows)

# Bounds options move the start.
r = run("--policy", "threshold", "--mem-start", "2048", "--vcpu-start", "2", "--log", log, hand)
check(r.returncode == 0, r.stderr)
with open(log) as f:
    check(f.read().splitlines()[1] == "0,2048,2", "start from options")

# --compare: every policy, the oracle, totals and goals.
traces = [os.path.join(src, "tests/data/traces", n) for n in ("memhog_1.csv", "diurnal_5.csv")]
r = run("--compare", "--json", *traces)
check(r.returncode == 0, "compare: " + r.stderr)
j = json.loads(r.stdout)
check(set(j["total"]) == {"threshold", "window", "predictive", "oracle"}, "total keys")
check(j["total"]["predictive"]["ticks"] == 3600, "ticks summed")
check(j["total"]["oracle"]["mem_pressure_s"] == 0, "oracle never pressed")
check(len(j["goals"]) == 7, "goals listed")
r = run("--compare", *traces)
check("TOTAL" in r.stdout and "oracle" in r.stdout and "goals" in r.stdout, "table")

# Errors: file:line, clear messages, JSON error object, exit status 1.
bad = os.path.join(out, "bad.csv")
with open(bad, "w") as f:
    f.write("time_s,mem_used_mb,cpu_demand_vcpus\n0,100,1\n1,-3,1\n")
r = run(bad)
check(r.returncode == 1 and bad + ":3: negative mem_used_mb '-3'" in r.stderr, "bad row: " + r.stderr)
r = run("--json", bad)
check(r.returncode == 1 and "negative" in json.loads(r.stdout)["error"], "json error")
r = run("--policy", "magic", hand)
check(r.returncode == 1 and "unknown policy 'magic'" in r.stderr, "unknown policy")
r = run("--mem-min", "5000", hand)
check(r.returncode == 1 and "bounds" in r.stderr, "bad bounds")
r = run("--mem-max", "12x", hand)
check(r.returncode == 1 and "bad number '12x'" in r.stderr, "bad number")
# The error names the option, also when its value is a separate argument.
check("'--mem-max'" in r.stderr, "bad number names the option: " + r.stderr)
r = run("--mem-max", str(1 << 40), "--mem-start", str(1 << 40), hand)
check(r.returncode == 1 and "bad number" in r.stderr, "memory bound above 1 PiB: " + r.stderr)
r = run("--log", log, hand, hand)
check(r.returncode == 1, "log with two traces")
r = run()
check(r.returncode == 1, "no trace")
r = run("--help")
check(r.returncode == 0 and "--policy" in r.stdout, "help")
print("ok")
