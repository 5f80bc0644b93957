# SPDX-License-Identifier: GPL-2.0
"""Infrastructure for the end-to-end tests: real libvirtd, real QEMU guests
(TCG here), the real kvmpilot binary.

Everything a test creates is registered in one Cleanup stack that runs on
normal exit, on an exception, on SIGTERM/SIGINT (the runner's timeout) and
at interpreter exit, so no VM, pool, tap, socket or process survives a
failing test. VM names are prefixed 'kp-e2e-'.

Exit codes follow tests/lib/run-tests.sh: 0 pass, 77 skip (with a reason),
anything else fails.
"""

import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.request

SRC = os.environ.get("KVMPILOT_SRC") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("KVMPILOT_BUILD") or os.path.join(SRC, "build")
KVMPILOT = os.environ.get("KVMPILOT") or os.path.join(BUILD, "kvmpilot")
TEST_OUT = os.environ.get("TEST_OUT") or os.path.join(BUILD, "test-output", "e2e", "adhoc")
URI = "qemu:///system"
SKIP = 77


class Skip(Exception):
    """The feature is truly absent here; the message says why."""


class Pending(Skip):
    """A piece another module owns is not on this branch yet."""


def log(msg):
    print("[%7.1f] %s" % (time.monotonic() - _T0, msg), flush=True)


_T0 = time.monotonic()


# ---------------------------------------------------------------- cleanup
class Cleanup:
    def __init__(self):
        self._stack = []
        self._done = False

    def push(self, what, fn, *args):
        self._stack.append((what, fn, args))

    def run(self):
        if self._done:
            return
        self._done = True
        while self._stack:
            what, fn, args = self._stack.pop()
            try:
                fn(*args)
            except Exception as e:  # keep going: the rest must still be undone
                print("cleanup: %s failed: %s" % (what, e), file=sys.stderr, flush=True)


cleanup = Cleanup()
atexit.register(cleanup.run)


def _on_signal(signum, frame):
    # The runner's timeout or Ctrl-C: undo everything, then fail.
    log("signal %d: cleaning up" % signum)
    cleanup.run()
    os._exit(1)


signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


def main(test_fn):
    """Run test_fn() with cleanup; map Skip/Pending to 77 and failures to 1."""
    os.makedirs(TEST_OUT, exist_ok=True)
    rc = 1
    try:
        test_fn()
        log("PASS")
        rc = 0
    except Pending as e:
        print("PENDING: %s" % e, flush=True)
        rc = SKIP
    except Skip as e:
        print("skip: %s" % e, flush=True)
        rc = SKIP
    except Exception:
        traceback.print_exc()
        log("FAIL")
        rc = 1
    finally:
        cleanup.run()
    sys.exit(rc)


# ---------------------------------------------------------------- processes
def run(cmd, check=True, timeout=120, quiet=False):
    """Run a command, return (rc, stdout, stderr)."""
    if not quiet:
        log("$ " + " ".join(cmd))
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d): %s%s" % (" ".join(cmd), p.returncode, p.stdout,
                                                       p.stderr))
    return p.returncode, p.stdout, p.stderr


def kp(*args, check=True, timeout=120, quiet=False):
    return run([KVMPILOT] + list(args), check=check, timeout=timeout, quiet=quiet)


# Other users of this host's libvirtd may restart it at any moment (their own
# fault-injection tests do): calls that fail only because it is away are
# retried once it answers again.
LIBVIRT_AWAY = ("failed to connect", "Failed to connect socket", "End of file while reading",
                "client socket is closed", "Cannot recv data", "cannot connect to",
                "Broken pipe", "Connection reset")


def libvirt_away(text):
    return any(s in text for s in LIBVIRT_AWAY)


