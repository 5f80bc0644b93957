"""/metrics passes `promtool check metrics`, and a real Prometheus scraping it
on loopback answers PromQL queries with the expected series."""
import json
import os
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from svclib import OUT, FakeQemu, Service, check, fail, free_port, need_root, wait_for  # noqa: E402

need_root()
for tool in ("promtool", "prometheus"):
    if not shutil.which(tool):
        fail("%s is missing: 'make deps' installs the Debian prometheus package" % tool)

fq = FakeQemu("svc-prom-fq", vcpus=2, duty="50")
svc = Service(name="prom")
prom = None
try:
    wait_for(lambda: "svc-prom-fq" in svc.vms() and "web1" in svc.vms(), 15, "VMs in the service")
    wait_for(lambda: b'kvmpilot_vcpu_run_seconds_total{domain="svc-prom-fq"' in svc.get("/metrics")[2], 10,
             "vCPU counters of the fake QEMU in /metrics")
    code, _, body = svc.get("/metrics")
    with open(os.path.join(OUT, "metrics.txt"), "wb") as f:
        f.write(body)
    r = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True)
    check(r.returncode == 0, "promtool check metrics: %s" % (r.stdout + r.stderr).decode().strip()[:2000] or "clean")
    for fam in [b"# TYPE kvmpilot_exits_total counter", b"# TYPE kvmpilot_exit_handling_seconds histogram",
                b"# TYPE kvmpilot_block_latency_seconds histogram", b"# TYPE kvmpilot_memory_forecast_bytes gauge",
                b"# TYPE kvmpilot_actions_total counter", b"# TYPE kvmpilot_net_rx_bytes_total counter"]:
        check(fam in body, fam.decode())
    check(b'kvmpilot_block_latency_seconds_bucket{domain="svc-prom-fq",le="+Inf"}' in body,
          "block latency histogram per domain with an +Inf bucket")

    # a real Prometheus, 1 s scrape interval, temporary storage
    pdir = os.path.join(OUT, "prometheus")
    shutil.rmtree(pdir, ignore_errors=True)
    os.makedirs(pdir)
    cfg = os.path.join(pdir, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                "scrape_configs:\n  - job_name: kvmpilot\n    static_configs:\n"
                "      - targets: ['127.0.0.1:%d']\n" % svc.port)
    pport = free_port()
    plog = open(os.path.join(pdir, "prometheus.log"), "w")
    prom = subprocess.Popen(["prometheus", "--config.file=" + cfg, "--storage.tsdb.path=" + os.path.join(pdir, "data"),
                             "--web.listen-address=127.0.0.1:%d" % pport], stdout=plog, stderr=subprocess.STDOUT)

    def query(q):
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (pport, urllib.parse.urlencode({"query": q}))
        with urllib.request.urlopen(url, timeout=5) as r:
            js = json.load(r)
        return js["data"]["result"] if js.get("status") == "success" else None

    up = wait_for(lambda: (lambda r: r if r and r[0]["value"][1] == "1" else None)(query('up{job="kvmpilot"}')),
                  60, "Prometheus to scrape kvmpilot (up == 1)")
    check(True, "Prometheus scrapes /metrics: up{job=\"kvmpilot\"} = 1")
    res = wait_for(lambda: query('kvmpilot_memory_allocation_bytes{domain="web1"}'), 20, "web1 allocation")
    check(float(res[0]["value"][1]) == 1024 * 1024 * 1024,
          "PromQL kvmpilot_memory_allocation_bytes{domain=\"web1\"} = 1 GiB")
    res = wait_for(lambda: (lambda r: r if r and len(r) == 2 else None)(
        query('rate(kvmpilot_vcpu_run_seconds_total{domain="svc-prom-fq"}[5s])')), 30,
        "a rate over the fake QEMU's vCPU run time")
    rates = sorted(float(x["value"][1]) for x in res)
    check(all(0.02 <= x <= 0.75 for x in rates) and {x["metric"]["vcpu"] for x in res} == {"0", "1"},
          "PromQL rate(kvmpilot_vcpu_run_seconds_total[5s]) for vcpu 0 and 1: %s" % rates)
    # what Prometheus stored is what /metrics said: between two direct reads around the query
    import re
    import time

    def direct():
        body = svc.get("/metrics")[2].decode()
        m = re.search(r'kvmpilot_vcpu_run_seconds_total\{domain="svc-prom-fq",vcpu="0"\} (\S+)', body)
        return float(m.group(1))
    before = direct()
    time.sleep(2.5)
    res = query('kvmpilot_vcpu_run_seconds_total{domain="svc-prom-fq",vcpu="0"}')
    after = direct()
    got = float(res[0]["value"][1])
    check(before <= got <= after and after > before,
          "PromQL vCPU0 run seconds %.3f lies between direct reads %.3f and %.3f" % (got, before, after))
    res = query('sum by (domain) (kvmpilot_actions_total{result="dry_run"})')
    check(res is not None, "actions counter is queryable by domain")
finally:
    if prom:
        prom.terminate()
        prom.wait(timeout=20)
    fq.stop()
    svc.stop()
print("all Prometheus checks passed")
