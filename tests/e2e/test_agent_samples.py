# SPDX-License-Identifier: GPL-2.0
"""Agent samples arrive for each VM, and kvmpilot's libvirt view finds what
'kvmpilot vm create' made.

Three guests as in the demo (memhog, cpuburst, idle; 1 of 4 vCPUs online;
512 MiB growing up to 2048 MiB). From each agent channel socket: KP1 sample
lines, once a second, with consecutive sequence numbers and values that fit
the VM (MemTotal at most its maximum, 1 CPU online of 4 present). 'kvmpilot
domains --json' maps each VM to its QEMU pid, vCPU thread, tap, disk and
channel.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2elib as E  # noqa: E402

VMS = [("kp-e2e-ag-mem", "memhog"), ("kp-e2e-ag-cpu", "cpuburst"), ("kp-e2e-ag-idle", "idle")]


def parse_sample(line):
    words = line.split()
    assert len(words) >= 3 and words[0] == "KP1", "not a KP1 line: %r" % line
    if words[1] != "sample":
        return None
    kv = {}
    for w in words[2:]:
        k, _, v = w.partition("=")
        kv[k] = v
    return kv


def test():
    env = E.Env("ag")
    env.create_many([(name, ["--workload", workload, "--memory", "512", "--memory-max", "2048",
                             "--vcpus", "1", "--vcpus-max", "4"]) for name, workload in VMS])
    for vm in env.vms:
        t0 = time.monotonic()
        lines = E.read_channel_lines(vm.channel_path, 4, timeout=300)
        samples = [s for s in (parse_sample(ln) for ln in lines) if s]
        E.log("%s: %d samples after %.1fs: %s" % (vm.name, len(samples),
                                                 time.monotonic() - t0, lines[-1][:160]))
        assert len(samples) >= 3, lines
        seqs = [int(s["seq"]) for s in samples]
        assert all(b == a + 1 for a, b in zip(seqs, seqs[1:])), seqs
        last = samples[-1]
        total = int(last["mem_total_kb"])
        avail = int(last["mem_avail_kb"])
        assert 0 < total <= 2048 * 1024, last
        assert 0 <= avail <= total, last
        assert int(last["cpus_online"]) == 1, last
        assert int(last["cpus_present"]) in (1, 4), last

    # Once a second: 5 more lines take about 5 s (not 0.1, not 30).
    vm = env.vms[2]
    t0 = time.monotonic()
    lines = E.read_channel_lines(vm.channel_path, 6, timeout=60)
    dt = time.monotonic() - t0
    assert 3.0 <= dt <= 15.0, "6 lines in %.1fs" % dt

    _, out, _ = E.kp("domains", "--json")
    doms = {d["name"]: d for d in json.loads(out)["domains"]}
    for vm in env.vms:
        d = doms.get(vm.name)
        assert d, "%s missing from 'kvmpilot domains': %s" % (vm.name, sorted(doms))
        assert d["pid"] == E.qemu_pid(vm.name), d
        assert d["channel"] == vm.channel_path, d
        assert [t["name"] for t in d["taps"]] == [vm.tap], d
        assert d["disks"][0]["source"].endswith("/%s.qcow2" % vm.name), d
        assert len(d["vcpu_threads"]) == 1 and d["vcpu_threads"][0]["tid"] > 0, d
        assert d["max_memory_kib"] == 2048 * 1024 and d["max_vcpus"] == 4, d
        assert d["balloon_stats_period"] == 1, d
    # No service manages these guests: QEMU inflates the balloon to
    # currentMemory (512 MiB) after boot, which may well OOM-kill a large
    # memory_hog run. That is what test_service_memory prevents; here only
    # the guests without a memory hog must stay clear of the OOM killer.
    for vm, (_, workload) in zip(env.vms, VMS):
        if workload != "memhog":
            vm.assert_no_oom()


if __name__ == "__main__":
    E.main(test)
