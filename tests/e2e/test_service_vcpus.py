# SPDX-License-Identifier: GPL-2.0
"""vCPUs, with the real service on a real guest.

'kvmpilot run' starts first; then the guest, with 1 online vCPU of 4. Once
the service reads its agent, the test tells it to keep one thread busy for
45 s (cpuburst), then it idles. During the burst the service
must give it another online vCPU (hot-add through libvirt, online through
the agent); after the burst the extra vCPU goes offline again. Every change
is in the action log with its reason.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2elib as E  # noqa: E402

NAME = "kp-e2e-cpu"


def test():
    E.require_commands("run")
    env = E.Env("cpu").use_test_image()
    svc = E.Service(vms=[NAME]).start()
    vm = env.create(NAME, "--workload", "idle", "--vcpus", "1", "--vcpus-max", "4")
    E.wait_until(lambda: ((svc.vm(NAME) or {}).get("memory") or {}).get("source") == "agent",
                 240, "the service to read %s's agent" % NAME)
    vm.control("cpuburst 1 45")
    vm.wait_console(r"kvmpilot-e2e: cpuburst start", timeout=60)
    burst_start = time.monotonic()
    trail = []

    def online():
        v = svc.vm(NAME) or {}
        a = v.get("allocation") or {}
        cpu = v.get("cpu") or {}
        st = vm.stats()
        trail.append((round(time.monotonic() - burst_start), a.get("vcpus"),
                      a.get("vcpus_online"), st.get("vcpu.current"), cpu.get("busy_pct"),
                      cpu.get("wait_pct")))
        return a.get("vcpus_online") or 0

    try:
        try:
            E.wait_until(lambda: online() >= 2, 45, "a second online vCPU during the burst",
                         interval=1)
        except AssertionError as e:
            # The policy rightly refuses while the host is contended: say so.
            waits = [r[5] for r in trail if r[5] is not None]
            raise AssertionError("%s; mean host run-queue wait %.0f%% (t, vcpus, online, "
                                 "libvirt, busy%%, wait%%): %s" % (
                                     e, sum(waits) / max(1, len(waits)), trail[-5:]))
        E.log("scaled up after %.0fs: %s" % (time.monotonic() - burst_start, trail[-1]))
        assert vm.stats().get("vcpu.current", 0) >= 2, "libvirt does not show the vCPU"
        # After the burst (45 s in), back to one online vCPU.
        E.wait_until(lambda: time.monotonic() - burst_start > 45 and online() == 1, 180,
                     "the extra vCPU to go offline after the burst", interval=1)
        E.log("scaled down at %.0fs: %s" % (time.monotonic() - burst_start, trail[-1]))
    finally:
        with open(os.path.join(E.TEST_OUT, "vcpus.csv"), "w") as f:
            f.write("t_s,vcpus,vcpus_online,libvirt_vcpu_current,busy_pct,wait_pct\n")
            for row in trail:
                f.write(",".join("" if x is None else str(x) for x in row) + "\n")

    acts = [a for a in svc.actions() if a.get("vm") == NAME and "vcpu" in a.get("what", "")]
    E.log("vCPU actions: %s" % [(a["from"], a["to"], a["reason"], a["result"]) for a in acts])
    assert any(a["to"] > a["from"] and a["result"].startswith("ok") for a in acts), acts
    assert any(a["to"] < a["from"] and a["result"].startswith("ok") for a in acts), acts
    for a in acts:
        assert a.get("reason"), "action without reason: %s" % a
    vm.assert_no_oom()


if __name__ == "__main__":
    E.main(test)
