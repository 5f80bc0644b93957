#!/usr/bin/env python3
"""kvmpilot replay --host-mem: traces as the VMs of one host (issue 12, item 4).

The budget holds on every tick of the log, grants are causal (a trace's
future rows do not change earlier allocations), names, the --log format,
row-count mismatches, one VM equals single replay, and the baselines."""
import collections
import json
import os
import shutil
import subprocess
import sys

kv = os.environ.get("KVMPILOT", "build/kvmpilot")
out = os.environ.get("TEST_OUT", "/tmp")
src = os.environ.get("KVMPILOT_SRC", ".")
traces = os.path.join(src, "tests/data/traces")


def run(*args):
    return subprocess.run([kv, "replay", *args], capture_output=True, text=True, timeout=120)


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)


def read_log(path):
    with open(path) as f:
        rows = f.read().splitlines()
    check(rows[0] == "time_s,vm,alloc_mb,vcpus", "log header %r" % rows[0])
    return [r.split(",") for r in rows[1:]]


def per_tick(rows):
    t = collections.defaultdict(list)
    for time_s, vm, alloc, vcpus in rows:
        t[int(time_s)].append((vm, int(alloc), int(vcpus)))
    return t


names = ["memhog_1", "bursts_4", "steps_10", "memhog_1"]
paths = [os.path.join(traces, n + ".csv") for n in names]

# The budget holds at every tick, with a vCPU budget too; names get #2 on repeats.
log = os.path.join(out, "host.csv")
r = run("--host-mem", "6000", "--host-vcpus", "6", "--log", log, "--json", *paths)
check(r.returncode == 0, "host run: " + r.stderr)
j = json.loads(r.stdout)
check([v["vm"] for v in j["vms"]] == ["memhog_1", "bursts_4", "steps_10", "memhog_1#2"],
      "names %r" % [v["vm"] for v in j["vms"]])
check(j["policy"] == "predictive+arbiter", "policy %r" % j["policy"])
tot = j["total"]
check(tot["over_budget_ticks"] == 0, "over budget %r" % tot)
check(tot["ticks"] == 4 * 1800, "VM-ticks summed")
check(tot["host_vm_pressure_s"] == sum(v["scores"]["mem_pressure_s"] for v in j["vms"]),
      "host_vm_pressure_s is the VMs' pressure summed")
rows = read_log(log)
check(len(rows) == 4 * 1800, "one row per VM per tick: %d" % len(rows))
ticks = per_tick(rows)
check(sorted(ticks) == list(range(1800)), "every tick")
check([vm for vm, _, _ in ticks[0]] == ["memhog_1", "bursts_4", "steps_10", "memhog_1#2"],
      "log names")
check(all(a == 1024 and c == 1 for _, a, c in ticks[0]), "start min(1024, 6000/4), 1 vCPU")
check(max(sum(a for _, a, _ in v) for v in ticks.values()) <= 6000, "memory budget held")
check(max(sum(c for _, _, c in v) for v in ticks.values()) <= 6, "vCPU budget held")
check(any(sum(a for _, a, _ in v) > 5500 for v in ticks.values()), "the budget is used")
check(all(256 <= a <= 4096 and 1 <= c <= 4 for v in ticks.values() for _, a, c in v),
      "bounds")

# Causality: changing one trace's rows from tick 900 on changes nothing before 901.
changed = os.path.join(out, "bursts_4.csv")
with open(paths[1]) as f:
    lines = f.read().splitlines()
for i in range(901, len(lines)):
    t, m, c = lines[i].split(",")
    lines[i] = "%s,%s,%s" % (t, "3900", "4")
with open(changed, "w") as f:
    f.write("\n".join(lines) + "\n")
log2 = os.path.join(out, "host2.csv")
r = run("--host-mem", "6000", "--host-vcpus", "6", "--log", log2,
        paths[0], changed, paths[2], paths[3])
