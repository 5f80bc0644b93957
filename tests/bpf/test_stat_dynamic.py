# SPDX-License-Identifier: GPL-2.0
"""'kvmpilot stat' follows the host while it runs: a QEMU that starts and
exits during the run is shown while it lives (with its last interval) and
then dropped; a vCPU thread hot-added later is picked up and measured
within 10%; stat itself keeps going and stops cleanly on SIGINT."""
import time

import os

from kptest import Fake, Stat, check, log, require_root, schedstat, threads, vm_of, within

require_root()
stat = Stat("--interval", "1", tag="dynamic")  # every QEMU on the host
stat.line()
a = Fake("--vcpus", "2", "--duty", "40,20,50", "--add-vcpu-after", "2.5", "--duration", "30",
         name="longlived")
lines, reports, sstats = [], [], []


def sample_schedstat(pid):
    """(monotonic time, {tid: run_ns}) of every thread, read right away."""
    out = {}
    t = time.monotonic()
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            out[int(tid)] = schedstat(pid, int(tid))[0]
        except OSError:
            pass
    return t, out


b = None
b_started = b_exited = None
for i in range(10):
    line = stat.line()
    lines.append(line)
    sstats.append(sample_schedstat(a.pid))
    reports.append(a.report())
    if i == 1:
        b = Fake("--vcpus", "1", "--duty", "30", "--duration", "4", name="shortlived")
        b_started = time.time()
    if b and b_exited is None and b.proc.poll() is not None:
        b_exited = time.time()
        b_report = b.stop()
stat_status = stat.stop()
a.stop()
check(b_exited is not None, "the short-lived QEMU exited during the run")
check(stat_status == 0, "stat stops cleanly on SIGINT (status %s)" % stat_status)

# The long-lived VM: in every line, the hot-added vCPU 2 appears later.
va = [vm_of(line, a.pid) for line in lines]
check(all(va[1:]), "the long-lived VM is in every interval after its start")
idx = [[c["index"] for c in v["vcpus"]] if v else None for v in va]
log("vCPU indexes per interval: %s" % idx)
check(idx[1] == [0, 1], "two vCPUs at first")
check(idx[-1] == [0, 1, 2], "the hot-added vCPU 2 is tracked at the end")
k0 = next(k for k in range(len(idx)) if idx[k] and 2 in idx[k])
tid2 = next(t["tid"] for t in threads(reports[-1], "vcpu") if t["index"] == 2)
# From the first report in which it is tracked for a whole interval to the
# end: stat's sum against the kernel's schedstat, read right after each line.
k1 = k0 + 1
measured = sum(next(c["run_ns"] for c in va[k]["vcpus"] if c["index"] == 2)
               for k in range(k1, len(lines)))
stat_s = sum(lines[k]["interval_s"] for k in range(k1, len(lines)))
(t0, s0), (t1, s1) = sstats[k0], sstats[-1]
truth = (s1[tid2] - s0[tid2]) * stat_s / (t1 - t0) if tid2 in s0 else 0
check(truth > 0, "hot-added vCPU ran for %.0f ms in fully tracked intervals" % (truth / 1e6))
within(measured, truth, 0.10, "hot-added vCPU 2 run_ns")
check(va[-1]["vcpus"][2]["tid"] == tid2, "vCPU 2 has the new thread's tid")

# The short-lived VM: shown while alive with its name and vCPU time, then gone.
vb = [vm_of(line, b.pid) for line in lines]
seen = [k for k, v in enumerate(vb) if v]
log("short-lived VM in intervals %s" % seen)
check(len(seen) >= 1, "the short-lived VM appears")
check(all(vb[k]["name"] == "shortlived" for k in seen), "with its name")
check(vb[-1] is None and vb[-2] is None, "and is dropped after it exits")
run_b = sum(vb[k]["vcpus"][0]["run_ns"] for k in seen if vb[k]["vcpus"])
truth_b = next(t["run_ns"] for t in threads(b_report, "vcpu"))
log("short-lived vCPU run: stat %d ns, truth over its life %d ns" % (run_b, truth_b))
# Rescans are 1 s apart, so up to ~1 s of its 4 s life precedes discovery.
check(run_b > 0.4 * truth_b, "its vCPU time is reported (incl. its last interval)")
check(run_b <= 1.1 * truth_b, "never more than it ran")

# Long intervals: a VM that starts and exits inside one 3 s interval is
# still reported for it (rescans run every second in between).
stat = Stat("--interval", "3", tag="dynamic-long")
stat.line()
c = Fake("--vcpus", "1", "--duty", "50", "--duration", "1.8", name="blink")
c_report = None
line = stat.line()
c_report = c.stop()
vc = vm_of(line, c.pid)
if vc is None:  # the interval boundary fell inside its life: look one further
    line = stat.line()
    vc = vm_of(line, c.pid)
stat.stop()
check(vc is not None and vc["name"] == "blink", "a VM living 1.8 s inside a 3 s interval is reported")
run_c = sum(x["run_ns"] for x in vc["vcpus"])
truth_c = next(t["run_ns"] for t in threads(c_report, "vcpu"))
log("blink vCPU run: stat %d ns, truth over its life %d ns" % (run_c, truth_c))
check(0 < run_c <= 1.1 * truth_c, "with the vCPU time it had while tracked")
