"""Helpers for the service tests: start `kvmpilot run` on a free loopback port
with its own data dir and BPF pin root, fake QEMU processes, HTTP getters."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

SRC = os.environ.get("KVMPILOT_SRC", os.path.abspath(os.path.join(os.path.dirname(__file__), "../..")))
BUILD = os.environ.get("KVMPILOT_BUILD", os.path.join(SRC, "build"))
KVMPILOT = os.environ.get("KVMPILOT", os.path.join(BUILD, "kvmpilot"))
FAKEQEMU = os.path.join(BUILD, "tests/bpf/fakeqemu")
NODE_XML = os.path.join(SRC, "tests/data/libvirt-node.xml")
TEST_URI = "test://" + NODE_XML
OUT = os.environ.get("TEST_OUT") or tempfile.mkdtemp(prefix="kvmpilot-svc-")


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)
    print("ok: " + msg, flush=True)


def skip(msg):
    print(msg, flush=True)
    sys.exit(77)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout, what, interval=0.2):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        try:
            last = pred()
            if last:
                return last
        except (OSError, ValueError, KeyError, urllib.error.URLError):
            pass
        time.sleep(interval)
    fail("timed out after %ss waiting for %s (last: %r)" % (timeout, what, last))


class Service:
    """kvmpilot run, stopped with SIGTERM by stop() (which checks the exit status)."""

    def __init__(self, *args, uri=TEST_URI, name="svc", dry_run=True, config=None, env=None,
                 headers=None, ssl_ctx=None):
        # headers (a bearer token) and ssl_ctx (https with a test CA) go with every request
        self.headers = dict(headers or {})
        self.ssl_ctx = ssl_ctx
        self.port = free_port()
        self.dir = os.path.join(OUT, name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.data = os.path.join(self.dir, "data")
        self.pins = "/sys/fs/bpf/kvmpilot-test-%s-%d" % (name, os.getpid())
        self.log_path = os.path.join(self.dir, "kvmpilot.log")
        cmd = [KVMPILOT, "run", "--listen", "127.0.0.1:%d" % self.port, "--data-dir", self.data]
        if uri:
            cmd += ["--uri", uri]
        if dry_run:
            cmd.append("--dry-run")
        if config:
            cmd += ["--config", config]
        cmd += list(args)
        e = dict(os.environ)
        e["KVMPILOT_PIN_ROOT"] = self.pins
        e.update(env or {})
        self.log = open(self.log_path, "w")
        print("start: " + " ".join(cmd), flush=True)
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=e)
        self.base = "%s://127.0.0.1:%d" % ("https" if ssl_ctx else "http", self.port)
        wait_for(lambda: self.proc.poll() is None and self.get_json("/healthz")[0] == 200, 20,
                 "the service to answer /healthz")

    def url(self, path):
        return self.base + path

    def get(self, path, method="GET", data=None, headers=None):
        h = dict(self.headers)
        h.update(headers or {})
        req = urllib.request.Request(self.url(path), method=method, data=data, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=10, context=self.ssl_ctx) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def get_json(self, path, **kw):
        code, headers, body = self.get(path, **kw)
        return code, json.loads(body) if body else None

    def vms(self):
        return {v["name"]: v for v in self.get_json("/api/v1/vms")[1]["vms"]}

    def alive(self):
        return self.proc.poll() is None

    def logtext(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def stop(self, check_exit=True):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                fail("the service did not stop within 15 s of SIGTERM")
        self.log.close()
        rc = self.proc.returncode
        pins_kept = os.path.isdir(self.pins)
        shutil.rmtree(self.pins, ignore_errors=True)
        if check_exit:
            check(rc == 0, "SIGTERM stops the service cleanly (exit %s)" % rc)
        return rc, pins_kept


class FakeQemu:
    """A process that looks like QEMU to the /proc scan and the tracer."""

    def __init__(self, name, vcpus=2, duty="50", extra=()):
        if not os.path.exists(FAKEQEMU):
            fail("%s is missing: run 'make tests-build'" % FAKEQEMU)
        self.name = name
        ready = os.path.join(OUT, "fq-%s.ready" % name)
        if os.path.exists(ready):
            os.unlink(ready)
        cmd = [FAKEQEMU, "-name", "guest=%s,debug-threads=on" % name, "--vcpus", str(vcpus),
               "--duty", duty, "--ready", ready] + list(extra)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: os.path.exists(ready) or self.proc.poll() is not None, 15, "fakeqemu ready")
        if self.proc.poll() is not None:
            fail("fakeqemu %s exited with %s" % (name, self.proc.returncode))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def write_node(path, name, sock_path, memory_mib=2048, current_mib=1024, vcpus_max=4):
    """A libvirt test-driver node file with one domain whose agent channel is
    bound at sock_path (the guest side a test plays with FakeAgent or its own
    socket)."""
    with open(path, "w") as f:
        f.write("""<node><cpu><mhz>2000</mhz><model>x86_64</model><active>2</active><nodes>1</nodes>
<sockets>1</sockets><cores>2</cores><threads>1</threads></cpu><memory>8388608</memory>
<domain type='test'><name>%s</name><memory unit='MiB'>%d</memory>
<currentMemory unit='MiB'>%d</currentMemory><vcpu current='1'>%d</vcpu>
<os><type arch='x86_64'>hvm</type></os><devices>
<controller type='virtio-serial' index='0'/>
<channel type='unix'><source mode='bind' path='%s'/><target type='virtio' name='org.kvmpilot.agent.0'/></channel>
<memballoon model='virtio'/></devices></domain></node>
""" % (name, memory_mib, current_mib, vcpus_max, sock_path))


def need_root():
    if os.geteuid() != 0:
        skip("needs root (BPF tracer, fake QEMU processes)")


class FakeAgent:
    """The guest side of an agent channel in bind mode (QEMU listens, the
    service connects): one KP1 sample a second while talk is set."""

    def __init__(self, path, total_kb=1048576, avail_kb=262144):
        import threading
        self.path = path
        self.talk = True
        self.total_kb, self.avail_kb = total_kb, avail_kb
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.exists(path):
            os.unlink(path)
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(4)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            seq = 0
            while True:
                if self.talk:
                    seq += 1
                    line = ("KP1 sample seq=%d boot=4242 ver=test interval_ms=1000 mem_total_kb=%d "
                            "mem_avail_kb=%d mem_free_kb=%d swap_total_kb=0 swap_used_kb=0 "
                            "psi_mem_some=0 psi_cpu_some=0 cpu_busy=500 cpus_online=1 cpus_present=2\n"
                            % (seq, self.total_kb, self.avail_kb, self.avail_kb))
                    try:
                        conn.sendall(line.encode())
                    except OSError:
                        break
                time.sleep(1)

    def close(self):
        self.srv.close()
        if os.path.exists(self.path):
            os.unlink(self.path)