def wait_libvirtd(timeout=180):
    """Wait for libvirtd to answer; start it if it stays away."""
    deadline = time.monotonic() + timeout
    started = False
    while time.monotonic() < deadline:
        if subprocess.run(["virsh", "-c", URI, "version"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0:
            return
        if not started and time.monotonic() > deadline - timeout / 2 and not _daemon_running(
                "libvirtd"):
            log("libvirtd stays away: starting it")
            subprocess.run(["libvirtd", "-d"])
            started = True
        time.sleep(1)
    raise AssertionError("libvirtd does not answer")


def run_lv(cmd, check=True, timeout=600, quiet=False, tries=5):
    """run() for commands talking to libvirtd, retried while it is away. One
    call may take minutes: some libvirtds re-probe QEMU at every define."""
    for i in range(tries):
        rc, out, err = run(cmd, check=False, timeout=timeout, quiet=quiet or i > 0)
        if rc == 0 or not libvirt_away(out + err):
            break
        log("libvirtd away during '%s', retrying" % " ".join(cmd[:3]))
        wait_libvirtd()
    if check and rc != 0:
        raise AssertionError("%s failed (%d): %s%s" % (" ".join(cmd), rc, out, err))
    return rc, out, err


def command_implemented(cmd):
    """False while the command is still the placeholder of another module."""
    p = subprocess.run([KVMPILOT, cmd, "--help"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=30)
    return "not implemented yet" not in (p.stdout + p.stderr)


def require_commands(*cmds):
    missing = [c for c in cmds if not command_implemented(c)]
    if missing:
        raise Pending("'kvmpilot %s' not implemented on this branch yet"
                      % "', 'kvmpilot ".join(missing))


def wait_until(fn, timeout, what, interval=0.5):
    """Poll fn() until it returns a true value; return it, or fail naming what."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # keep polling, report the last one
            last_exc = e
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s%s" % (
                timeout, what, " (last error: %s)" % last_exc if last_exc else ""))
        time.sleep(interval)


def require_root():
    if os.geteuid() != 0:
        raise Skip("needs root (libvirtd qemu:///system, taps, BPF)")


# ---------------------------------------------------------------- daemons
def _pid_alive(pidfile):
    try:
        pid = int(open(pidfile).read().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return 0


def _daemon_running(name):
    p = subprocess.run(["pgrep", "-x", name], stdout=subprocess.PIPE, text=True)
    return p.returncode == 0


def ensure_daemons():
    """Start virtlogd and libvirtd when they are not running; stop them at the end."""
    for name in ("virtlogd", "libvirtd"):
        if _daemon_running(name):
            continue
        if not shutil.which(name):
            raise Skip("%s is not installed (make deps)" % name)
        log("starting %s" % name)
        run([name, "-d"])
        cleanup.push("stop " + name, stop_daemon, name)
    wait_until(lambda: run(["virsh", "-c", URI, "version"], check=False, quiet=True)[0] == 0,
               180, "libvirtd to answer")


def stop_daemon(name):
    pid = _pid_alive("/run/%s.pid" % name)
    if pid:
        log("stopping %s (%d)" % (name, pid))
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                return
            time.sleep(0.2)


def restart_libvirtd():
    """Stop libvirtd and start it again (QEMU processes survive)."""
    pid = _pid_alive("/run/libvirtd.pid")
    if pid:
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not _pid_alive("/run/libvirtd.pid") and not _daemon_running(
            "libvirtd"), 30, "libvirtd to stop")
    run(["libvirtd", "-d"])
    wait_until(lambda: run(["virsh", "-c", URI, "version"], check=False, quiet=True)[0] == 0,
               180, "libvirtd to answer again")


# ---------------------------------------------------------------- leftovers
_STATE_RX = re.compile(r"/var/tmp/kp-e2e-(\d+)/")


def _run_alive(pid):
    """Is the test run that owns /var/tmp/kp-e2e-PID still going?"""
    if pid == os.getpid():
        return True
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return b"python" in f.read()
    except OSError:
        return False


def reap_stale():
    """Remove what a test run killed with SIGKILL left behind (its cleanup
    never ran): kp-e2e-* domains and pools whose state folder belongs to a
    dead run, the folder itself and its BPF pins. A later run would meet
    "domain already exists" or share the host's CPU with a forgotten guest.
    Runs that are still alive keep everything."""
    dead = set()
    names = run_lv(["virsh", "-c", URI, "list", "--all", "--name"], quiet=True)[1].split()
    for name in names:
        if not name.startswith("kp-e2e-"):
            continue
        rc, xml, _ = run_lv(["virsh", "-c", URI, "dumpxml", name], check=False, quiet=True)
        m = _STATE_RX.search(xml) if rc == 0 else None
        if not m or _run_alive(int(m.group(1))):
            continue
        dead.add(int(m.group(1)))
        log("removing %s, left by the dead test run %s" % (name, m.group(1)))
        run_lv(["virsh", "-c", URI, "destroy", name], check=False, quiet=True)
        run_lv(["virsh", "-c", URI, "undefine", name], check=False, quiet=True)
    pools = run_lv(["virsh", "-c", URI, "pool-list", "--all", "--name"], quiet=True)[1].split()
    for pool in pools:
        m = re.match(r"kp-e2e-.*-(\d+)$", pool)
        if not m or _run_alive(int(m.group(1))):
            continue
        log("removing pool %s, left by a dead test run" % pool)
        run_lv(["virsh", "-c", URI, "pool-destroy", pool], check=False, quiet=True)
        run_lv(["virsh", "-c", URI, "pool-undefine", pool], check=False, quiet=True)
    for parent, rx in (("/var/tmp", r"kp-e2e-(\d+)$"), ("/sys/fs/bpf", r"kp-e2e-(\d+)(-stat)?$")):
        try:
            entries = os.listdir(parent)
        except OSError:
            continue
        for e in entries:
            m = re.match(rx, e)
            if not m or _run_alive(int(m.group(1))):
                continue
            path = os.path.join(parent, e)
            if parent == "/sys/fs/bpf":
                run([KVMPILOT, "unpin", "--pin-root", path, "--force"], check=False, quiet=True)
            else:
                shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------- guests
def guest_dir():
    d = os.environ.get("KVMPILOT_GUEST_DIR") or os.path.join(SRC, "guest", "out")
    if os.path.exists(os.path.join(d, "vmlinuz")) and os.path.exists(
            os.path.join(d, "initramfs.gz")):
        return d
    # Build it when the project knows how ('make guest').
    p = subprocess.run(["make", "-C", SRC, "-n", "guest"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    if p.returncode != 0:
        raise Pending("no guest image and no 'make guest' on this branch yet")
    run(["make", "-C", SRC, "guest"], timeout=600)
    return d


class Env:
    """A private pool and state folder for this test, removed at the end."""

    def __init__(self, tag):
        require_root()
        ensure_daemons()
        reap_stale()
        self.tag = tag
        self.pool = "kp-e2e-%s-%d" % (tag, os.getpid())
        self.state = "/var/tmp/kp-e2e-%d" % os.getpid()
        self.image_dir = guest_dir()
        os.makedirs(self.state, exist_ok=True)
        cleanup.push("remove " + self.state, shutil.rmtree, self.state, True)
        cleanup.push("remove pool " + self.pool, self._remove_pool)
        self.vms = []
        self.control = False  # guests get the control port (use_test_image)

    def use_test_image(self, control=True):
        """Boot the guest image with the e2e knobs, and the control port
        unless control is False (see test_image())."""
        self.image_dir = test_image(os.path.join(self.state, "e2e-image"))
        self.control = control
        return self

    def common(self):
        return ["--pool", self.pool, "--pool-dir", self.state + "/pool", "--state-dir",
                self.state, "--image-dir", self.image_dir]

    def _remove_pool(self):
        run_lv([KVMPILOT, "vm", "pool-delete", "--force"] + self.common(), check=False)

    def create(self, name, *opts):
        """kvmpilot vm create; the VM is destroyed at cleanup whatever happens.
        Returns once libvirt has started it: from seconds to minutes on a host
        whose libvirtd re-probes QEMU at each define."""
        assert name.startswith("kp-e2e-"), name
        vm = VM(self, name)
        cleanup.push("destroy " + name, vm.destroy_quiet)
        opts = list(opts)
        if self.control:
            # The port, and the guest's loop that reads it.
            if "--workload-args" in opts:
                i = opts.index("--workload-args") + 1
                opts[i] += " kvmpilot.e2e_control=on"
            else:
                opts += ["--workload-args", "kvmpilot.e2e_control=on"]
            opts += ["--channel", CONTROL_CHANNEL]
        cmd = [KVMPILOT, "vm", "create", name] + self.common() + opts
        t0 = time.monotonic()
        for attempt in range(3):
            rc, out, err = run(cmd, check=False, timeout=600)
            if rc == 0:
                break
            if not libvirt_away(out + err) or attempt == 2:
                raise AssertionError("%s failed (%d): %s%s" % (" ".join(cmd), rc, out, err))
            # libvirtd went away half-way: undo whatever got made, then again.
            log("libvirtd away while creating %s, retrying" % name)
            wait_libvirtd()
            vm.destroy_quiet()
            vm.destroyed = False
        vm.create_seconds = time.monotonic() - t0
        vm.create_err = err
        log("%s created in %.1f s%s" % (name, vm.create_seconds,
                                         (": " + err.strip()) if err.strip() else ""))
        self.vms.append(vm)
        return vm

    def create_many(self, specs):
        """Create several VMs at once: [(name, [opts])] -> [VM], in order.
        libvirt defines them in parallel, so a slow define is paid once."""
        import threading
        results, errors = {}, []

        def one(name, opts):
            try:
                results[name] = self.create(name, *opts)
            except Exception as e:  # reported below, after every thread ended
                errors.append("%s: %s" % (name, e))
        threads = [threading.Thread(target=one, args=(n, o)) for n, o in specs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise AssertionError("vm create failed: " + "; ".join(errors))
        made = [results[n] for n, _ in specs]
        # env.vms in the order asked for, not the order libvirt finished in.
        self.vms = [v for v in self.vms if v not in made] + made
        return made


class VM:
    def __init__(self, env, name):
        self.env = env
        self.name = name
        self.destroyed = False
        self._ctl = None
        self.create_seconds = None
        self.create_err = ""

    @property
    def control_path(self):
        return "%s/channels/%s/%s.sock" % (self.env.state, self.name, CONTROL_CHANNEL)

    def control(self, command, timeout=240):
        """Send one command to the test image's control port (see E2E_SCRIPT)
        and wait until the guest echoes it on its console. The connection is
        opened once and kept: each open and close makes libvirtd rewrite the
        domain status."""
        import socket
        if self._ctl is None:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.control_path)
            self._ctl = s
            cleanup.push("close control of " + self.name, self._close_control)
            # The guest opens its end once its driver is up; until then QEMU
            # holds what we write.
            self.wait_console(r"kvmpilot-e2e: control on", timeout=timeout)
        seen = self.console().count("kvmpilot-e2e: command " + command.split()[0])
        log("%s <- %s" % (self.name, command))
        self._ctl.sendall((command + "\n").encode())
        wait_until(lambda: self.console().count("kvmpilot-e2e: command " +
                                                command.split()[0]) > seen, timeout,
                   "%s to take the command '%s'" % (self.name, command))

    def _close_control(self):
        if self._ctl is not None:
            self._ctl.close()
            self._ctl = None

    @property
    def console_path(self):
        return "%s/console/%s.log" % (self.env.state, self.name)

    @property
    def channel_path(self):
        return "%s/channels/%s.agent.sock" % (self.env.state, self.name)

    @property
    def tap(self):
        n = "kp-" + self.name
        if len(n) <= 15:
            return n
        xml = dumpxml(self.name)
        m = re.search(r"<target dev='([^']+)' managed='yes'/>", xml)
        return m.group(1)

    def console(self):
        try:
            with open(self.console_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def save_console(self):
        try:
            shutil.copy(self.console_path, os.path.join(TEST_OUT, self.name + ".console.log"))
        except OSError:
            pass

    def destroy(self):
        self.save_console()
        run_lv([KVMPILOT, "vm", "destroy", self.name] + self.env.common())
        self.destroyed = True

    def destroy_quiet(self):
        """Cleanup: insists while libvirtd is away; 'no VM' is fine."""
        if self.destroyed:
            return
        self.save_console()
        rc, out, err = run_lv([KVMPILOT, "vm", "destroy", self.name] + self.env.common(),
                              check=False, tries=10)
        if rc != 0 and "no VM" not in err:
            print("cleanup: destroy %s: %s" % (self.name, err), file=sys.stderr)
        self.destroyed = True

    def wait_console(self, pattern, timeout=240):
        rx = re.compile(pattern)
        return wait_until(lambda: rx.search(self.console()), timeout,
                          "'%s' on the console of %s" % (pattern, self.name))

    def assert_no_oom(self):
        text = self.console()
        for bad in ("Out of memory", "oom-kill", "Killed process", "Kernel panic"):
            assert bad not in text, "%s: '%s' in the guest console:\n%s" % (
                self.name, bad, text[-3000:])

    def stats(self):
        return domstats(self.name)


def dumpxml(name, inactive=False):
    cmd = ["virsh", "-c", URI, "dumpxml", name]
    if inactive:
        cmd.append("--inactive")
    return run_lv(cmd, quiet=True)[1]


def domstats(name):
    """libvirt's own counters: {'vcpu.0.time': 123, 'net.0.rx.bytes': ...}."""
    out = run_lv(["virsh", "-c", URI, "domstats", "--raw", name], quiet=True)[1]
    d = {}
    for line in out.splitlines():
        line = line.strip()
        if "=" not in line:
            continue
        k, v = line.split("=", 1)
        try:
            d[k] = int(v)
        except ValueError:
            try:
                d[k] = float(v)
            except ValueError:
                d[k] = v
    return d


def parse_domstats(lines):
    """virsh domstats --raw output -> {domain: {key: number}}."""
    res, cur = {}, None
    for line in lines:
        line = line.replace("virsh # ", "").strip()
        if line.startswith("Domain:"):
            cur = line.split("'")[1]
            res[cur] = {}
        elif "=" in line and cur:
            k, v = line.split("=", 1)
            try:
                res[cur][k] = int(v)
            except ValueError:
                pass
    return res


class DomstatsPoller:
    """libvirt's counters for some domains, several times a second, each with
    the wall-clock time it was taken, so that they can be read at any instant
    by interpolation: at(t, name, key)."""

    def __init__(self, names, period=0.1):
        import threading
        self.names = list(names)
        self.period = period
        self.samples = []  # (time, {domain: {key: value}})
        self.error = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        cleanup.push("stop domstats poller", self.stop)
        self._thread.start()

    def _query(self):
        # One virsh per sample: a long-lived virsh session buffers its output
        # and hands back stale numbers.
        p = subprocess.run(["virsh", "-c", URI, "domstats", "--raw", "--vcpu", "--interface",
                            "--block", "--balloon"] + self.names, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        if p.returncode != 0:
            raise AssertionError("virsh domstats: %s" % p.stderr.strip())
        return p.stdout.splitlines()

    def _loop(self):
        failures = 0
        while not self._stop.is_set():
            t0 = time.time()
            try:
                lines = self._query()
                t1 = time.time()
                stats = parse_domstats(lines)
                if all(n in stats for n in self.names):
                    self.samples.append(((t0 + t1) / 2, stats))
                    failures = 0
                else:
                    failures += 1
            except Exception as e:  # libvirtd away for a moment: go on
                failures += 1
                self.error = e
            if failures > 50:
                return
            self._stop.wait(self.period)

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=40)

    def gap(self, t):
        """Seconds between the libvirt samples around wall-clock time t."""
        ts = [x[0] for x in self.samples]
        before = [x for x in ts if x <= t]
        after = [x for x in ts if x >= t]
        return (after[0] - before[-1]) if before and after else float("inf")

    def at(self, t, name, key):
        """The counter interpolated at wall-clock time t."""
        pts = [(ts, st[name].get(key)) for ts, st in self.samples
               if st.get(name, {}).get(key) is not None]
        before = [p for p in pts if p[0] <= t]
        after = [p for p in pts if p[0] >= t]
        if not before or not after:
            raise AssertionError("no libvirt samples around %.2f for %s %s" % (t, name, key))
        (t0, v0), (t1, v1) = before[-1], after[0]
        return v0 if t1 == t0 else v0 + (v1 - v0) * (t - t0) / (t1 - t0)


def domain_exists(name):
    return run_lv(["virsh", "-c", URI, "domstate", name], check=False, quiet=True)[0] == 0


def qemu_pid(name):
    try:
        return int(open("/run/libvirt/qemu/%s.pid" % name).read().strip())
    except (OSError, ValueError):
        return 0


# ---------------------------------------------------------------- channel
def read_channel_lines(path, n, timeout):
    """Connect to an agent channel socket and return the first n lines."""
    import socket
    deadline = time.monotonic() + timeout
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        s.connect(path)
        buf = b""
        while buf.count(b"\n") < n:
            if time.monotonic() > deadline:
                raise AssertionError("%d lines not seen in %ss on %s, got %r" % (
                    n, timeout, path, buf[-500:]))
            s.settimeout(max(0.1, deadline - time.monotonic()))
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
        return buf.decode(errors="replace").splitlines()[:n]
    finally:
        s.close()


# ---------------------------------------------------------------- stat
def stat_json(interval=2, count=3, pids=(), timeout=None):
    """kvmpilot stat --json; returns the list of interval objects."""
    args = ["stat", "--json", "--interval", str(interval), "--count", str(count)]
    for p in pids:
        args += ["--pid", str(p)]
    _, out, _ = kp(*args, timeout=timeout or interval * count + 60)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


# ---------------------------------------------------------------- service
class Service:
    """kvmpilot run on a private port and data folder; killed at cleanup."""

    def __init__(self, vms=(), port=None, config=None, extra=(), global_opts=None):
        """vms: the only VMs this service may act on (others on this shared
        host are left alone: [global] enabled = false)."""
        self.port = port or (19477 + os.getpid() % 1000)
        self.data = os.path.join(TEST_OUT, "data")
        self.config = config
        if config is None:
            self.config = os.path.join(TEST_OUT, "kvmpilot.ini")
            with open(self.config, "w") as f:
                f.write("[global]\nenabled = false\n")
                for k, v in (global_opts or {}).items():
                    f.write("%s = %s\n" % (k, v))
                for name in vms:
                    f.write("\n[vm %s]\nenabled = true\n" % name)
        self.extra = list(extra)
        self.proc = None
        self.logf = None
        self.starts = 0
        # Private BPF pins: other kvmpilots on this host keep theirs.
        self.pin_root = "/sys/fs/bpf/kp-e2e-%d" % os.getpid()
        cleanup.push("unpin " + self.pin_root, self._unpin)
        cleanup.push("stop kvmpilot run", self.stop)

    def _unpin(self):
        if os.path.exists(self.pin_root):
            run([KVMPILOT, "unpin", "--pin-root", self.pin_root, "--force"], check=False)

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        os.makedirs(self.data, exist_ok=True)
        cmd = [KVMPILOT, "run", "--listen", "127.0.0.1:%d" % self.port, "--data-dir",
               self.data] + self.extra
        if self.config:
            cmd += ["--config", self.config]
        self.starts += 1
        self.logf = open(os.path.join(TEST_OUT, "service.%d.log" % self.starts), "w")
        log("$ " + " ".join(cmd))
        env = dict(os.environ, KVMPILOT_PIN_ROOT=self.pin_root)
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT, env=env)
        wait_until(lambda: self.healthy(), 60, "kvmpilot run /healthz")
        return self

    def health(self):
        try:
            return self.get("/healthz")
        except urllib.error.HTTPError as e:  # 503 while degraded, still JSON
            return json.loads(e.read())

    def healthy(self):
        if self.proc.poll() is not None:
            raise AssertionError("kvmpilot run exited with %d (see %s)" % (
                self.proc.returncode, self.logf.name))
        try:
            self.health()
            return True
        except (urllib.error.URLError, ConnectionError, OSError, ValueError):
            return False

    def get(self, path, raw=False):
        with urllib.request.urlopen(self.base + path, timeout=10) as r:
            body = r.read()
        return body if raw else json.loads(body)

    def vms(self):
        v = self.get("/api/v1/vms")
        return v["vms"] if isinstance(v, dict) and "vms" in v else v

    def vm(self, name):
        for v in self.vms():
            if v.get("name") == name:
                return v
        return None

    def actions(self):
        a = self.get("/api/v1/actions")
        return a["actions"] if isinstance(a, dict) and "actions" in a else a

    def metrics(self):
        return self.get("/metrics", raw=True).decode()

    def metric(self, name, **labels):
        """Sum of the samples of one metric whose labels include these."""
        total, found = 0.0, False
        rx = re.compile(r'^%s\{([^}]*)\} (\S+)$|^%s (\S+)$' % (re.escape(name), re.escape(name)))
        for line in self.metrics().splitlines():
            m = rx.match(line)
            if not m:
                continue
            have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(1) or ""))
            if all(have.get(k) == v for k, v in labels.items()):
                total += float(m.group(2) or m.group(3))
                found = True
        return total if found else None

    def kill(self, sig=signal.SIGKILL):
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.logf:
            self.logf.close()
            self.logf = None


