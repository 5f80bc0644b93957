# SPDX-License-Identifier: GPL-2.0
"""Two kvmpilot on the default pin root: the second 'stat' (as when
'kvmpilot run' is up) does not share the maps, which would count every event
twice, but counts with a private pin root of its own that it removes at exit;
both report the same vCPU time for the same VM.

Runs in a mount namespace of its own with a fresh bpffs, so the host's
/sys/fs/bpf/kvmpilot (maybe in use) is never touched."""
import json
import os
import subprocess
import time

import sys

from kptest import KVMPILOT, Fake, check, fail, log, require_root, vm_of

require_root()
if os.environ.get("KVMPILOT_TEST_NS") != "1":
    res = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                          "mount -t bpf bpf /sys/fs/bpf && exec \"$@\"", "sh",
                          sys.executable] + sys.argv, env=dict(os.environ, KVMPILOT_TEST_NS="1"))
    sys.exit(res.returncode)
DEFAULT = "/sys/fs/bpf/kvmpilot"
if os.path.exists(DEFAULT):
    fail("a fresh bpffs was expected in this mount namespace")
env = dict(os.environ)
env.pop("KVMPILOT_PIN_ROOT", None)
fake = Fake("--vcpus", "1", "--duty", "40", "--duration", "30", name="shared")


def stat_default(count):
    return subprocess.Popen([KVMPILOT, "stat", "--json", "--pid", str(fake.pid), "--interval",
                             "2", "--count", str(count)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def vcpu_run(report):
    return next(t["run_ns"] for t in report["threads"] if t["role"] == "vcpu")


try:
    r0 = fake.report()
    first = stat_default(3)
    # Wait until the first one holds the folder (it prints nothing before 2 s).
    deadline = time.monotonic() + 10
    while not os.path.exists(DEFAULT + "/vcpus") and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    second = stat_default(1)
    out2, err2 = second.communicate(timeout=30)
    out1, err1 = first.communicate(timeout=30)
    r1 = fake.report()
    log("first: %s\nsecond: %s" % (err1.strip(), err2.strip()))
    check(first.returncode == 0 and second.returncode == 0, "both stat runs succeed")
    check("in use by another kvmpilot" in err2, "the second one says it uses its own maps")
    private = [p for p in os.listdir("/sys/fs/bpf") if p.startswith("kvmpilot-stat-")]
    check(private == [] or all(not p.endswith("-%d" % second.pid) for p in private),
          "the second one removed its private pin root")
    truth = (vcpu_run(r1) - vcpu_run(r0)) / (r1["time"] - r0["time"])
    for name, out in (("first", out1), ("second", out2)):
        lines = [json.loads(x) for x in out.splitlines()]
        rate = sum(vm_of(x, fake.pid)["vcpus"][0]["run_ns"] for x in lines) / \
            sum(x["interval_s"] for x in lines)
        log("%s: vCPU runs %.3f of a CPU, fakeqemu says %.3f" % (name, rate / 1e9, truth / 1e9))
        check(0.7 * truth <= rate <= 1.3 * truth, "%s stat: no double counting" % name)
finally:
    fake.stop()
