# SPDX-License-Identifier: GPL-2.0
"""kvmpilot vm on the real libvirtd: create a TCG (or KVM) guest from the
image of 'make guest', check the XML libvirt stored, the storage (overlay on
the shared base in the pool), the tap, the channel socket and the console;
attach-agent on a bare domain; destroy leaves nothing behind; bad input is
refused before anything is created."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import e2elib as E  # noqa: E402


def check_bad_input(env):
    for args, why in (
        (["vm", "create", "kp-e2e-bad name"], "space in name"),
        (["vm", "create", "../kp-e2e-x"], "path in name"),
        (["vm", "create", "kp-e2e-x'"], "quote in name"),
        (["vm", "create", "kp-e2e-x", "--memory", "4096", "--memory-max", "2048"], "mem"),
        (["vm", "create", "kp-e2e-x", "--vcpus", "5", "--vcpus-max", "4"], "vcpus"),
        (["vm", "create", "kp-e2e-x", "--disk-io", "native"], "native without cache none"),
        (["vm", "create", "kp-e2e-x", "--workload", "rm"], "workload"),
        (["vm", "create", "kp-e2e-x", "--workload-args", "init=/bin/sh;x"], "cmdline"),
        (["vm", "create", "kp-e2e-x", "--ip", "10.0.0.300/24"], "ip"),
        (["vm", "create", "kp-e2e-x", "--channel", "a/b"], "channel name with a slash"),
        (["vm", "create", "kp-e2e-x", "--channel", "org.kvmpilot.agent.0"], "the agent's name"),
    ):
        rc, out, err = E.kp(*args, *env.common(), check=False)
        assert rc == 2, "%s: expected exit 2, got %d (%s%s)" % (why, rc, out, err)
        assert "invalid" in err or "above" in err or "needs" in err, (why, err)
    assert not E.domain_exists("kp-e2e-x"), "a refused create left a domain"


def test():
    env = E.Env("prov")
    check_bad_input(env)

    name = "kp-e2e-prov"
    vm = env.create(name, "--memory", "384", "--memory-max", "1024", "--vcpus", "1",
                    "--vcpus-max", "3", "--workload", "idle", "--disk-cache", "none",
                    "--disk-io", "native", "--ip", "10.213.7.2/24", "--host-ip",
                    "10.213.7.1/24", "--channel", "org.qemu.guest_agent.0")
    qga = "%s/channels/%s/org.qemu.guest_agent.0.sock" % (env.state, name)
    # A slow libvirt is named, not waited on in silence (seconds: see README,
    # "Troubleshooting").
    if vm.create_seconds >= 5:
        assert re.search(r"(connecting to libvirt|preparing storage|defining the domain|"
                         r"starting the domain) took [0-9.]+ s", vm.create_err), vm.create_err

    # What libvirt stored (persistent config).
    xml = E.dumpxml(name, inactive=True)
    kvm = os.path.exists("/dev/kvm") and re.search(r"\b(vmx|svm)\b", open(
        "/proc/cpuinfo").read())
    assert re.search(r"<domain type='%s'" % ("kvm" if kvm else "qemu"), xml), xml[:200]
    assert "<memory unit='KiB'>1048576</memory>" in xml
    assert "<currentMemory unit='KiB'>393216</currentMemory>" in xml
    assert re.search(r"<vcpu placement='static' current='1'>3</vcpu>", xml)
    assert "<target dev='kp-kp-e2e-prov' managed='yes'/>" in xml
    assert "<model type='virtio'/>" in xml
    assert "<driver name='qemu' type='qcow2' cache='none' io='native'/>" in xml
    assert "<source mode='bind' path='%s'/>" % vm.channel_path in xml
    assert "<target type='virtio' name='org.kvmpilot.agent.0'/>" in xml
    assert re.search(r"<source mode='bind' path='%s'/>\s*"
                     r"<target type='virtio' name='org.qemu.guest_agent.0'/>" % re.escape(qga),
                     xml), xml
    # PSI is off in Debian's kernel unless asked for: the policy reads it.
    assert re.search(r"<cmdline>[^<]*\bpsi=1\b[^<]*kvmpilot\.workload=", xml), xml
    assert "<stats period='1'/>" in xml
    assert "kvmpilot.workload=idle kvmpilot.ip=10.213.7.2/24" in xml
    assert "<serial type='file'>" in xml and vm.console_path in xml
    uuid = re.search(r"<uuid>([^<]+)</uuid>", xml).group(1)

    # Live: the overlay is backed by the shared base volume of the pool.
    live = E.dumpxml(name)
    assert re.search(r"<backingStore type='file'[^>]*>\s*<format type='qcow2'/>\s*"
                     r"<source file='%s/pool/kvmpilot-base.qcow2'/>" % re.escape(env.state),
                     live), live
    _, vols, _ = E.run_lv(["virsh", "-c", E.URI, "vol-list", env.pool], quiet=True)
    assert "kvmpilot-base.qcow2" in vols and name + ".qcow2" in vols, vols
    _, info, _ = E.run(["qemu-img", "info", "-U", "--output=json",
                        "%s/pool/%s.qcow2" % (env.state, name)], quiet=True)
    assert json.loads(info)["backing-filename"].endswith("/kvmpilot-base.qcow2"), info

    # The guest boots: its kernel prints on the console log, the tap exists
    # with the host address, the channel socket is there.
    vm.wait_console(r"Linux version", timeout=60)
    _, ipout, _ = E.run(["ip", "-o", "addr", "show", "dev", vm.tap], quiet=True)
    assert "10.213.7.1/24" in ipout, ipout
    assert os.path.exists(vm.channel_path)
    assert os.path.exists(qga)

    # list shows it as ours.
    _, out, _ = E.kp("vm", "list", "--json")
    mine = [d for d in json.loads(out) if d["name"] == name]
    assert mine and mine[0]["managed"] and mine[0]["workload"] == "idle", out
    assert mine[0]["state"] == "running" and mine[0]["vcpus_max"] == 3, mine
    assert mine[0]["memory_max_mib"] == 1024 and mine[0]["agent_channel"], mine

    # Creating it again is refused and leaves the running one alone.
    rc, _, err = E.kp("vm", "create", name, *env.common(), check=False)
    assert rc != 0 and "already exists" in err, err
    assert E.run_lv(["virsh", "-c", E.URI, "domstate", name], quiet=True)[1].strip() == "running"

    # Destroy: nothing left (domain, overlay, socket, console, tap).
    vm.destroy()
    assert not E.domain_exists(name)
    _, vols, _ = E.run_lv(["virsh", "-c", E.URI, "vol-list", env.pool], quiet=True)
    assert name + ".qcow2" not in vols and "kvmpilot-base.qcow2" in vols, vols
    assert not os.path.exists(vm.channel_path)
    assert not os.path.exists(os.path.dirname(qga)), "destroy left the --channel sockets"
    assert not os.path.exists(vm.console_path)
    assert E.run(["ip", "link", "show", vm.tap], check=False, quiet=True)[0] != 0
    rc, _, err = E.kp("vm", "destroy", name, *env.common(), check=False)
    assert rc != 0 and "no VM" in err, err

    # The same name defined again gets the same identity.
    vm2 = env.create(name, "--no-start")
    assert re.search(r"<uuid>%s</uuid>" % uuid, E.dumpxml(name, inactive=True))
    vm2.destroy()

    # attach-agent on a bare domain the user brought (no controller, no channel).
    bare = "kp-e2e-bare"
    bare_xml = os.path.join(E.TEST_OUT, "bare.xml")
    with open(bare_xml, "w") as f:
        f.write("<domain type='qemu'><name>%s</name><memory unit='MiB'>128</memory>"
                "<os><type arch='x86_64'>hvm</type></os></domain>" % bare)
    E.cleanup.push("undefine " + bare, E.run_lv,
                   ["virsh", "-c", E.URI, "undefine", bare], False)
    E.run_lv(["virsh", "-c", E.URI, "define", bare_xml])
    rc, _, err = E.kp("vm", "destroy", bare, *env.common(), check=False)
    assert rc != 0 and "not created by kvmpilot" in err, err
    assert E.domain_exists(bare), "destroy removed a domain kvmpilot did not create"
    assert "org.kvmpilot.agent.0" not in E.dumpxml(bare, inactive=True)
    E.kp("vm", "attach-agent", bare, *env.common())
    x = E.dumpxml(bare, inactive=True)
    assert "<controller type='virtio-serial'" in x, x
    assert re.search(r"<source mode='bind' path='%s/channels/%s.agent.sock'/>\s*"
                     r"<target type='virtio' name='org.kvmpilot.agent.0'/>"
                     % (re.escape(env.state), bare), x), x
    _, out, _ = E.kp("vm", "attach-agent", bare, *env.common())
    assert "already has" in out
    assert x.count("org.kvmpilot.agent.0") == 1
    E.run_lv(["virsh", "-c", E.URI, "undefine", bare])

    # The pool goes away with its base once empty.
    E.kp("vm", "pool-delete", *env.common())
    assert E.run_lv(["virsh", "-c", E.URI, "pool-info", env.pool], check=False,
                 quiet=True)[0] != 0
    assert not os.path.exists(env.state + "/pool")


if __name__ == "__main__":
    E.main(test)
