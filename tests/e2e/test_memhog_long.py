# SPDX-License-Identifier: GPL-2.0
# test-timeout: 2400
"""The prototype's own workload for a long while, as a user runs it (issue 11).

'kvmpilot run' starts first; then one guest is created as the README says,
--memory 512 --memory-max 2048 --vcpus 1 --vcpus-max 4 --workload memhog:
memory_hog at its defaults (500-1800 MB filled as fast as the guest can,
freed at 100 MB/s, restarted after 1 s) from boot, for ever. The test
watches it for KVMPILOT_MEMHOG_S seconds (default 600), then as long again
with two CPU burners on the host, judging only from what a user sees:

  - the guest console: no OOM kill, no kernel panic;
  - libvirt's `virsh dommemstat`, sampled every second: no swap, and the
    memory the guest does not use goes back to the host: the balloon grows
    and shrinks (KVMPILOT_MEMHOG_MOVES times each, 10 by default, per phase),
    or free page reporting keeps QEMU's resident memory (rss) at most
    RSS_SHARE of the allocation on average. The policy keeps room for
    memory_hog's recurring jumps (up to the whole 2048 MiB here), so the
    balloon moves little (8/8 and 10/10 in 2 x 600 s) while free page
    reporting returned about half of it (RSS 1034 of about 2000 MiB).

It prints the mean allocation (balloon actual), the mean guest demand
(MemTotal - MemAvailable, dommemstat's available - usable) and the mean QEMU
resident memory (dommemstat's rss) of each phase.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2elib as E  # noqa: E402

NAME = "kp-e2e-memhog-long"
MAX_MIB = 2048
DURATION_S = float(os.environ.get("KVMPILOT_MEMHOG_S", "600"))
MOVES_MIN = int(os.environ.get("KVMPILOT_MEMHOG_MOVES", "10"))
# A balloon change smaller than this between two samples is not a move.
MOVE_MIB = 4
# Free page reporting returns what the guest frees: QEMU's rss at most this
# share of the allocation on average counts as memory given back.
RSS_SHARE = 0.75


def dommemstat(name):
    """virsh dommemstat NAME -> {'actual': KiB, 'rss': KiB, ...}."""
    rc, out, _ = E.run_lv(["virsh", "-c", E.URI, "dommemstat", name], check=False,
                          quiet=True, timeout=30)
    d = {}
    if rc != 0:
        return d
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                d[parts[0]] = int(parts[1])
            except ValueError:
                pass
    return d


def moves(actual_mib):
    """Grows and shrinks of the balloon: runs of samples moving one way."""
    grows = shrinks = 0
    last_dir = 0
    for a, b in zip(actual_mib, actual_mib[1:]):
        d = b - a
        direction = 1 if d > MOVE_MIB else -1 if d < -MOVE_MIB else 0
        if direction and direction != last_dir:
            if direction > 0:
                grows += 1
            else:
                shrinks += 1
        last_dir = direction
    return grows, shrinks


def oom_lines(text):
    bad = ("Out of memory", "oom-kill", "Killed process", "Kernel panic")
    return [line for line in text.splitlines() if any(b in line for b in bad)]


def watch(vm, phase, seconds):
    """Sample dommemstat every second for seconds; the phase's figures."""
    rows = []  # (t, actual MiB, demand MiB, rss MiB, swap_in, swap_out)
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        t0 = time.monotonic()
        m = dommemstat(vm.name)
        if "actual" in m:
            demand = (m["available"] - m["usable"]) / 1024.0 if "usable" in m and \
                "available" in m else None
            rows.append((t0 - start, m["actual"] / 1024.0, demand, m.get("rss", 0) / 1024.0,
                         m.get("swap_in", 0), m.get("swap_out", 0)))
        bad = oom_lines(vm.console())
        assert not bad, "%s: %s: OOM in the guest console after %.0f s:\n%s" % (
            phase, vm.name, time.monotonic() - start, "\n".join(bad[:10]))
        time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
    assert len(rows) >= seconds / 2, "%s: only %d dommemstat samples in %.0f s" % (
        phase, len(rows), seconds)
    actual = [r[1] for r in rows]
    demand = [r[2] for r in rows if r[2] is not None]
    rss = [r[3] for r in rows if r[3] > 0]
    grows, shrinks = moves(actual)
    res = {
        "phase": phase,
        "samples": len(rows),
        "mean_alloc_mib": sum(actual) / len(actual),
        "mean_demand_mib": sum(demand) / len(demand) if demand else float("nan"),
        "mean_rss_mib": sum(rss) / len(rss) if rss else float("nan"),
        "max_alloc_mib": max(actual),
        "min_alloc_mib": min(actual),
        "grows": grows,
        "shrinks": shrinks,
        "swap_in": rows[-1][4] - rows[0][4],
        "swap_out": rows[-1][5] - rows[0][5],
        "memhog_runs": vm.console().count("memhog exited"),
    }
    E.log("%s: %s" % (phase, " ".join(
        "%s=%s" % (k, ("%.0f" % v) if isinstance(v, float) else v) for k, v in res.items())))
    with open(os.path.join(E.TEST_OUT, "%s.csv" % phase), "w") as f:
        f.write("t_s,actual_mib,demand_mib,rss_mib,swap_in,swap_out\n")
        for r in rows:
            f.write(",".join("" if x is None else "%.1f" % x for x in r) + "\n")
    return res