def within(a, b, rel):
    """True when a and b differ by at most rel of the larger one."""
    m = max(abs(a), abs(b))
    return m == 0 or abs(a - b) <= rel * m


# ---------------------------------------------------------------- test image
# The guest image of 'make guest' plus a second cpio archive appended to its
# initramfs (the kernel unpacks both, the later one wins): /init becomes a
# wrapper that starts the test-only activities below and then runs the real
# init, kept as /init.kvmpilot.
#
# Nothing here starts on a timer from boot: how long libvirt takes to define
# and start a guest varies from 1 s to a minute between machines. Continuous
# activities (disk, ping) run from boot; everything a test must time runs
# when the test says so, over the control port (VM.control()), a
# virtio-serial port named CONTROL_CHANNEL that 'kvmpilot vm create
# --channel' adds. Its commands, one a line, each echoed on the console as
# "kvmpilot-e2e: command ...":
#   memhog MIN MAX HOLD   one memory_hog run: MIN..MAX MiB, held HOLD s, freed
#                         at 100 MiB/s; "memhog start" and "memhog done" on
#                         the console (boot with kvmpilot.workload=idle)
#   cpuburst THREADS SECS one burst; "cpuburst start" and "cpuburst done"
#   agent_stop            SIGSTOP the agent (a silent agent); agent_cont: SIGCONT
#   garbage               write hostile lines to the agent port every 0.2 s
#                         (boot with kvmpilot.agent=off)
# Knobs on the kernel command line (Env.create adds kvmpilot.e2e_control=on
# with the port), for what runs from boot:
#   kvmpilot.e2e_disk=MB         loop: write MB MiB with O_DIRECT to /dev/vda,
#                                read them back with O_DIRECT, pause 1 s
#   kvmpilot.e2e_ping=ADDR       ping ADDR with 1000-byte payloads every 0.1 s
CONTROL_CHANNEL = "org.kvmpilot.e2e.0"

