# SPDX-License-Identifier: GPL-2.0
"""Helpers for the real-kernel tests of 'kvmpilot stat' (python3 stdlib only).

Fake: runs build/tests/bpf/fakeqemu and reads its ground-truth reports.
Stat: runs 'kvmpilot stat --json' on a pin root of its own and yields lines.
Everything started here is stopped at exit, and the pin root is removed.
"""
import atexit
import json
import os
import selectors
import signal
import subprocess
import sys
import time

BUILD = os.environ.get("KVMPILOT_BUILD", os.path.join(os.path.dirname(__file__), "../../build"))
KVMPILOT = os.environ.get("KVMPILOT", os.path.join(BUILD, "kvmpilot"))
FAKEQEMU = os.path.join(BUILD, "tests/bpf/fakeqemu")
OUT = os.environ.get("TEST_OUT", "/tmp/kvmpilot-test-%d" % os.getpid())
os.makedirs(OUT, exist_ok=True)

_procs = []
_pin_roots = []


def log(*a):
    print(*a, flush=True)


def fail(msg):
    log("FAIL: " + msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)
    log("ok: " + msg)


def within(measured, truth, tol, what):
    """measured within tol (fraction) of truth."""
    err = abs(measured - truth) / truth if truth else (0 if measured == 0 else 1)
    check(err <= tol, "%s: measured %.0f, truth %.0f (%.2f%% off, limit %.0f%%)"
          % (what, measured, truth, err * 100, tol * 100))


def require_root():
    if os.geteuid() != 0:
        log("skip: needs root")
        sys.exit(77)
    for p in (KVMPILOT, FAKEQEMU):
        if not os.access(p, os.X_OK):
            fail("missing %s (run make tests-build)" % p)


def pin_root(tag):
    root = "/sys/fs/bpf/kvmpilot-test-%d-%s" % (os.getpid(), tag)
    _pin_roots.append(root)
    return root


def _cleanup():
    for p in _procs:
        if p.poll() is None:
            p.kill()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
    for root in _pin_roots:
        subprocess.run([KVMPILOT, "unpin", "--force", "--pin-root", root],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


atexit.register(_cleanup)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))


class Fake:
    """A fakeqemu process; report() returns its ground truth (JSON)."""

    n = 0

    def __init__(self, *args, name=None):
        Fake.n += 1
        tag = "%d-%d" % (os.getpid(), Fake.n)
        self.report_path = os.path.join(OUT, "fake-%s.json" % tag)
        ready = os.path.join(OUT, "fake-%s.ready" % tag)
        for p in (self.report_path, ready):
            if os.path.exists(p):
                os.unlink(p)
        cmd = [FAKEQEMU]
        if name:
            cmd += ["-name", "guest=%s,debug-threads=on" % name]
        cmd += list(args) + ["--report", self.report_path, "--ready", ready]
        self.errlog = open(os.path.join(OUT, "fake-%s.log" % tag), "w")
        self.proc = subprocess.Popen(cmd, stdout=self.errlog, stderr=self.errlog)
        _procs.append(self.proc)
        deadline = time.monotonic() + 10
        while not (os.path.exists(ready) and os.path.getsize(ready) > 0):
            if self.proc.poll() is not None:
                fail("fakeqemu exited with %s: %s" % (self.proc.returncode, " ".join(cmd)))
            if time.monotonic() > deadline:
                fail("fakeqemu not ready after 10 s")
            time.sleep(0.02)
        self.pid = self.proc.pid

    def report(self):
        """Ask for a fresh report (SIGUSR1) and return it."""
        before = os.stat(self.report_path).st_mtime_ns if os.path.exists(self.report_path) else 0
        t0 = time.time()
        os.kill(self.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                if os.stat(self.report_path).st_mtime_ns != before:
                    r = json.load(open(self.report_path))
                    if r.get("time", 0) >= t0 - 0.001:
                        return r
            except (OSError, ValueError):
                pass
            time.sleep(0.005)
        fail("fakeqemu %d wrote no report" % self.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(10)
        return json.load(open(self.report_path))


class Stat:
    """'kvmpilot stat --json' with a pin root of its own."""

    def __init__(self, *args, tag="stat", root=None):
        self.root = root or pin_root(tag)
        self.cmd = [KVMPILOT, "stat", "--json", "--pin-root", self.root] + list(args)
        self.errpath = os.path.join(OUT, "%s.stderr" % tag)
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE,
                                     stderr=open(self.errpath, "a"), text=True, bufsize=1)
        _procs.append(self.proc)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)

    def line(self, timeout=10):
        if not self.sel.select(timeout):
            fail("no stat output within %d s (%s)" % (timeout, " ".join(self.cmd)))
        s = self.proc.stdout.readline()
        if not s:
            self.proc.wait(5)
            fail("stat exited with %s: %s" % (self.proc.returncode, open(self.errpath).read()))
        d = json.loads(s)
        if "error" in d:
            fail("stat error: %s" % d["error"])
        return d

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -9


def vm_of(line, pid):
    for v in line["vms"]:
        if v["pid"] == pid:
            return v
    return None


def schedstat(pid, tid):
    """on-CPU and run-queue ns of a thread from /proc (the kernel's own count)."""
    with open("/proc/%d/task/%d/schedstat" % (pid, tid)) as f:
        run, wait, _ = f.read().split()
    return int(run), int(wait)


def threads(report, role):
    return [t for t in report["threads"] if t["role"] == role]
