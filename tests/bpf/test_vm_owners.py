#!/usr/bin/env python3
# Who may be a VM, and what leaves the process (issue 13, item 2), with the
# service itself: a fake QEMU run by 'nobody' names its thread "CPU 0/KVM" and
# must not be a VM (counted in /healthz and kvmpilot_procscan_refused_total);
# a root fake QEMU whose -name holds invalid UTF-8, escape bytes, '"' and '\'
# is a VM whose name is valid UTF-8 in the JSON API and in /metrics, which
# must parse strictly (the exposition grammar, as promtool reads it) or
# Prometheus drops every VM. Also: the soft RLIMIT_NOFILE is raised to the
# hard limit, and a VM's CSV file is closed once the VM is gone.
import json
import os
import re
import resource
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "service"))
import svclib  # noqa: E402
from svclib import check, fail, skip, wait_for  # noqa: E402

if os.geteuid() != 0:
    skip("skip: needs root (BPF, setpriv)")
if not os.path.exists(svclib.FAKEQEMU):
    fail("%s is missing: run 'make tests-build'" % svclib.FAKEQEMU)

BAD_NAME = b'bad\xff\x1b[2J"q\\\xc3('  # invalid UTF-8, ESC, quote, backslash, cut sequence
BAD_CLEAN = 'bad??[2J"q\\?('  # vm.h's name rule: each bad byte one '?'

procs = []


def fakeqemu(tag, name, user=None):
    d = os.path.join(svclib.OUT, "fq")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o777)  # nobody writes its ready file here
    ready = os.path.join(d, tag + ".ready")
    if os.path.exists(ready):
        os.unlink(ready)
    cmd = [svclib.FAKEQEMU.encode(), b"-name", b"guest=" + name + b",debug-threads=on",
           b"--vcpus", b"1", b"--duty", b"5", b"--ready", ready.encode()]
    if user:
        cmd = [b"setpriv", b"--reuid=%d" % user, b"--regid=%d" % user,
               b"--clear-groups", b"--"] + cmd
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(p)
    wait_for(lambda: os.path.exists(ready) or p.poll() is not None, 15, tag + " ready")
    if p.poll() is not None:
        fail("fakeqemu %s exited with %s" % (tag, p.returncode))
    return p


# The exposition format, line by line (text format 0.0.4).
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r"^(%s)(\{(?:%s)(?:,%s)*,?\}|\{\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)( -?[0-9]+)?$" %
                    (NAME, LABEL, LABEL))
HELP = re.compile(r"^# HELP (%s) .*$" % NAME)
TYPE = re.compile(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$" % NAME)


def parse_metrics(body):
    """Every line of /metrics strictly, the way promtool would refuse it."""
    text = body.decode("utf-8")  # strict: invalid UTF-8 raises
    series = {}
    typed = set()
    for n, line in enumerate(text.split("\n"), 1):
        if line == "":
            continue
        m = TYPE.match(line)
        if m:
            if m.group(1) in typed:
                fail("/metrics line %d: a second TYPE for %s" % (n, m.group(1)))
            typed.add(m.group(1))
            continue
        if HELP.match(line):
            continue
        m = SAMPLE.match(line)
        if not m:
            fail("/metrics line %d does not parse: %r" % (n, line))
        key = m.group(1) + (m.group(2) or "")
        if key in series:
            fail("/metrics line %d: series %s twice" % (n, key))
        series[key] = float(m.group(3))
    return series


def unescape_label(v):
    return re.sub(r'\\(.)', lambda m: "\n" if m.group(1) == "n" else m.group(1), v)


def strict_json(svc, path):
    code, _, body = svc.get(path)
    check(code == 200, "%s answers 200" % path)
    return json.loads(body.decode("utf-8"))  # strict UTF-8 decoder, then JSON


soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if hard > 256:
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))  # the service inherits 256
os.makedirs(svclib.OUT, exist_ok=True)
cfg = os.path.join(svclib.OUT, "owners.ini")
with open(cfg, "w") as f:
    f.write("[global]\nprocscan_ticks = 1\n")