E2E_SCRIPT = r'''#!/bin/busybox sh
B=/bin/busybox
while ! $B test -r /proc/cmdline; do $B sleep 0.2; done
disk= ping= control=
for opt in $($B cat /proc/cmdline); do
	case "$opt" in
	kvmpilot.e2e_disk=*) disk=${opt#*=} ;;
	kvmpilot.e2e_ping=*) ping=${opt#*=} ;;
	kvmpilot.e2e_control=*) control=${opt#*=} ;;
	esac
done
say() { echo "kvmpilot-e2e: $*"; }
# The virtio-serial port named $1, once the real init has loaded its driver.
find_port() {
	port=
	while [ -z "$port" ]; do
		for p in /sys/class/virtio-ports/*; do
			[ "$($B cat $p/name 2>/dev/null)" = "$1" ] && port=/dev/${p##*/}
		done
		[ -n "$port" ] && $B test -c "$port" || { port=; $B sleep 0.5; }
	done
	echo "$port"
}
if [ -n "$disk" ]; then
	(
		# Let the real init load the drivers and configure eth0 first.
		$B sleep 4
		while ! $B test -b /dev/vda; do $B sleep 0.5; done
		say "disk loop ${disk} MiB"
		while :; do
			$B dd if=/dev/zero of=/dev/vda bs=1M count=$disk oflag=direct 2>/dev/null
			$B dd if=/dev/vda of=/dev/null bs=1M count=$disk iflag=direct 2>/dev/null
			say "disk pass"
			$B sleep 1
		done
	) &
fi
if [ -n "$ping" ]; then
	(
		# Until the real init has configured eth0, ping fails at once: retry.
		say "ping $ping"
		while :; do
			$B ping -q -s 1000 -i 0.1 "$ping" >/dev/null 2>&1
			$B sleep 1
		done
	) &
fi
garbage() {
	port=$(find_port org.kvmpilot.agent.0)
	say "garbage on $port"
	exec 3>"$port"
	long=$($B head -c 5000 /dev/zero | $B tr '\0' 'A')
	n=0
	while :; do
		n=$((n + 1))
		case $((n % 6)) in
		0) echo "not the protocol at all $n" >&3 ;;
		1) echo "KP1 sample seq=-5 mem_total_kb=99999999999999999999999" >&3 ;;
		2) echo "KP1 sample seq=$n evil_key=1" >&3 ;;
		3) echo "$long" >&3 ;;
		4) $B printf 'KP1 sample seq=%d\000\001\377 mem\n' $n >&3 ;;
		5) echo "KP9 sample seq=$n" >&3 ;;
		esac
		$B sleep 0.2
	done
}
# The control port: opened once and kept open (each open and close makes
# libvirtd rewrite the domain status). A read returns at once while no host
# end is connected: wait and read again. Only in guests that have the port
# (kvmpilot.e2e_control=on): the others run as they did before it.
[ "$control" = on ] && (
	ctl=$(find_port CONTROL_CHANNEL)
	exec 4<"$ctl"
	say "control on $ctl"
	while :; do
		if ! read -r cmd a1 a2 a3 <&4; then
			$B sleep 0.5
			continue
		fi
		say "command $cmd $a1 $a2 $a3"
		case "$cmd" in
		memhog)
			(
				say "memhog start"
				/bin/memory_hog --min-mb "$a1" --max-mb "$a2" --hold-s "$a3" \
					--free-mb-per-s 100
				say "memhog done status=$?"
			) &
			;;
		cpuburst)
			(
				say "cpuburst start"
				/bin/cpuburst --threads "$a1" --seconds "$a2" --idle 0 --rounds 1
				say "cpuburst done status=$?"
			) &
			;;
		agent_stop) $B killall -STOP kvmpilot-agent && say "agent stopped" ;;
		agent_cont) $B killall -CONT kvmpilot-agent && say "agent continued" ;;
		garbage) garbage & ;;
		*) say "unknown command '$cmd'" ;;
		esac
	done
) &
'''.replace("CONTROL_CHANNEL", CONTROL_CHANNEL)

