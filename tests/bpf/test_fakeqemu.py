#!/usr/bin/env python3
# fakeqemu's ground truth against the kernel's own counters: the real-kernel
# tests of `kvmpilot stat` compare BPF numbers with fakeqemu's report, so the
# report must be right. Tap: the host's interface counters (host rx = guest
# tx, host tx = guest rx). Disk: /proc/diskstats of a loop device in the two
# O_DIRECT modes. vCPUs: the burnt CPU time follows the duty cycle.
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

build = os.environ.get("KVMPILOT_BUILD") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
FAKEQEMU = os.path.join(build, "tests", "bpf", "fakeqemu")
out_dir = os.environ.get("TEST_OUT") or tempfile.mkdtemp(prefix="fakeqemu.")
os.makedirs(out_dir, exist_ok=True)
failures = []
procs = []
loopdev = None


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise RuntimeError("timed out waiting for " + what)


def run(tag, args):
    ready = os.path.join(out_dir, tag + ".ready")
    report = os.path.join(out_dir, tag + ".json")
    log = open(os.path.join(out_dir, tag + ".log"), "w")
    p = subprocess.Popen([FAKEQEMU] + args + ["--ready", ready, "--report", report],
                         stdout=log, stderr=log)
    procs.append(p)
    wait_for(lambda: os.path.exists(ready) or p.poll() is not None, 20, tag + " ready")
    if p.poll() is not None:
        raise RuntimeError("%s exited with %d, see %s.log" % (tag, p.returncode, tag))
    return p, report


def netstat(ifname, name):
    with open("/sys/class/net/%s/statistics/%s" % (ifname, name)) as f:
        return int(f.read())


def diskstats(dev):
    name = os.path.basename(dev)
    with open("/proc/diskstats") as f:
        for line in f:
            v = line.split()
            if v[2] == name:
                return {"read_ops": int(v[3]), "read_bytes": int(v[5]) * 512,
                        "write_ops": int(v[7]), "write_bytes": int(v[9]) * 512}
    raise RuntimeError("no %s in /proc/diskstats" % name)


def within(got, want, rel):
    return abs(got - want) <= rel * max(want, 1)


def test_tap_and_vcpus():
    tap = "fqt%x" % (os.getpid() & 0xffff)
    p, rep = run("tap", ["-name", "guest=fq,debug-threads=on", "--vcpus", "2", "--duty",
                         "20,40", "--tap", tap, "--tap-pps", "400", "--tap-size", "300"])
    time.sleep(3)
    # stop the traffic first (SIGTERM), but read the tap counters while it exists:
    # snapshot both sides right after each other instead
    before = os.stat(rep).st_mtime_ns if os.path.exists(rep) else 0
    p.send_signal(signal.SIGUSR1)
    host = {k: netstat(tap, k) for k in ("rx_packets", "rx_bytes", "tx_packets", "tx_bytes")}
    wait_for(lambda: os.path.exists(rep) and os.stat(rep).st_mtime_ns != before, 10, "report")
    with open(rep) as f:
        snap = json.load(f)
    n = snap["net"]
    print("host %s, fakeqemu %s" % (host, n))
    check(n["tx_packets"] > 1000 and n["rx_packets"] > 1000, "frames flow both ways")
    check(n["tx_bytes"] == 300 * n["tx_packets"] and n["rx_bytes"] == 300 * n["rx_packets"],
          "bytes are frame lengths")
    check(within(host["rx_packets"], n["tx_packets"], 0.02) and
          within(host["rx_bytes"], n["tx_bytes"], 0.02),
          "guest tx == host rx on %s (%d vs %d)" % (tap, n["tx_packets"], host["rx_packets"]))
    check(within(host["tx_packets"], n["rx_packets"], 0.02) and
          within(host["tx_bytes"], n["rx_bytes"], 0.02),
          "guest rx == host tx on %s (%d vs %d)" % (tap, n["rx_packets"], host["tx_packets"]))
    check(n["rx_foreign_packets"] == 0, "no stray host frames (IPv6 off)")
    rate = n["tx_packets"] / (snap["elapsed_ns"] / 1e9)
    check(within(rate, 400, 0.05), "tx rate %.1f pps for 400" % rate)

    p.send_signal(signal.SIGTERM)
    p.wait(timeout=20)
    check(p.returncode == 0, "exit 0 on SIGTERM")
    with open(rep) as f:
        fin = json.load(f)
    n = fin["net"]
    check(n["peer_sent_packets"] == n["rx_packets"] and n["peer_send_errors"] == 0,
          "every frame the host peer sent was read (%d/%d)" % (n["rx_packets"],
                                                               n["peer_sent_packets"]))
    el = fin["elapsed_ns"]
    for t in fin["threads"]:
        if t["role"] != "vcpu":
            continue
        want = t["duty_pct"] / 100 * el
        # the host is shared: a vCPU may get less CPU than asked, never much more
        check(0.5 * want <= t["run_ns"] <= 1.1 * want,
              "%s burnt %.0f ms for %.0f ms asked" % (t["name"], t["run_ns"] / 1e6, want / 1e6))


def test_disk(mode, rw):
    before = diskstats(loopdev)
    p, rep = run("disk-%s-%s" % (mode, rw),
                 ["--vcpus", "0", "--disk", loopdev, "--disk-mode", mode, "--disk-rw", rw,
                  "--disk-bs", "8192", "--disk-iops", "300", "--duration", "2"])
    p.wait(timeout=30)
    after = diskstats(loopdev)
    with open(rep) as f:
        d = json.load(f)["disk"]
    key = rw + "_bytes"
    got = after[key] - before[key]
    print("%s %s: fakeqemu %s, diskstats delta %d bytes" % (mode, rw, d, got))
    check(d[rw + "_ops"] > 400 and d["errors"] == 0, "%s %s: I/O completed" % (mode, rw))
    check(d[key] == d[rw + "_ops"] * 8192, "%s %s: bytes == ops x bs" % (mode, rw))
    check(got == d[key], "%s %s: block layer saw exactly %d bytes" % (mode, rw, d[key]))


def main():
    global loopdev
    if os.geteuid() != 0:
        print("needs root (taps, loop devices)")
        sys.exit(77)
    res = subprocess.run([FAKEQEMU, "--help"], capture_output=True, text=True)
    check(res.returncode == 0 and "--disk-mode" in res.stdout, "--help documents the options")
    res = subprocess.run([FAKEQEMU, "--disk-mode", "bogus"], capture_output=True, text=True)
    check(res.returncode == 2 and "bogus" in res.stderr, "a bad option is a clear error")
    res = subprocess.run([FAKEQEMU, "--disk", "/nonexistent/dir/x.img"], capture_output=True,
                         text=True)
    check(res.returncode == 1 and "/nonexistent/dir/x.img" in res.stderr,
          "an unusable disk is a clear error")

    test_tap_and_vcpus()

    backing = os.path.join(out_dir, "loop.raw")
    with open(backing, "wb") as f:
        f.write(os.urandom(1 << 20) * 16)
    loopdev = subprocess.run(["losetup", "-f", "--show", backing], capture_output=True,
                             text=True, check=True).stdout.strip()
    for mode in ("native", "io_uring"):
        for rw in ("read", "write"):
            test_disk(mode, rw)


try:
    main()
except Exception as e:  # noqa: report every error as a failure
    print("FAIL exception: %s" % e)
    failures.append(str(e))
finally:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    if loopdev:
        subprocess.run(["losetup", "-d", loopdev])

if failures:
    print("%d check(s) failed" % len(failures))
    sys.exit(1)
print("all checks passed")
