# SPDX-License-Identifier: GPL-2.0
"""Pinned maps: bpftool shows named fields; a restarted stat reuses the maps
and the counters continue; one tracer per pin root; unpin removes them;
KVMPILOT_PIN_ROOT moves the pins."""
import json
import os
import subprocess

from kptest import KVMPILOT, Fake, Stat, check, pin_root, require_root, vm_of

require_root()
root = pin_root("pins")
tap = "kpp%d" % (os.getpid() % 100000)
fake = Fake("--vcpus", "1", "--duty", "30", "--tap", tap, "--tap-pps", "100",
            "--disk", os.path.join(os.environ.get("TEST_OUT", "/tmp"), "pins.img"),
            "--disk-iops", "50", "--duration", "30", name="pins")


def bpftool(*args):
    res = subprocess.run(["bpftool"] + list(args), capture_output=True, text=True)
    check(res.returncode == 0, "bpftool %s" % " ".join(args))
    return res.stdout


def vcpu_entry():
    """The fake's vCPU entry, as bpftool prints it from BTF."""
    for e in json.loads(bpftool("-j", "map", "dump", "pinned", root + "/vcpus")):
        f = e.get("formatted", {})
        if f.get("value", {}).get("tgid") == fake.pid:
            return f["value"]
    return None


def map_id(name):
    return json.loads(bpftool("-j", "map", "show", "pinned", "%s/%s" % (root, name)))["id"]


def run_stat(count):
    res = subprocess.run([KVMPILOT, "stat", "--json", "--pin-root", root, "--pid", str(fake.pid),
                          "--interval", "1", "--count", str(count)],
                         capture_output=True, text=True, timeout=30)
    check(res.returncode == 0, "stat --count %d exits 0" % count)
    return [json.loads(s) for s in res.stdout.splitlines()]


run_stat(2)
for name in ("tgids", "vms", "vcpus", "taps", "disk_fds", "disk_devs", "blk", "exits"):
    check(os.path.exists("%s/%s" % (root, name)), "map '%s' is pinned" % name)
text = bpftool("map", "dump", "pinned", root + "/vcpus")
for field in ("tgid", "index", "run_ns", "wait_ns", "exits"):
    check('"%s":' % field in text, "bpftool dump of vcpus names the field '%s'" % field)
text = bpftool("map", "dump", "pinned", root + "/taps")
check('"rx_bytes":' in text and '"tx_packets":' in text, "bpftool dump of taps names its fields")
text = bpftool("map", "dump", "pinned", root + "/vms")
check('"emu_run_ns":' in text and str(fake.pid) in text, "bpftool dump of vms shows the VM")

v1 = vcpu_entry()
check(v1 is not None and v1["run_ns"] > 0, "the vCPU has run time in the pinned map")
id1 = map_id("vcpus")

# Restart: same maps, counters continue from where they were.
run_stat(1)
v2 = vcpu_entry()
check(map_id("vcpus") == id1, "a restarted stat reuses the pinned map (id %d)" % id1)
check(v2["run_ns"] > v1["run_ns"], "counters continue: %d -> %d" % (v1["run_ns"], v2["run_ns"]))

# One tracer per pin root: a second one would count every event twice.
first = Stat("--pid", str(fake.pid), "--interval", "1", root=root, tag="pins-first")
first.line()
res = subprocess.run([KVMPILOT, "stat", "--json", "--pin-root", root, "--count", "1"],
                     capture_output=True, text=True, timeout=30)
check(res.returncode != 0, "a second stat on the same pin root fails")
check("another kvmpilot" in json.loads(res.stdout.splitlines()[0])["error"],
      "with a JSON error naming the cause")
res = subprocess.run([KVMPILOT, "unpin", "--pin-root", root], capture_output=True, text=True)
check(res.returncode == 1 and "in use" in res.stderr, "unpin refuses while stat runs")
first.stop()

# KVMPILOT_PIN_ROOT moves the pins; unpin removes the folder.
env_root = pin_root("env")
res = subprocess.run([KVMPILOT, "stat", "--json", "--count", "1", "--interval", "0.2", "--pid",
                      str(fake.pid)], capture_output=True, text=True, timeout=30,
                     env=dict(os.environ, KVMPILOT_PIN_ROOT=env_root))
check(res.returncode == 0 and os.path.exists(env_root + "/vcpus"),
      "KVMPILOT_PIN_ROOT sets the pin folder")
for r in (root, env_root):
    res = subprocess.run([KVMPILOT, "unpin", "--pin-root", r], capture_output=True, text=True)
    check(res.returncode == 0 and not os.path.exists(r), "unpin removes '%s'" % r)
res = subprocess.run([KVMPILOT, "unpin", "--pin-root", root], capture_output=True, text=True)
check(res.returncode == 0, "unpin of nothing succeeds")

# Pins of another kvmpilot version (another layout) are replaced, with a warning.
old = pin_root("old")
os.makedirs(old)
bpftool("map", "create", old + "/vcpus", "type", "hash", "key", "4", "value", "8", "entries",
        "16", "name", "vcpus")
res = subprocess.run([KVMPILOT, "stat", "--json", "--pin-root", old, "--pid", str(fake.pid),
                      "--count", "1", "--interval", "0.5"], capture_output=True, text=True,
                     timeout=30)
check(res.returncode == 0 and "replaced the maps" in res.stderr,
      "stale pins of another layout are replaced, with a warning")
info = json.loads(bpftool("-j", "map", "show", "pinned", old + "/vcpus"))
check(info["bytes_value"] > 8, "the new vcpus map is pinned (value %d bytes)" % info["bytes_value"])
fake.stop()