svc = svclib.Service("--tick-ms", "200", name="owners", config=cfg)
try:
    with open("/proc/%d/limits" % svc.proc.pid) as f:
        lim = [ln for ln in f if ln.startswith("Max open files")][0].split()
    check(lim[3] == lim[4], "the service raised its soft RLIMIT_NOFILE to the hard limit (%s %s)"
          % (lim[3], lim[4]))

    good = fakeqemu("root-ok", b"owner-ok")
    bad = fakeqemu("root-badname", BAD_NAME)
    poser = fakeqemu("nobody", b"poser", user=65534)  # nobody

    def vms_by_pid():
        return {v["pid"]: v for v in strict_json(svc, "/api/v1/vms")["vms"] if v.get("pid")}

    vms = wait_for(lambda: (lambda v: v if good.pid in v and bad.pid in v else None)(vms_by_pid()),
                   20, "the root fake QEMUs in /api/v1/vms")
    check(vms[good.pid]["name"] == "owner-ok", "a root QEMU is a VM")
    check(vms[bad.pid]["name"] == BAD_CLEAN,
          "a name of invalid UTF-8 and escapes is kept by the name rule: %r" % vms[bad.pid]["name"])
    h = wait_for(lambda: (lambda j: j if j["procscan_refused"]["owner"] >= 1 else None)(
        strict_json(svc, "/healthz")), 10, "a refused QEMU in /healthz")
    time.sleep(1)  # a few more full scans
    check(poser.pid not in vms_by_pid(), "a QEMU of 'nobody' naming its thread CPU 0/KVM is no VM")
    check(all(v["name"] != "poser" for v in strict_json(svc, "/api/v1/vms")["vms"]),
          "... not under its name either")
    check("sync_failures" in h["bpf"], "/healthz says the tracer's sync failures")

    code, _, body = svc.get("/metrics")
    check(code == 200, "/metrics answers 200")
    series = parse_metrics(body)
    check(True, "/metrics parses strictly (%d series, valid UTF-8)" % len(series))
    check(series.get('kvmpilot_procscan_refused_total{reason="owner"}', 0) >= 1,
          "kvmpilot_procscan_refused_total{reason=\"owner\"} counts the poser")
    check('kvmpilot_procscan_refused_total{reason="limit"}' in series,
          "kvmpilot_procscan_refused_total{reason=\"limit\"} is there")
    domains = set()
    for key in series:
        for m in re.finditer(r'domain="((?:[^"\\]|\\.)*)"', key):
            domains.add(unescape_label(m.group(1)))
    check(BAD_CLEAN in domains, "the bad name is one domain label, escaped and unescaped back")
    check("poser" not in domains, "the poser has no series")

    # every JSON endpoint a client reads: strictly UTF-8
    strict_json(svc, "/api/v1/actions")
    one = strict_json(svc, "/api/v1/vms/" + urllib.parse.quote(BAD_CLEAN, safe=""))
    check(one["name"] == BAD_CLEAN, "the bad-named VM is found under its published name")

    # the CSV of a VM that is gone is closed (the last snapshot's reference goes a tick later)
    data = os.path.realpath(svc.data)

    def open_csvs():
        out = set()
        for fd in os.listdir("/proc/%d/fd" % svc.proc.pid):
            try:
                t = os.readlink("/proc/%d/fd/%s" % (svc.proc.pid, fd))
            except OSError:
                continue
            if t.startswith(data + "/") and ".csv" in t:
                out.add(os.path.basename(t))
        return out

    check("owner-ok.csv" in open_csvs(), "a live VM's CSV is open")
    bad_csvs = {c for c in open_csvs() if c.startswith("bad")}
    check(len(bad_csvs) == 1, "the bad-named VM has one CSV, with a file-safe name: %s" % bad_csvs)
    bad.terminate()
    bad.wait(timeout=10)
    wait_for(lambda: not (bad_csvs & open_csvs()), 10, "the gone VM's CSV to be closed")
    check(True, "the CSV of a VM that is gone is closed")
    check("owner-ok.csv" in open_csvs(), "the other VM's CSV stays open")
    check(svc.alive(), "the service runs on")
finally:
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
    svc.stop()
print("ok: all")
