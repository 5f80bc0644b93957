#!/usr/bin/env python3
"""The static kvmpilot-agent binary on the host, in TCP mode (the fallback for
guests without the virtio-serial channel), reading fixture /proc and /sys
trees: samples arrive and parse, commands are acked, a hostile host line is
refused without harm, pause silences it, and a lost host is reconnected."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get("KVMPILOT_SRC", os.path.abspath(os.path.join(os.path.dirname(__file__), "../..")))
BUILD = os.environ.get("KVMPILOT_BUILD", os.path.join(SRC, "build"))
AGENT = os.path.join(BUILD, "guest", "kvmpilot-agent")
DATA = os.path.join(SRC, "tests", "data", "agent")


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def kv(line):
    parts = line.split(" ")
    if parts[0] != "KP1":
        fail("bad magic in %r" % line)
    return parts[1], dict(p.split("=", 1) for p in parts[2:])


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        sock.settimeout(5)

    def line(self, timeout=5):
        self.sock.settimeout(timeout)
        while b"\n" not in self.buf:
            d = self.sock.recv(4096)
            if not d:
                raise EOFError
            self.buf += d
        l, self.buf = self.buf.split(b"\n", 1)
        return l.decode()

    def send(self, s):
        self.sock.sendall(s.encode())


def tcp_host_end(sysroot_src):
    """'kvmpilot agent --listen' is the host end of TCP mode: samples and set-cpus."""
    kp = os.environ.get("KVMPILOT", os.path.join(BUILD, "kvmpilot"))
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    sysroot = tempfile.mkdtemp(prefix="kvmpilot-agent-sys.")
    shutil.copytree(sysroot_src, sysroot, dirs_exist_ok=True)
    os.makedirs(os.path.join(sysroot, "devices/system/cpu/cpu1"))
    with open(os.path.join(sysroot, "devices/system/cpu/cpu1/online"), "w") as f:
        f.write("0\n")
    host = subprocess.Popen([kp, "agent", "--listen", "127.0.0.1:%d" % port, "--set-cpus", "2",
                             "--count", "2", "--json", "--timeout", "10"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    agent = subprocess.Popen([AGENT, "--tcp", "127.0.0.1:%d" % port, "--interval", "100",
                              "--proc-root", os.path.join(DATA, "proc1"), "--sys-root", sysroot],
                             stderr=subprocess.DEVNULL)
    try:
        out, err = host.communicate(timeout=20)
    finally:
        agent.terminate()
        agent.wait(5)
        shutil.rmtree(sysroot, ignore_errors=True)
    objs = [json.loads(l) for l in out.splitlines()]
    if host.returncode != 0 or len(objs) != 3:
        fail("kvmpilot agent --listen: exit %d %r %r" % (host.returncode, out, err))
    if objs[0].get("op") != "set-cpus" or objs[0].get("rc") != 0 or objs[0].get("cpus_online") != 2:
        fail("--listen set-cpus ack: %s" % objs[0])
    if objs[1]["vm"] != "tcp:127.0.0.1" or objs[1]["mem_total_kb"] != 337040:
        fail("--listen sample: %s" % objs[1])


def watch_test():
    """A fast rise of used memory (MemTotal - MemAvailable) is sent at once,
    not at the next interval (10 s here); a small one, or a balloon taking
    MemTotal and MemAvailable down together, waits for the interval."""
    import select
    proc = tempfile.mkdtemp(prefix="kvmpilot-agent-proc.")
    shutil.copytree(os.path.join(DATA, "proc1"), proc, dirs_exist_ok=True)
    meminfo = open(os.path.join(proc, "meminfo")).read()

    def set_avail(kb, total=337040):
        text = re.sub(r"MemAvailable: +\d+ kB", "MemAvailable:     %d kB" % kb, meminfo)
        text = re.sub(r"MemTotal: +\d+ kB", "MemTotal:         %d kB" % total, text)
        with open(os.path.join(proc, "meminfo.new"), "w") as f:
            f.write(text)
        os.rename(os.path.join(proc, "meminfo.new"), os.path.join(proc, "meminfo"))

    p = subprocess.Popen([AGENT, "--stdio", "--interval", "10000", "--watch-ms", "50",
                          "--proc-root", proc, "--sys-root", os.path.join(DATA, "sys")],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True)

    def next_line(timeout):
        r, _, _ = select.select([p.stdout], [], [], timeout)
        return p.stdout.readline() if r else None

    try:
        first = next_line(5)
        if not first or kv(first.strip())[1]["mem_avail_kb"] != "254652":
            fail("watch: first sample %r" % first)
        set_avail(254652 - 8 * 1024)  # 8 MiB: below max(32 MiB, MemTotal/32)
        line = next_line(1.0)
        if line is not None:
            fail("watch: a small rise was sent early: %r" % line)
        set_avail(254652 - 100 * 1024, 337040 - 100 * 1024)  # the balloon took 100 MiB
        line = next_line(1.0)
        if line is not None:
            fail("watch: a balloon inflating was sent early: %r" % line)
        set_avail(254652 - 100 * 1024)
        start = time.monotonic()
        line = next_line(3.0)
        if not line:
            fail("watch: a 100 MiB fall was not sent before the 10 s interval")
        _, s = kv(line.strip())
        print("watch: a 100 MiB rise sent after %.2f s" % (time.monotonic() - start))
        if s["mem_avail_kb"] != str(254652 - 100 * 1024):
            fail("watch: early sample %s" % s)
    finally:
        p.kill()
        p.wait(5)
        shutil.rmtree(proc, ignore_errors=True)


def main():
    if not os.access(AGENT, os.X_OK):
        fail("no agent binary at %s (run make)" % AGENT)
    out = subprocess.run(["file", AGENT], capture_output=True, text=True).stdout if shutil.which("file") else ""
    if out and "statically linked" not in out:
        fail("the agent must be static: %s" % out)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(2)
    port = srv.getsockname()[1]
    sysroot = tempfile.mkdtemp(prefix="kvmpilot-agent-sys.")
    shutil.copytree(os.path.join(DATA, "sys"), sysroot, dirs_exist_ok=True)
    os.makedirs(os.path.join(sysroot, "devices/system/cpu/cpu1"))
    with open(os.path.join(sysroot, "devices/system/cpu/cpu1/online"), "w") as f:
        f.write("0\n")
    p = subprocess.Popen([AGENT, "--tcp", "127.0.0.1:%d" % port, "--interval", "200",
                          "--proc-root", os.path.join(DATA, "proc1"), "--sys-root", sysroot],
                         stderr=subprocess.PIPE, text=True)
    try:
        srv.settimeout(10)
        c = Conn(srv.accept()[0])
        t, s1 = kv(c.line())
        t2, s2 = kv(c.line())
        if t != "sample" or t2 != "sample":
            fail("expected samples, got %s %s" % (t, t2))
        if s1["mem_total_kb"] != "337040" or s1["swap_used_kb"] != "20480" or s1["cpus_present"] != "2":
            fail("sample does not match the fixtures: %s" % s1)
        if int(s2["seq"]) != int(s1["seq"]) + 1 or s1["boot"] != s2["boot"]:
            fail("sequence numbers: %s then %s" % (s1["seq"], s2["seq"]))
        if s1["ver"] != "0.1.0" or s1["psi_cpu_some"] != "1234":
            fail("version or PSI: %s" % s1)

        # set-cpus through the fake sysfs tree.
        c.send("KP1 cmd id=11 op=set-cpus arg=2\n")
        for _ in range(5):
            t, a = kv(c.line())
            if t == "ack":
                break
        if a != {"id": "11", "op": "set-cpus", "rc": "0", "online": "2", "present": "2"}:
            fail("set-cpus ack: %s" % a)
        with open(os.path.join(sysroot, "devices/system/cpu/cpu1/online")) as f:
            if f.read().strip() != "1":
                fail("cpu1 was not brought online")

        # A hostile host line is refused; the agent keeps going.
        c.send("KP1 cmd id=12 op=set-cpus arg=99999999999999999999\n" + "X" * 5000 + "\n")
        t, s = kv(c.line())
        if t != "sample":
            fail("expected a sample after junk, got %s %s" % (t, s))

        # pause: no samples for 1 s, then they resume.
        c.send("KP1 cmd id=13 op=pause arg=1\n")
        while True:
            t, a = kv(c.line())
            if t == "ack":
                break
        if a.get("rc") != "0" or a.get("op") != "pause":
            fail("pause ack: %s" % a)
        start = time.monotonic()
        t, s = kv(c.line(timeout=5))
        gap = time.monotonic() - start
        if t != "sample" or gap < 0.7:
            fail("pause did not silence the agent (next sample after %.2f s)" % gap)

        # report-now: the ack, then a sample right away.
        c.send("KP1 cmd id=14 op=report-now\n")
        start = time.monotonic()
        t, a = kv(c.line())
        while t != "ack":
            t, a = kv(c.line())
        t, s = kv(c.line())
        if t != "sample" or time.monotonic() - start > 0.15:
            fail("report-now did not send a sample at once")
        last_seq = int(s["seq"])

        # The host goes away: the agent reconnects and the run (boot id) continues.
        c.sock.close()
        srv.settimeout(10)
        c = Conn(srv.accept()[0])
        t, s = kv(c.line())
        if t != "sample" or s["boot"] != s1["boot"] or int(s["seq"]) <= last_seq:
            fail("after reconnect: %s %s" % (t, s))
    finally:
        p.terminate()
        try:
            _, err = p.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
        shutil.rmtree(sysroot, ignore_errors=True)
    tcp_host_end(sysroot_src=os.path.join(DATA, "sys"))
    watch_test()
    print(err)
    if "rejected a host line" not in err:
        fail("the hostile host line was not reported")
    if p.returncode != 0:
        fail("agent exit status %d" % p.returncode)
    print("ok")


if __name__ == "__main__":
    main()
