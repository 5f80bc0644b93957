#!/usr/bin/env python3
"""'kvmpilot agent --socket PATH' against a fake QEMU channel socket: samples
are printed (text and JSON), hostile guest lines are refused and reported,
set-cpus prints the ack and the following sample, a refused command exits 1,
a silent or missing channel gives a clear error."""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading

SRC = os.environ.get("KVMPILOT_SRC", os.path.abspath(os.path.join(os.path.dirname(__file__), "../..")))
KP = os.environ.get("KVMPILOT", os.path.join(SRC, "build", "kvmpilot"))

SAMPLE = ("KP1 sample seq=%d boot=9 ver=0.1.0 interval_ms=1000 mem_total_kb=%d mem_avail_kb=1000 "
          "mem_free_kb=900 cpu_busy=1234 cpus_online=%d cpus_present=2\n")


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def serve(path, script):
    """Accept one client and run script(conn) in a thread."""
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(1)

    def run():
        c, _ = srv.accept()
        try:
            script(c)
        finally:
            c.close()
            srv.close()
            os.unlink(path)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def kp(*args, timeout=20):
    return subprocess.run([KP, "agent", *args], capture_output=True, text=True, timeout=timeout)


def read_line(c):
    buf = b""
    while not buf.endswith(b"\n"):
        d = c.recv(1)
        if not d:
            break
        buf += d
    return buf.decode()


def main():
    d = tempfile.mkdtemp(prefix="kvmpilot-agent-cli.")
    path = os.path.join(d, "agent.sock")

    # Samples, with hostile lines in between that must not show up.
    def samples(c):
        c.sendall((SAMPLE % (1, 4096, 1)).encode())
        c.sendall(b"KP1 sample seq=2 boot=9 evil=1\n" + b"\x00\xff" * 10 + b"\n" + b"Z" * 5000 + b"\n")
        c.sendall((SAMPLE % (1, 9999, 1)).encode())  # replay: refused
        c.sendall((SAMPLE % (2, 8192, 1)).encode())
        read_line(c)  # wait for the client to go
    t = serve(path, samples)
    p = kp("--socket", path, "--count", "2", "--json")
    t.join(5)
    if p.returncode != 0:
        fail("samples: exit %d, %s" % (p.returncode, p.stderr))
    objs = [json.loads(l) for l in p.stdout.splitlines()]
    if [o["mem_total_kb"] for o in objs] != [4096, 8192]:
        fail("printed samples: %s" % p.stdout)
    if objs[0]["source"] != "agent" or objs[0]["vm"] != path or objs[0]["cpu_busy_pct"] != 12.34:
        fail("sample fields: %s" % objs[0])
    if "rejected" not in p.stderr:
        fail("hostile lines were not reported: %r" % p.stderr)

    # set-cpus: the ack, then one sample that shows it.
    def setcpus(c):
        c.sendall((SAMPLE % (1, 4096, 1)).encode())
        cmd = read_line(c).split()
        if cmd[:2] != ["KP1", "cmd"] or "op=set-cpus" not in cmd or "arg=2" not in cmd:
            c.sendall(b"unexpected\n")
            return
        cid = [f for f in cmd if f.startswith("id=")][0]
        c.sendall(("KP1 ack %s op=set-cpus rc=0 online=2 present=2\n" % cid).encode())
        c.sendall((SAMPLE % (2, 4096, 2)).encode())
        read_line(c)
    t = serve(path, setcpus)
    p = kp("--socket", path, "--set-cpus", "2", "--count", "1", "--json")
    t.join(5)
    objs = [json.loads(l) for l in p.stdout.splitlines()]
    if p.returncode != 0 or len(objs) != 2 or objs[0].get("rc") != 0 or objs[1]["cpus_online"] != 2:
        fail("set-cpus: exit %d %s %s" % (p.returncode, p.stdout, p.stderr))

    # A refused command exits 1 and says why.
    def refuse(c):
        cmd = read_line(c).split()
        cid = [f for f in cmd if f.startswith("id=")][0]
        c.sendall(("KP1 ack %s op=set-cpus rc=-34 online=1 present=2\n" % cid).encode())
        read_line(c)
    t = serve(path, refuse)
    p = kp("--socket", path, "--set-cpus", "3")
    t.join(5)
    if p.returncode != 1 or "rc=-34" not in p.stdout or "out of range" not in p.stdout:
        fail("refused set-cpus: exit %d %r" % (p.returncode, p.stdout))

    # A silent agent: a clear timeout, exit 1, JSON error.
    t = serve(path, lambda c: read_line(c))
    p = kp("--socket", path, "--count", "1", "--timeout", "1", "--json")
    t.join(5)
    if p.returncode != 1 or "timed out" not in json.loads(p.stdout)["error"]:
        fail("silent agent: exit %d %r" % (p.returncode, p.stdout))

    # No socket at all.
    p = kp("--socket", os.path.join(d, "missing.sock"), "--timeout", "1")
    if p.returncode != 1 or "No such file" not in p.stderr:
        fail("missing socket: exit %d %r" % (p.returncode, p.stderr))
    p = kp("--socket", path, "--set-cpus", "0")
    if p.returncode != 2:
        fail("--set-cpus 0 accepted")
    os.rmdir(d)
    print("ok")


if __name__ == "__main__":
    main()
