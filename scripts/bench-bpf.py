#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""BPF cost benchmark (make bench-bpf; not a test).

Runs 'kvmpilot stat' and an equivalent bpftrace program at the same time,
with kernel.bpf_stats_enabled, under a context-switch-heavy load (two
threads bouncing a byte over pipes): first untracked (plain threads), then
tracked (the same load dressed as a QEMU with two vCPU threads). Prints
ns/event per program from run_time_ns/run_cnt and the ratio to bpftrace.
Goals (issue 2, section 6): sched_switch <= 60 ns untracked, <= 150 ns tracked.
"""
import json
import os
import subprocess
import sys
import threading
import time

BUILD = os.environ.get("OUTPUT", "build")
KVMPILOT = os.path.join(BUILD, "kvmpilot")
PINGPONG = os.path.join(BUILD, "tests/bpf/pingpong")
PIN_ROOT = "/sys/fs/bpf/kvmpilot-bench-%d" % os.getpid()
SECONDS = float(os.environ.get("BENCH_SECONDS", "6"))
ROUNDS = 4
GOALS = {"untracked": 60, "tracked": 150}

# The same job as on_sched_switch: per-thread on-CPU time of vCPU threads.
# bpftrace cannot be fed kvmpilot's tracking tables, so it selects vCPU
# threads by name; every event pays one map lookup, like kvmpilot's.
BPFTRACE = r"""
tracepoint:sched:sched_switch
{
	$t = @on[args->prev_pid];
	if ($t) {
		@run[args->prev_pid] += nsecs - $t;
		delete(@on[args->prev_pid]);
	}
	if (strncmp(args->next_comm, "CPU ", 4) == 0) {
		@on[args->next_pid] = nsecs;
	}
}
"""


def progs():
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True,
                         check=True).stdout
    return {p["id"]: p for p in json.loads(out)}


def sample(ids):
    cur = progs()
    return {i: (cur[i].get("run_time_ns", 0), cur[i].get("run_cnt", 0)) for i in ids if i in cur}


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    sys.exit("bench: %s did not happen within %d s" % (what, timeout))


def main():
    if os.geteuid() != 0:
        sys.exit("bench: needs root")
    with open("/proc/sys/kernel/bpf_stats_enabled") as f:
        old_stats = f.read().strip()
    before = set(progs())
    procs = []
    try:
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write("1")
        stat = subprocess.Popen([KVMPILOT, "stat", "--json", "--interval", "1", "--pin-root",
                                 PIN_ROOT], stdout=subprocess.PIPE, text=True)
        procs.append(stat)
        # The first line comes once every program is loaded and attached.
        if not stat.stdout.readline():
            sys.exit("bench: kvmpilot stat failed")
        # Keep reading so stat never blocks on a full pipe (it rescans each second).
        threading.Thread(target=lambda: [None for _ in stat.stdout], daemon=True).start()
        # Ours are the programs using our pinned maps (other kvmpilots may run).
        our_maps = set()
        for name in os.listdir(PIN_ROOT):
            out = subprocess.run(["bpftool", "-j", "map", "show", "pinned",
                                  os.path.join(PIN_ROOT, name)], capture_output=True, text=True)
            if out.returncode == 0:
                our_maps.add(json.loads(out.stdout)["id"])
        ours = {i: p["name"] for i, p in progs().items()
                if i not in before and our_maps & set(p.get("map_ids", []))}
        seen = set(progs())
        bt = subprocess.Popen(["bpftrace", "-e", BPFTRACE], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
        procs.append(bt)
        theirs = wait_for(lambda: [i for i, p in progs().items()
                                   if i not in seen and p.get("type") == "tracepoint"
                                   and p.get("name") == "sched_switch"],
                          30, "loading the bpftrace program")[:1]
        sw = next(i for i, n in ours.items() if n == "on_sched_switch")
        ids = list(ours) + theirs
        rows = []
        for phase, args in (("untracked", []), ("tracked", ["--qemu"])):
            load = subprocess.Popen([PINGPONG] + args + [str(SECONDS + 3)],
                                    stdout=subprocess.PIPE, text=True)
            procs.append(load)
            time.sleep(2.5)  # stat rescans once a second: the tracked load is known by now
            # Best of ROUNDS windows: on a shared host, other work (and the
            # hypervisor) inflates some windows; the best is the program's cost.
            best = {}
            for _ in range(ROUNDS):
                s0 = sample(ids)
                time.sleep(SECONDS / ROUNDS)
                s1 = sample(ids)
                for i in ids:
                    dt = s1[i][0] - s0[i][0]
                    dn = s1[i][1] - s0[i][1]
                    if dn > 0 and (i not in best or dt / dn < best[i][1]):
                        best[i] = (dn, dt / dn)
            load.wait()
            for i, (dn, ns) in best.items():
                rows.append((phase, i, ours.get(i, "bpftrace sched_switch"), dn, ns))
        print()
        print("BPF program cost under a context-switch-heavy load, best of %d windows of %.1f s"
              % (ROUNDS, SECONDS / ROUNDS))
        print("%-10s %-28s %12s %10s %10s %8s" % ("threads", "program", "events/win", "ns/event",
                                                   "bpftrace", "ratio"))
        for phase in ("untracked", "tracked"):
            bt_ns = next((r[4] for r in rows if r[0] == phase and r[1] in theirs), None)
            for r in rows:
                if r[0] != phase:
                    continue
                ref = bt_ns if r[1] == sw else None
                print("%-10s %-28s %12d %10.1f %10s %8s" % (
                    phase, r[2], r[3], r[4], "%.1f" % ref if ref else "",
                    "%.2f" % (r[4] / ref) if ref else ""))
        print()
        for phase in ("untracked", "tracked"):
            ns = next(r[4] for r in rows if r[0] == phase and r[1] == sw)
            bt_ns = next(r[4] for r in rows if r[0] == phase and r[1] in theirs)
            print("sched_switch %-9s %6.1f ns/event (goal <= %d: %s; bpftrace %.1f: %s)" % (
                phase, ns, GOALS[phase], "met" if ns <= GOALS[phase] else "MISSED", bt_ns,
                "cheaper" if ns < bt_ns else "NOT cheaper"))
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write(old_stats)
        subprocess.run([KVMPILOT, "unpin", "--force", "--pin-root", PIN_ROOT],
                       stdout=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
