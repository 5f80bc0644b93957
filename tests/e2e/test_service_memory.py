# SPDX-License-Identifier: GPL-2.0
"""Memory, with the real service on a real guest.

'kvmpilot run' starts first, as on a host; then the guest starts at 512 MiB
(maximum 2048 MiB). Once the service reads its agent, the test tells the
guest to run memory_hog: 700..900 MiB of random data, held 15 s, freed at
100 MiB/s. While it allocates, the balloon must grow
before the guest runs short (no OOM kill in the guest console); after it
frees, memory goes back to the host; the allocation never leaves
[floor, maximum]; every change is in the action log of the API with its
reason.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2elib as E  # noqa: E402

NAME = "kp-e2e-mem"
MAX_MIB = 2048


def test():
    E.require_commands("run")
    env = E.Env("mem").use_test_image()
    svc = E.Service(vms=[NAME]).start()
    vm = env.create(NAME, "--workload", "idle", "--memory", "512", "--memory-max",
                    str(MAX_MIB))
    v = E.wait_until(lambda: (svc.vm(NAME) or {}).get("memory", {}).get("source") == "agent"
                     and svc.vm(NAME), 240, "the service to read %s's agent" % NAME)
    E.log("service sees %s: %s" % (NAME, v["memory"]))

    series = []  # (t, balloon MiB from libvirt, API allocation, floor, guest used)
    start = time.monotonic()
    phase_peak_t = None
    console_marks = {}

    def sample():
        st = vm.stats()
        bal = st.get("balloon.current", 0) / 1024.0
        api = svc.vm(NAME) or {}
        alloc = (api.get("allocation") or {}).get("memory_mib")
        floor = (api.get("bounds") or {}).get("mem_floor_mib")
        used = (api.get("memory") or {}).get("guest_used_mib")
        series.append((time.monotonic() - start, bal, alloc, floor, used))
        text = vm.console()
        for mark in ("memhog start", "memhog done"):
            if mark not in console_marks and "kvmpilot-e2e: " + mark in text:
                console_marks[mark] = time.monotonic() - start
        return bal

    # Allocation: follow the memhog run until it is done (hold 15 s, free
    # ~9 s), at most 4 minutes.
    vm.control("memhog 700 900 15")
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and "memhog done" not in console_marks:
        sample()
        vm.assert_no_oom()
        time.sleep(1)
    assert "memhog start" in console_marks, "memhog never started:\n" + vm.console()[-2000:]
    assert "memhog done" in console_marks, "memhog never finished"
    # Only what came after memhog started counts: at boot the guest sees
    # its maximum until the balloon first reaches currentMemory.
    during = [s for s in series if s[0] >= console_marks["memhog start"]]
    assert during, "no sample after memhog started"
    peak = max(s[1] for s in during)
    phase_peak_t = [s[0] for s in during if s[1] == peak][0]
    E.log("balloon peak %.0f MiB at %.0fs (memhog %s)" % (peak, phase_peak_t, console_marks))
    assert peak >= 700, "the balloon never grew for a 700+ MiB allocation: peak %.0f" % peak

    # Memory goes back after memhog freed it.
    def shrunk():
        return sample() <= peak - 200
    E.wait_until(shrunk, 120, "the balloon to give memory back after memhog freed it",
                 interval=1)
    vm.assert_no_oom()

    # Never above the maximum nor below the floor the service reported.
    for t, bal, alloc, floor, used in series:
        assert bal <= MAX_MIB + 1, "%.0fs: balloon %.0f above maximum" % (t, bal)
        if floor is not None:
            assert bal >= floor - 1, "%.0fs: balloon %.0f below floor %.0f" % (t, bal, floor)
        assert bal >= 128, "%.0fs: balloon %.0f" % (t, bal)

    acts = [a for a in svc.actions() if a.get("vm") == NAME and "mem" in a.get("what", "")]
    E.log("%d memory actions: %s" % (len(acts), [(a["from"], a["to"], a["reason"])
                                               for a in acts][:10]))
    ups = [a for a in acts if a["to"] > a["from"] and a["result"].startswith("ok")]
    downs = [a for a in acts if a["to"] < a["from"] and a["result"].startswith("ok")]
    assert ups and downs, "expected memory actions up and down, got %s" % acts
    for a in acts:
        assert a.get("reason"), "action without reason: %s" % a
        assert not a.get("dry_run"), a
    with open(os.path.join(E.TEST_OUT, "series.csv"), "w") as f:
        f.write("t_s,balloon_mib,api_alloc_mib,floor_mib,guest_used_mib\n")
        for row in series:
            f.write(",".join("" if x is None else "%.1f" % x for x in row) + "\n")


if __name__ == "__main__":
    E.main(test)
