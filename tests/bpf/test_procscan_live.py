#!/usr/bin/env python3
# VM discovery on the real /proc: fake QEMU processes (build/tests/bpf/fakeqemu)
# with taps, an image file and a loop block device must be found with the right
# name, vCPU threads (also one hot-added later), taps and disks, and must drop
# out of the scan when they exit. If this breaks, `kvmpilot stat` misses VMs or
# attributes their vCPUs, taps or disks wrongly.
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

ESRCH, ENOEXEC = 3, 8

build = os.environ.get("KVMPILOT_BUILD") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
FAKEQEMU = os.path.join(build, "tests", "bpf", "fakeqemu")
DUMP = os.path.join(build, "tests", "bpf", "procscan_dump")
out_dir = os.environ.get("TEST_OUT") or tempfile.mkdtemp(prefix="procscan-live.")
os.makedirs(out_dir, exist_ok=True)

failures = []
procs = []
loopdev = None


def skip(why):
    print(why)
    sys.exit(77)


def check(cond, what):
    if cond:
        print("ok   " + what)
    else:
        print("FAIL " + what)
        failures.append(what)


def scan(*pids):
    res = subprocess.run([DUMP] + [str(p) for p in pids], capture_output=True, text=True,
                         timeout=30)
    if res.returncode != 0:
        raise RuntimeError("procscan_dump failed: " + res.stderr)
    return json.loads(res.stdout)


def by_pid(result, pid):
    for vm in result["vms"]:
        if vm["pid"] == pid:
            return vm
    return None


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise RuntimeError("timed out waiting for " + what)


def start(tag, args):
    ready = os.path.join(out_dir, tag + ".ready")
    report = os.path.join(out_dir, tag + ".json")
    for f in (ready, report):
        if os.path.exists(f):
            os.unlink(f)
    log = open(os.path.join(out_dir, tag + ".log"), "w")
    p = subprocess.Popen([FAKEQEMU] + args + ["--ready", ready, "--report", report],
                         stdout=log, stderr=log)
    procs.append(p)
    wait_for(lambda: os.path.exists(ready) or p.poll() is not None, 20, tag + " ready")
    if p.poll() is not None:
        raise RuntimeError("%s exited with %d, see %s.log" % (tag, p.returncode, tag))
    return p, report


def snapshot(p, report):
    """Ground truth from fakeqemu itself: SIGUSR1 makes it rewrite its report."""
    before = os.stat(report).st_mtime_ns if os.path.exists(report) else 0
    p.send_signal(signal.SIGUSR1)
    wait_for(lambda: os.path.exists(report) and os.stat(report).st_mtime_ns != before, 10,
             "report of %d" % p.pid)
    with open(report) as f:
        return json.load(f)


def vcpus_of(truth):
    return sorted((t["index"], t["tid"]) for t in truth["threads"] if t["role"] == "vcpu")


def ifindex(name):
    with open("/sys/class/net/%s/ifindex" % name) as f:
        return int(f.read())


def children(pid):
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        if int(st[st.rindex(")") + 2:].split()[1]) == pid:
            kids.append(int(d))
    return kids