# A background job's stdin is /dev/null, which must exist before the real
# init mounts devtmpfs over /dev.
INIT_WRAPPER = '''#!/bin/busybox sh
/bin/busybox mknod -m 666 /dev/null c 1 3 2>/dev/console
/bin/busybox sh /kvmpilot-e2e.sh &
exec /init.kvmpilot "$@"
'''


def _cpio_newc(files):
    """files: [(name, mode, bytes)] -> a cpio newc archive with trailer."""
    out = bytearray()
    ino = 0x7e20000

    def entry(name, mode, data):
        nonlocal ino
        ino += 1
        nb = name.encode() + b"\0"
        hdr = "070701" + "".join("%08x" % v for v in (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0))
        out.extend(hdr.encode() + nb)
        out.extend(b"\0" * ((4 - len(out) % 4) % 4))
        out.extend(data)
        out.extend(b"\0" * ((4 - len(out) % 4) % 4))

    for name, mode, data in files:
        entry(name, mode, data)
    entry("TRAILER!!!", 0, b"")
    return bytes(out)


def _cpio_read(data, wanted):
    """The content of one file of a cpio newc archive."""
    off = 0
    while off + 110 <= len(data):
        hdr = data[off:off + 110]
        if hdr[:6] not in (b"070701", b"070702"):
            break
        fsize = int(hdr[54:62], 16)
        nsize = int(hdr[94:102], 16)
        name = data[off + 110:off + 110 + nsize - 1].decode()
        off = (off + 110 + nsize + 3) & ~3
        if name == wanted:
            return data[off:off + fsize]
        if name == "TRAILER!!!":
            break
        off = (off + fsize + 3) & ~3
    raise AssertionError("no %s in the guest initramfs" % wanted)


def test_image(dest):
    """A copy of the guest image with the e2e knobs; returns its folder."""
    import gzip
    src = guest_dir()
    os.makedirs(dest, exist_ok=True)
    shutil.copy(os.path.join(src, "vmlinuz"), os.path.join(dest, "vmlinuz"))
    orig = open(os.path.join(src, "initramfs.gz"), "rb").read()
    real_init = _cpio_read(gzip.decompress(orig), "init")
    extra = _cpio_newc([
        ("init", 0o100755, INIT_WRAPPER.encode()),
        ("init.kvmpilot", 0o100755, real_init),
        ("kvmpilot-e2e.sh", 0o100755, E2E_SCRIPT.encode()),
    ])
    with open(os.path.join(dest, "initramfs.gz"), "wb") as f:
        f.write(orig)
        f.write(gzip.compress(extra))
    return dest
