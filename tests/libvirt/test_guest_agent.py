#!/usr/bin/env python3
"""One real guest under libvirt: boot the kvmpilot image, read agent samples
on the host with 'kvmpilot agent', balloon the guest down and up and see
MemTotal follow, hot-add a vCPU and online it through the agent, then
offline it through the agent. Needs root, libvirtd and QEMU; ~1-2 minutes."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

NAME = "kp-test-agent"
UUID = "6b7d0b0e-5a1e-4c1d-9f00-6b7061676e74"
TAP = "kpagt0"
URI = "qemu:///system"
SRC = os.environ.get("KVMPILOT_SRC", os.path.abspath(os.path.join(os.path.dirname(__file__), "../..")))
BUILD = os.environ.get("KVMPILOT_BUILD", os.path.join(SRC, "build"))
KP = os.environ.get("KVMPILOT", os.path.join(BUILD, "kvmpilot"))
OUT = os.environ.get("TEST_OUT", "/tmp/" + NAME)
DIR = "/var/lib/libvirt/kvmpilot-test/" + NAME
MAXMEM, CURMEM = 512, 384


def log(msg):
    print("%7.1f %s" % (time.monotonic() - T0, msg), flush=True)


def skip(why):
    print("skip: " + why)
    sys.exit(77)


def fail(why):
    log("FAIL: " + why)
    sys.exit(1)


def run(*args, check=True, timeout=60):
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        fail("%s failed (%d): %s %s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
    return p


def virsh(*args, check=True):
    """Retried for a while: other tests on this host restart libvirtd. One
    call may take minutes: a libvirtd that re-probes QEMU at every define
    took 30-60 s per define on some machines (README, "Troubleshooting")."""
    deadline = time.monotonic() + (45 if check else 0)
    while True:
        p = run("virsh", "-q", "-c", URI, *args, check=False, timeout=600)
        if p.returncode == 0 or not check:
            return p
        if time.monotonic() > deadline:
            fail("virsh %s failed (%d): %s %s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
        time.sleep(1)


def agent(*args, timeout=40, by_name=False):
    """Run 'kvmpilot agent --json ARGS' on the domain's socket (or by NAME through
    libvirt), return the JSON objects printed."""
    target = [NAME] if by_name else ["--socket", os.path.join(DIR, "agent.sock")]
    p = run(KP, "agent", *target, "--json", "--timeout", "20", *args, check=False, timeout=timeout)
    objs = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    return p.returncode, objs, p.stderr


LAST_ERR = [""]


def sample():
    rc, objs, err = agent("--count", "1")
    if rc != 0 or not objs or "mem_total_kb" not in objs[-1]:
        LAST_ERR[0] = "rc=%d %s %s" % (rc, objs, err.strip())
        return None
    return objs[-1]


def wait_sample(pred, what, timeout=90, setup=None):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if setup:
            setup()
        s = sample()
        if s is not None:
            last = s
            if pred(s):
                return s
        else:
            time.sleep(0.5)
    fail("timed out waiting for %s; last sample: %s; last error: %s" % (what, json.dumps(last), LAST_ERR[0]))


def virt_type():
    """kvm only with hardware virtualization: this host's /dev/kvm is kvm_pvm
    without VMX/SVM, which hangs a stock Debian guest kernel without output."""
    forced = os.environ.get("KVMPILOT_VIRT_TYPE")
    if forced in ("kvm", "qemu"):
        return forced
    with open("/proc/cpuinfo") as f:
        hw = re.search(r"\b(vmx|svm)\b", f.read()) is not None
    return "kvm" if hw and os.path.exists("/dev/kvm") else "qemu"


def daemons():
    if shutil.which("virsh") is None or shutil.which("libvirtd") is None:
        skip("libvirt is not installed (run 'make deps')")
    if subprocess.run(["pgrep", "-x", "virtlogd"], capture_output=True).returncode != 0:
        run("virtlogd", "-d")
    if subprocess.run(["pgrep", "-x", "libvirtd"], capture_output=True).returncode != 0:
        run("libvirtd", "-d")
    for _ in range(60):
        if virsh("version", check=False).returncode == 0:
            return
        time.sleep(0.5)
    fail("libvirtd does not answer on " + URI)


def cleanup():
    virsh("destroy", NAME, check=False)
    virsh("undefine", NAME, check=False)
    for f in ("console.log",):
        try:
            shutil.copy(os.path.join(DIR, f), OUT)
        except OSError:
            pass
    shutil.rmtree(DIR, ignore_errors=True)


def main():
    if os.geteuid() != 0:
        skip("needs root (libvirt system domains)")
    daemons()
    os.makedirs(OUT, exist_ok=True)
    img = os.path.join(SRC, "guest", "out")
    if not (os.path.exists(os.path.join(img, "vmlinuz")) and os.path.exists(os.path.join(img, "initramfs.gz"))):
        log("building the guest image")
        run("make", "-C", SRC, "-s", "guest", timeout=600)
    cleanup()  # leftovers of an interrupted run
    os.makedirs(DIR)
    for f in ("vmlinuz", "initramfs.gz"):
        shutil.copy(os.path.join(img, f), DIR)
    with open(os.path.join(DIR, "disk.raw"), "wb") as f:
        f.truncate(16 << 20)
    run("chown", "-R", "libvirt-qemu", DIR)
    os.chmod(os.path.dirname(DIR), 0o755)
    with open(os.path.join(os.path.dirname(__file__), "guest-domain.xml.in")) as f:
        xml = f.read()
    subst = {"@TYPE@": virt_type(), "@NAME@": NAME,
             "@UUID@": UUID, "@MAXMEM@": str(MAXMEM), "@CURMEM@": str(CURMEM), "@MAXCPUS@": "2",
             "@DIR@": DIR, "@TAP@": TAP, "@CMDLINE@": "kvmpilot.workload=memhog kvmpilot.memhog=60,80,40 kvmpilot.ip=192.0.2.2/24"}
    for k, v in subst.items():
        xml = xml.replace(k, v)
    xml_path = os.path.join(OUT, NAME + ".xml")
    with open(xml_path, "w") as f:
        f.write(xml)
    virsh("define", xml_path)
    t_start = time.monotonic()
    virsh("start", NAME)
    log("started %s" % NAME)

    first = wait_sample(lambda s: True, "the first agent sample", timeout=180)
    # NAME is resolved to the channel socket through libvirt's domain XML.
    for _ in range(30):
        rc, objs, err = agent("--count", "1", by_name=True)
        if rc == 0:
            break
        time.sleep(1)
    if rc != 0 or objs[-1].get("vm") != NAME or "mem_total_kb" not in objs[-1]:
        fail("kvmpilot agent %s: rc=%d %s %s" % (NAME, rc, objs, err))
    boot_to_sample = time.monotonic() - t_start
    log("first sample %.1f s after start: %s" % (boot_to_sample, json.dumps(first)))
    if LAST_ERR[0]:
        log("before it: %s" % LAST_ERR[0])
    for k in ("seq", "agent_version", "mem_total_kb", "mem_available_kb", "mem_free_kb", "cached_kb",
              "swap_used_kb", "cpus_online", "cpus_present", "net_rx_bytes",
              "disk_read_bytes", "psi_memory_some_avg10"):
        if k not in first:
            fail("sample lacks '%s'" % k)
    if first["source"] != "agent" or first["cpus_online"] != 1 or first["cpus_present"] != 1:
        fail("unexpected first sample %s" % first)

    s = sample()
    if s is None or not 0 <= s.get("cpu_busy_pct", -1) <= 100:
        fail("no CPU busy %% in a later sample: %s" % s)

    # Sample latency: report-now until the sample arrives.
    t = time.monotonic()
    rc, objs, err = agent("--report-now")
    lat = time.monotonic() - t
    if rc != 0 or len(objs) != 2 or objs[0].get("rc") != 0 or "mem_total_kb" not in objs[1]:
        fail("report-now: rc=%d %s %s" % (rc, objs, err))
    log("report-now round trip incl. connect: %.0f ms" % (lat * 1000))

    # MemTotal follows the balloon: MemTotal = full - (max - target), where full is
    # MemTotal with the balloon empty. Every wait re-applies our target, because an
    # autoscaler run by another test on this host may act on every domain it sees.
    def balloon(mib, pred, what):
        t = time.monotonic()
        s = wait_sample(pred, what, setup=lambda: virsh("setmem", NAME, "%dM" % mib, "--live"))
        log("balloon to %d MiB: MemTotal %d KiB after %.1f s" % (mib, s["mem_total_kb"], time.monotonic() - t))
        return s["mem_total_kb"]

    prev = [None]

    def settled(s):
        """Above 85% of the maximum and the same in two samples in a row."""
        ok = s["mem_total_kb"] > MAXMEM * 1024 * 85 // 100 and s["mem_total_kb"] == prev[0]
        prev[0] = s["mem_total_kb"]
        return ok

    full = balloon(MAXMEM, settled, "an empty balloon")
    low = balloon(256, lambda s: abs(s["mem_total_kb"] - (full - (MAXMEM - 256) * 1024)) <= 4096,
                  "MemTotal to follow the balloon down to 256 MiB")
    high = balloon(448, lambda s: abs(s["mem_total_kb"] - (full - (MAXMEM - 448) * 1024)) <= 4096,
                   "MemTotal to follow the balloon up to 448 MiB")
    if not (low < high < full):
        fail("MemTotal did not follow the balloon: %d %d %d" % (full, low, high))

    virsh("setvcpus", NAME, "2", "--live")
    s = wait_sample(lambda s: s["cpus_present"] == 2, "the hot-added vCPU to be present")
    if s["cpus_online"] != 1:
        fail("hot-added vCPU came up online by itself: %s" % s)
    log("vCPU hot-added: cpus %d/%d" % (s["cpus_online"], s["cpus_present"]))

    rc, objs, err = agent("--set-cpus", "2", "--count", "1")
    if rc != 0 or len(objs) != 2:
        fail("set-cpus 2: rc=%d %s %s" % (rc, objs, err))
    ack, s = objs
    if ack.get("op") != "set-cpus" or ack.get("rc") != 0 or ack.get("cpus_online") != 2:
        fail("set-cpus 2 ack: %s" % ack)
    if s["cpus_online"] != 2 or s["cpus_present"] != 2:
        fail("sample after set-cpus 2: %s" % s)
    log("onlined through the agent: ack %s, cpus %d/%d" % (ack, s["cpus_online"], s["cpus_present"]))

    rc, objs, err = agent("--set-cpus", "1", "--count", "1")
    if rc != 0 or len(objs) != 2 or objs[0].get("rc") != 0 or objs[0].get("cpus_online") != 1:
        fail("set-cpus 1: rc=%d %s %s" % (rc, objs, err))
    if objs[1]["cpus_online"] != 1 or objs[1]["cpus_present"] != 2:
        fail("sample after set-cpus 1: %s" % objs[1])
    log("offlined through the agent: cpus %d/%d" % (objs[1]["cpus_online"], objs[1]["cpus_present"]))

    # Asking for more CPUs than present is refused with a clear error, not acted on.
    rc, objs, err = agent("--set-cpus", "3", "--count", "0")
    if rc == 0 or not objs or objs[0].get("rc") != -34:
        fail("set-cpus 3 should fail with ERANGE: rc=%d %s %s" % (rc, objs, err))
    log("set-cpus above present refused: %s" % objs[0])

    # The memhog workload (60-80 MiB, freed at 40 MiB/s) shows up as a sawtooth.
    avail = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and (len(avail) < 4 or max(avail) - min(avail) < 40 * 1024):
        s = sample()
        if s:
            avail.append(s["mem_available_kb"])
    if len(avail) < 4 or max(avail) - min(avail) < 40 * 1024:
        fail("memhog does not show in MemAvailable: %s" % avail)
    log("memhog sawtooth: MemAvailable between %d and %d KiB" % (min(avail), max(avail)))

    with open(os.path.join(DIR, "console.log"), errors="replace") as f:
        console = f.read()
    for want in ("kvmpilot: ready workload=memhog", "memhog: filled size_mb=",
                 "kvmpilot: eth0 address 192.0.2.2/24", "kvmpilot: psi available",
                 "kvmpilot-agent: transport open (org.kvmpilot.agent.0)"):
        if want not in console:
            fail("console log lacks '%s'" % want)
    print("measured: boot_to_first_sample_s=%.1f (guest uptime %.1f s) report_now_ms=%.0f"
          % (boot_to_sample, first["uptime_ms"] / 1000.0, lat * 1000))
    log("ok")


T0 = time.monotonic()
if __name__ == "__main__":
    # The runner's timeout sends SIGTERM: still destroy the domain.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        main()
    finally:
        if os.geteuid() == 0:
            cleanup()