def burners(n):
    """n host processes spinning on a CPU each; killed at cleanup."""
    procs = []
    for _ in range(n):
        p = subprocess.Popen(["sh", "-c", "while :; do :; done"])
        procs.append(p)
        E.cleanup.push("kill burner %d" % p.pid, p.kill)
    return procs


def test():
    E.require_commands("run")
    env = E.Env("memhog-long").use_test_image()
    svc = E.Service(vms=[NAME]).start()
    vm = env.create(NAME, "--workload", "memhog", "--memory", "512", "--memory-max",
                    str(MAX_MIB), "--vcpus", "1", "--vcpus-max", "4")
    E.wait_until(lambda: (svc.vm(NAME) or {}).get("memory", {}).get("source") == "agent",
                 240, "the service to read %s's agent" % NAME)
    vm.wait_console(r"workload memhog", timeout=120)

    results = [watch(vm, "alone", DURATION_S)]
    procs = burners(2)
    try:
        results.append(watch(vm, "two-burners", DURATION_S))
    finally:
        for p in procs:
            p.kill()
            p.wait()

    acts = [a for a in svc.actions() if a.get("vm") == NAME and "mem" in a.get("what", "")]
    jumps = [a for a in acts if "jump" in a.get("reason", "")]
    E.log("%d memory actions, %d for a recurring jump; last: %s" % (
        len(acts), len(jumps), [(a["from"], a["to"], a["reason"]) for a in acts[-5:]]))
    vm.save_console()
    for r in results:
        print("%-12s mean allocation %5.0f MiB, mean guest demand %5.0f MiB, mean QEMU RSS "
              "%5.0f MiB; balloon %d grows, %d shrinks; %d memory_hog runs" % (
                  r["phase"], r["mean_alloc_mib"], r["mean_demand_mib"], r["mean_rss_mib"],
                  r["grows"], r["shrinks"], r["memhog_runs"]))
    for r in results:
        assert r["swap_in"] == 0 and r["swap_out"] == 0, "%s: the guest swapped: %s" % (
            r["phase"], r)
        assert r["max_alloc_mib"] <= MAX_MIB + 1, r
        moved = r["grows"] >= MOVES_MIN and r["shrinks"] >= MOVES_MIN
        returned = r["mean_rss_mib"] <= RSS_SHARE * r["mean_alloc_mib"]
        assert moved or returned, (
            "%s: memory not given back: the balloon grew %d and shrank %d times (at least %d "
            "each expected) and QEMU's mean rss is %.0f of %.0f MiB allocated (at most %.0f%% "
            "expected)" % (r["phase"], r["grows"], r["shrinks"], MOVES_MIN, r["mean_rss_mib"],
                          r["mean_alloc_mib"], 100 * RSS_SHARE))
    assert not oom_lines(vm.console()), "OOM in the console"


if __name__ == "__main__":
    E.main(test)
