# SPDX-License-Identifier: GPL-2.0
"""Faults, with the real service on real guests.

'kvmpilot run' starts first, then three guests, created in parallel:
  kp-e2e-f-a    idle; once the service reads it, its agent is frozen
                (SIGSTOP): the balloon-statistics fallback takes over; then
                thawed: the agent again
  kp-e2e-f-b    idle; destroyed mid-run: it disappears cleanly
  kp-e2e-f-g    no agent; told to write garbage on its agent channel:
                ignored, counted, the service goes on
Then libvirtd is restarted mid-run (the service reconnects and goes on), and
the service is SIGKILLed and started again: the pinned BPF counters continue
and no VM is left with a half-applied action.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2elib as E  # noqa: E402

A, B, G = "kp-e2e-f-a", "kp-e2e-f-b", "kp-e2e-f-g"


def source(svc, name):
    return ((svc.vm(name) or {}).get("memory") or {}).get("source")


def rejected_count(svc, name):
    """Lines the service rejected from this VM's channel, from /metrics."""
    return svc.metric("kvmpilot_agent_rejected_lines_total", domain=name)


def test():
    E.require_commands("run")
    env = E.Env("flt").use_test_image()
    svc = E.Service(vms=[A, B, G], global_opts={"agent_timeout_s": 5}).start()
    pid = svc.proc.pid
    a, b, g = env.create_many([
        (A, ["--workload", "idle"]),
        (B, ["--workload", "idle"]),
        (G, ["--workload", "idle", "--workload-args", "kvmpilot.agent=off"]),
    ])

    E.wait_until(lambda: source(svc, A) == "agent" and source(svc, B) == "agent", 240,
                 "agent samples from %s and %s in the API" % (A, B))
    E.wait_until(lambda: svc.vm(G), 60, "%s in the API" % G)

    # Garbage: counted, never taken as a sample.
    g.control("garbage")
    g.wait_console(r"kvmpilot-e2e: garbage on", timeout=60)
    n = E.wait_until(lambda: (rejected_count(svc, G) or 0) > 0 and rejected_count(svc, G), 60,
                     "rejected lines from %s counted in /metrics" % G)
    E.log("%s: %s rejected lines so far" % (G, n))
    assert source(svc, G) != "agent", svc.vm(G)
    assert svc.proc.poll() is None

    # A silent agent: the balloon statistics take over, and give way again.
    a.control("agent_stop")
    a.wait_console(r"kvmpilot-e2e: agent stopped", timeout=60)
    E.wait_until(lambda: source(svc, A) == "balloon", 60,
                 "%s to fall back to balloon statistics" % A)
    age = (svc.vm(A)["memory"] or {}).get("age_s")
    E.log("%s fell back to balloon statistics (age %s)" % (A, age))
    a.control("agent_cont")
    a.wait_console(r"kvmpilot-e2e: agent continued", timeout=60)
    E.wait_until(lambda: source(svc, A) == "agent", 60, "%s's agent to be used again" % A)

    # libvirtd restarts under the service.
    t_before = svc.vm(A)["time"]
    E.restart_libvirtd()
    E.wait_until(lambda: (svc.health().get("libvirt") or {}).get("connected"), 180,
                 "the service to reconnect to libvirtd")
    E.wait_until(lambda: svc.vm(A) and svc.vm(A)["time"] > t_before + 5, 60,
                 "fresh data for %s after the reconnect" % A)
    assert svc.proc.pid == pid and svc.proc.poll() is None

    # A VM destroyed mid-run disappears cleanly.
    b.destroy()
    E.wait_until(lambda: svc.vm(B) is None, 60, "%s to disappear from the API" % B)
    assert svc.proc.poll() is None and svc.vm(A)

    # SIGKILL and start again: pinned counters continue.
    before = svc.metric("kvmpilot_vcpu_run_seconds_total", domain=A)
    assert before and before > 1.0, "vCPU run time of %s before the kill: %s" % (A, before)
    svc.kill()
    assert svc.proc.returncode == -9
    svc.start()
    E.wait_until(lambda: svc.vm(A), 120, "%s after the restart" % A)
    after = E.wait_until(lambda: svc.metric("kvmpilot_vcpu_run_seconds_total", domain=A), 60,
                         "the vCPU counters of %s after the restart" % A)
    E.log("%s vCPU run seconds: %.2f before SIGKILL, %.2f after the restart" % (
        A, before, after))
    assert after >= before, "counters went back: %.2f -> %.2f" % (before, after)

    # No half-applied action: libvirt's live vCPUs are all online in the
    # guest, and libvirt's balloon is what the service believes.
    def settled():
        v = svc.vm(A)
        st = a.stats()
        al = v.get("allocation") or {}
        return (al.get("vcpus_online") == st.get("vcpu.current") and
                abs((al.get("memory_mib") or 0) - st.get("balloon.current", 0) / 1024) < 2)
    E.wait_until(settled, 60, "%s's allocation to match libvirt after the restart" % A)
    for vm in (a, g):
        vm.assert_no_oom()


if __name__ == "__main__":
    E.main(test)