def main():
    global loopdev
    if os.geteuid() != 0:
        skip("needs root (taps, loop devices)")
    if not os.path.exists("/dev/net/tun"):
        skip("no /dev/net/tun")
    for b in (FAKEQEMU, DUMP):
        if not os.access(b, os.X_OK):
            raise RuntimeError("missing %s: run make tests-build" % b)

    sfx = "%x" % (os.getpid() & 0xffff)
    tap_a, tap_b = "psa" + sfx, "psb" + sfx
    img = os.path.join(out_dir, "a.img")
    backing = os.path.join(out_dir, "b-backing.raw")
    with open(backing, "wb") as f:
        f.write(os.urandom(1 << 20) * 8)
    loopdev = subprocess.run(["losetup", "-f", "--show", backing], capture_output=True,
                             text=True, check=True).stdout.strip()

    # A: libvirt-style, KVM names, buffered disk from worker threads, a hot-add after 2 s
    a, a_rep = start("a", ["-name", "guest=live-a,,x,debug-threads=on", "--vcpus", "2",
                           "--duty", "5", "--add-vcpu-after", "2", "--tap", tap_a,
                           "--tap-pps", "50", "--disk", img, "--disk-mode", "threads",
                           "--disk-iops", "20", "--duration", "60"])
    t_added = time.monotonic() + 2
    # B: TCG names, "-name NAME", O_DIRECT io_submit on a loop block device
    b, b_rep = start("b", ["-name", "liveb", "--tcg", "--vcpus", "1", "--duty", "5", "--tap",
                           tap_b, "--tap-pps", "50", "--disk", loopdev, "--disk-mode",
                           "native", "--disk-iops", "20", "--duration", "60"])

    res = scan()
    check(res["err"] == 0, "full scan succeeds")
    va, vb = by_pid(res, a.pid), by_pid(res, b.pid)
    check(va is not None and vb is not None, "both fake QEMUs are found")
    peers = children(a.pid) + children(b.pid)
    check(len(peers) == 2, "each has its host peer process")
    check(all(by_pid(res, p) is None for p in peers), "the peer processes are not VMs")
    check(by_pid(res, os.getpid()) is None, "this test is not a VM")

    ta, tb = snapshot(a, a_rep), snapshot(b, b_rep)
    check(va["name"] == "live-a,x", "name from guest= with ',,' escape (%r)" % va["name"])
    check(vb["name"] == "liveb", "name from a bare -name (%r)" % vb["name"])
    got = [(v["index"], v["tid"]) for v in va["vcpus"]]
    check(got == vcpus_of(ta), "A's vCPU indices and tids %s == %s" % (got, vcpus_of(ta)))
    got = [(v["index"], v["tid"]) for v in vb["vcpus"]]
    check(got == vcpus_of(tb), "B's TCG vCPU %s == %s" % (got, vcpus_of(tb)))
    check([(t["ifname"], t["ifindex"]) for t in va["taps"]] == [(tap_a, ifindex(tap_a))],
          "A's tap %s and its ifindex" % tap_a)
    check([(t["ifname"], t["ifindex"]) for t in vb["taps"]] == [(tap_b, ifindex(tap_b))],
          "B's tap %s and its ifindex" % tap_b)
    st = os.stat(img)
    check([(d["path"], d["fd"], d["ino"], (d["major"], d["minor"])) for d in va["disks"]] ==
          [(img, ta["disk"]["fd"], st.st_ino, (os.major(st.st_dev), os.minor(st.st_dev)))],
          "A's image file: path, fd, st_dev, st_ino")
    st = os.stat(loopdev)
    check([(d["path"], d["fd"], (d["major"], d["minor"])) for d in vb["disks"]] ==
          [(loopdev, tb["disk"]["fd"], (os.major(st.st_rdev), os.minor(st.st_rdev)))],
          "B's loop block device: path, fd, st_rdev")
    with open("/proc/%d/stat" % a.pid) as f:
        start_time = int(f.read().rsplit(")", 1)[1].split()[19])
    check(va["start_time"] == start_time, "start time from /proc/PID/stat field 22")

    # selected pids
    res = scan(b.pid, a.pid)
    check(res["err"] == 0 and [v["pid"] for v in res["vms"]] == [b.pid, a.pid],
          "--pid B --pid A: both, in that order")
    res = scan(a.pid, peers[0])
    check(res["err"] == -ENOEXEC and [v["pid"] for v in res["vms"]] == [a.pid],
          "a non-QEMU pid is refused (-ENOEXEC) and A still reported")
    tid = va["vcpus"][0]["tid"]
    res = scan(tid)
    check(res["err"] == -ESRCH and not res["vms"], "a vCPU thread id is not a process")

    # hot-add: the third vCPU appears with its index and tid
    time.sleep(max(0, t_added - time.monotonic()) + 0.3)
    ta = snapshot(a, a_rep)
    check(len(vcpus_of(ta)) == 3, "fakeqemu added vCPU 2")
    res = wait_for(lambda: (lambda r: r if by_pid(r, a.pid) and len(by_pid(r, a.pid)["vcpus"]) == 3
                            else None)(scan()), 5, "the hot-added vCPU in the scan")
    got = [(v["index"], v["tid"]) for v in by_pid(res, a.pid)["vcpus"]]
    check(got == vcpus_of(ta), "hot-added vCPU found: %s == %s" % (got, vcpus_of(ta)))

    # short-lived VMs appearing and exiting while we scan: no error, no stale entry
    seen, errors, churn = set(), 0, []
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if sum(c.poll() is None for c in churn) < 3:
            churn.append(subprocess.Popen([FAKEQEMU, "-name", "guest=churn", "--vcpus", "2",
                                           "--duty", "1", "--duration", "0.3"]))
            procs.append(churn[-1])
        r = scan()
        errors += r["err"] != 0
        seen.update(v["pid"] for v in r["vms"] if v["name"] == "churn")
    for c in churn:
        c.wait(timeout=10)
    check(all(c.returncode == 0 for c in churn), "%d short-lived fakeqemus exit 0" % len(churn))
    check(errors == 0, "scans during process churn never fail")
    check(len(seen) >= 1, "short-lived fake QEMUs were seen (%d)" % len(seen))
    res = scan()
    check(not [v for v in res["vms"] if v["name"] == "churn"], "exited ones are gone")

    # exit: A drops out, B stays
    a.send_signal(signal.SIGTERM)
    a.wait(timeout=20)
    check(a.returncode == 0, "fakeqemu exits 0 on SIGTERM")
    res = scan()
    check(by_pid(res, a.pid) is None and by_pid(res, b.pid) is not None,
          "after A exits only B is reported")
    res = scan(a.pid)
    check(res["err"] == -ESRCH, "an exited pid is -ESRCH")
    check(not os.path.exists("/sys/class/net/" + tap_a), "A's tap went away with it")
    with open(a_rep) as f:
        final = json.load(f)
    check(final["final"] and final["disk"]["write_ops"] + final["disk"]["read_ops"] > 0,
          "A's final report has disk I/O")
    b.send_signal(signal.SIGTERM)
    b.wait(timeout=20)
    res = scan()
    check(by_pid(res, b.pid) is None, "after B exits it is gone too")


try:
    main()
except Exception as e:  # noqa: a test harness reports every error
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
