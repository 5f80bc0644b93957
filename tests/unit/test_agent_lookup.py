#!/usr/bin/env python3
"""'kvmpilot agent NAME' finds the domain's agent channel through libvirt
(the test driver, in-process: a node file with two channelled domains): the
agent's socket is used, not the other channel's; a domain without the channel,
an unknown domain and an unreachable URI each give their own error and exit 1."""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading

SRC = os.environ.get("KVMPILOT_SRC", os.path.abspath(os.path.join(os.path.dirname(__file__), "../..")))
KP = os.environ.get("KVMPILOT", os.path.join(SRC, "build", "kvmpilot"))

SAMPLE = ("KP1 sample seq=7 boot=9 ver=0.1.0 interval_ms=1000 mem_total_kb=4096 mem_avail_kb=1000 "
          "mem_free_kb=900 cpu_busy=1234 cpus_online=1 cpus_present=2\n")

DOMAIN = """<domain type='test'><name>%s</name><memory>1048576</memory><vcpu>1</vcpu>
<os><type>hvm</type></os><devices>%s</devices></domain>"""
CHANNEL = """<channel type='unix'><source mode='bind' path='%s'/>
<target type='virtio' name='%s'/></channel>"""


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def kp(*args):
    return subprocess.run([KP, "agent", *args], capture_output=True, text=True, timeout=20)


def serve_one_sample(path):
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(1)

    def run():
        c, _ = srv.accept()
        c.sendall(SAMPLE.encode())
        c.recv(1)
        c.close()
        srv.close()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def main():
    tmp = tempfile.mkdtemp(prefix="kp-lookup-")
    agent = os.path.join(tmp, "agent.sock")
    other = os.path.join(tmp, "other.sock")
    node = os.path.join(tmp, "node.xml")
    with open(node, "w") as f:
        f.write("<node>\n")
        # the other channel first: picking the first channel would take it
        f.write(DOMAIN % ("web1", CHANNEL % (other, "org.qemu.guest_agent.0") +
                          CHANNEL % (agent, "org.kvmpilot.agent.0")))
        f.write(DOMAIN % ("bare", ""))
        f.write("</node>\n")
    uri = "test://" + node

    t = serve_one_sample(agent)
    p = kp("web1", "--uri", uri, "--count", "1", "--json", "--timeout", "5")
    if p.returncode != 0:
        fail("agent web1: exit %d: %s" % (p.returncode, p.stderr))
    s = json.loads(p.stdout.splitlines()[0])
    if s.get("seq") != 7:
        fail("agent web1: not the sample served on the agent's socket: %r" % p.stdout)
    t.join(5)

    cases = [
        ("bare", uri, "domain 'bare' has no 'org.kvmpilot.agent.0' unix channel"),
        ("nope", uri, "no domain 'nope': "),
        ("web1", "bogus:///x", "cannot connect to 'bogus:///x': "),
    ]
    for name, u, want in cases:
        p = kp(name, "--uri", u, "--json")
        if p.returncode != 1:
            fail("agent %s at %s: exit %d, want 1" % (name, u, p.returncode))
        err = json.loads(p.stdout)["error"]
        if not err.startswith(want):
            fail("agent %s at %s: error %r, want %r..." % (name, u, err, want))
        p = kp(name, "--uri", u)
        if p.returncode != 1 or want not in p.stderr:
            fail("agent %s at %s (text): exit %d, stderr %r" % (name, u, p.returncode, p.stderr))
    print("ok")


if __name__ == "__main__":
    main()