check(r.returncode == 0, r.stderr)
t2 = per_tick(read_log(log2))
check(all(t2[t] == ticks[t] for t in range(901)), "allocations up to tick 900 unchanged")
check(any(t2[t] != ticks[t] for t in range(901, 1800)), "the change is seen later")

# Traces of different lengths are refused.
short = os.path.join(out, "short.csv")
with open(short, "w") as f:
    f.write("\n".join(lines[:101]) + "\n")
r = run("--host-mem", "6000", paths[0], short)
check(r.returncode == 1, "length mismatch refused")
check("same length" in r.stderr and "short" in r.stderr and "100 rows" in r.stderr,
      "mismatch message: " + r.stderr)
r = run("--host-mem", "6000", "--json", paths[0], short)
check(r.returncode == 1 and "same length" in r.stdout + r.stderr, "mismatch as JSON")

# A budget that cannot hold the VMs' minimums, bad numbers, unknown policies.
r = run("--host-mem", "500", paths[0], paths[1])
check(r.returncode == 1 and "cannot hold 2 VMs" in r.stderr, r.stderr)
r = run("--host-mem", "lots", paths[0])
check(r.returncode == 1 and "--host-mem" in r.stderr, r.stderr)
r = run("--host-mem", "4096", "--policy", "nope", paths[0])
check(r.returncode == 1 and "proxmox" in r.stderr, r.stderr)

# One VM with room for its maximum is single replay, score for score.
r = run("--host-mem", "4096", "--json", paths[0])
check(r.returncode == 0, r.stderr)
host = json.loads(r.stdout)["vms"][0]["scores"]
r = run("--json", paths[0])
single = json.loads(r.stdout)["traces"][0]["scores"]
check(host == single, "one VM: %r vs %r" % (host, single))

# static: host_mem / n each (within the bounds), forever.
r = run("--host-mem", "5000", "--policy", "static", "--log", log, *paths[:3])
check(r.returncode == 0, r.stderr)
check({(a, c) for _, _, a, c in read_log(log)} == {("1666", "1")}, "static partition")
r = run("--host-mem", "20000", "--policy", "static", "--log", log, paths[0])
check({a for _, _, a, _ in read_log(log)} == {"4096"}, "static within the bounds")

# The peers: every 10 s at most (MOM 5% of the balloon, Proxmox 100 MiB), vCPUs untouched.
for peer, step in (("mom", None), ("proxmox", 100)):
    r = run("--host-mem", "6000", "--policy", peer, "--log", log, "--json", *paths)
    check(r.returncode == 0, peer + ": " + r.stderr)
    check(json.loads(r.stdout)["policy"] == peer, "policy name")
    t = per_tick(read_log(log))
    moved = False
    for s in range(1, 1800):
        for (vm, a, c), (_, b, _) in zip(t[s - 1], t[s]):
            check(c == 1, peer + " vCPUs")
            if a != b:
                moved = True
                check(s % 10 == 1, "%s moves only after its 10 s cycle (tick %d)" % (peer, s))
                if step:
                    check(abs(a - b) <= step, "proxmox step %d" % (b - a))
                else:
                    check(b >= a or a - b <= 0.05 * a + 1, "mom shrinks by 5%% at most: %d" % (b - a))
                    check(b <= 4096, "mom within the maximum")
    check(moved, peer + " moves memory")

# The plain replay's help names the host mode; the host mode has its own.
r = run("--help")
check(r.returncode == 0 and "--host-mem MIB" in r.stdout, "replay --help")
r = run("--host-mem", "4096", "--help")
check(r.returncode == 0 and "--host-vcpus N" in r.stdout and "proxmox" in r.stdout, r.stdout)

# Text output: one row per VM, the total and the host line.
r = run("--host-mem", "6000", *paths)
check(r.returncode == 0, r.stderr)
check("host: predictive+arbiter, 4 VMs, budget 6000 MiB: over_budget_ticks 0" in r.stdout,
      r.stdout)
check(r.stdout.count("memhog_1") == 2, "both memhog rows")
print("ok")
