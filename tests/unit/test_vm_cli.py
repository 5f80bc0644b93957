#!/usr/bin/env python3
"""'kvmpilot vm' against libvirt's in-process test driver (test:///default, no
daemon; each command starts from the driver's fresh state): create goes
through pool, base volume, overlay, define and start and prints its one line;
the state folder gets the image copies and the channel folders; refused
options exit 2 with their reason, libvirt failures exit 1; list shows the
driver's own domain as not kvmpilot's; destroy will not touch it."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

SRC = os.environ.get("KVMPILOT_SRC", os.path.abspath(os.path.join(os.path.dirname(__file__), "../..")))
KP = os.environ.get("KVMPILOT", os.path.join(SRC, "build", "kvmpilot"))
URI = "test:///default"


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def vm(*args, env=None):
    p = subprocess.run([KP, "vm", *args], capture_output=True, text=True, timeout=60, env=env)
    return p.returncode, p.stdout, p.stderr


def expect(args, rc, out="", err="", env=None):
    got_rc, got_out, got_err = vm(*args, env=env)
    if got_rc != rc or out not in got_out or err not in got_err:
        fail("vm %s: exit %d (want %d)\nstdout %r (want %r)\nstderr %r (want %r)" %
             (" ".join(args), got_rc, rc, got_out, out, got_err, err))
    return got_out


def main():
    tmp = tempfile.mkdtemp(prefix="kp-vm-")
    img = os.path.join(tmp, "img")
    state = os.path.join(tmp, "st")
    os.mkdir(img)
    for f in ("vmlinuz", "initramfs.gz"):
        with open(os.path.join(img, f), "w") as fh:
            fh.write(f)
    env = dict(os.environ, KVMPILOT_POOL_DIR=os.path.join(state, "pool"))
    common = ["--uri", URI, "--state-dir", state, "--image-dir", img]

    rc, out, err = vm("create", "web1", *common, "--memory", "256", "--memory-max", "1024",
                      "--vcpus", "2", "--vcpus-max", "3", "--workload", "memhog",
                      "--channel", "org.qemu.guest_agent.0", env=env)
    if rc != 0 and "Operation not permitted" in err:
        print("needs to create folders owned by libvirt-qemu (root)")
        sys.exit(77)
    want = ("started 'web1' (qemu, 256/1024 MiB, 2/3 vCPUs, workload 'memhog', tap 'kp-web1', "
            "disk '%s/pool/web1.qcow2', channel '%s/channels/web1.agent.sock', "
            "console '%s/console/web1.log')\n"
            "channel 'org.qemu.guest_agent.0': '%s/channels/web1/org.qemu.guest_agent.0.sock'\n"
            % (state, state, state, state))
    if rc != 0 or out != want:
        fail("create: exit %d\n%r\nwant\n%r\nstderr %r" % (rc, out, want, err))
    if "defined storage pool 'kvmpilot'" not in err:
        fail("create did not say it defined the pool: %r" % err)
    for f in ("images/vmlinuz", "images/initramfs.gz", "channels/web1", "console"):
        if not os.path.exists(os.path.join(state, f)):
            fail("create left no %s" % f)

    shutil.rmtree(state)
    expect(["create", "web2", *common, "--no-start"], 0, out="defined 'web2' (qemu, 512/2048 MiB, "
           "1/4 vCPUs, workload 'idle'", env=env)
    expect(["create", "test", *common], 1, err="domain 'test' already exists", env=env)
    expect(["create", "web3", "--uri", URI, "--state-dir", state, "--image-dir", tmp + "/none"], 1,
           err="cannot copy guest image file '%s/none/vmlinuz' (run 'make guest')" % tmp, env=env)

    refused = [
        (["create", "bad name"], "invalid VM name 'bad name'"),
        (["create", "x", "--memory", "4096", "--memory-max", "1024"], "--memory 4096 is above --memory-max 1024"),
        (["create", "x", "--disk-io", "native"], "--disk-io native needs --disk-cache none"),
        (["create", "x", "--memory", "10"], "invalid --memory MiB '10' (64 to 1048576)"),
        (["create", "x", "--workload", "foo"], "invalid workload 'foo'"),
        (["create", "x", "--virt-type", "foo"], "invalid --virt-type 'foo'"),
        (["create", "x", "--pool-dir", "rel"], "--pool-dir 'rel' must be an absolute path"),
        (["create", "x", "--state-dir", "/" + "a" * 60], "is too long (48 characters at most)"),
        (["create", "x", "--channel", "org.kvmpilot.agent.0"], "invalid --channel 'org.kvmpilot.agent.0'"),
        (["create", "x"] + ["--channel=c%d" % i for i in range(5)], "at most 4 --channel"),
        (["create"], "'vm create' takes exactly one NAME"),
        (["list", "extra"], "'vm list' takes no arguments"),
        (["frob"], "unknown 'vm' command 'frob'"),
    ]
    for args, why in refused:
        expect(args + ["--uri", URI], 2, err=why, env=env)
    expect(["create", "--help"], 0, out="Usage: kvmpilot vm create NAME [OPTIONS]")

    out = expect(["list", "--uri", URI], 0, out="NAME                     STATE      KVMPILOT")
    if not any(l.split()[:3] == ["test", "running", "no"] for l in out.splitlines()):
        fail("list: %r" % out)
    doms = json.loads(expect(["list", "--json", "--uri", URI], 0))
    if doms != [{"name": "test", "state": "running", "managed": False, "workload": None,
                 "memory_mib": 2048, "memory_max_mib": 8192, "vcpus": 2, "vcpus_max": 2,
                 "agent_channel": False}]:
        fail("list --json: %r" % doms)
    expect(["list", "--json", "--uri", "bogus:///x"], 1, out='{"error": "cannot connect to libvirt"}')
    expect(["destroy", "test", "--uri", URI, "--state-dir", state], 1, err="not created by kvmpilot")
    expect(["destroy", "nope", "--uri", URI, "--state-dir", state], 1, err="no VM 'nope'")
    expect(["pool-delete", "--uri", URI, "--state-dir", state], 0, out="no pool 'kvmpilot'")
    shutil.rmtree(tmp)
    print("ok")


if __name__ == "__main__":
    main()
