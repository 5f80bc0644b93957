"""The JSON API over real HTTP: every endpoint, 404/400/405/413/414/431,
oversized requests, clients that disconnect mid-request, libvirt down."""
import csv
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from svclib import FakeAgent, FakeQemu, Service, check, fail, need_root, wait_for  # noqa: E402

need_root()
fq = FakeQemu("svc-api-fq", vcpus=2, duty="70,10")
# web1's agent channel (tests/data/libvirt-node.xml): 512 MiB used of 1024
agent = FakeAgent("/run/kvmpilot/web1.agent.sock", total_kb=1048576, avail_kb=524288)
svc = Service(name="api")
try:
    # /healthz
    code, h = svc.get_json("/healthz")
    check(code == 200 and h["libvirt"]["connected"], "/healthz: libvirt connected (test driver)")
    check(h["bpf"]["loaded"] is True, "/healthz: BPF tracer loaded")
    check(h["dry_run"] is True and h["policy"] is True, "/healthz: dry-run and policy reported")

    # /api/v1/vms: the test driver's domains and the fake QEMU
    vms = wait_for(lambda: (lambda v: v if "svc-api-fq" in v and "web1" in v else None)(svc.vms()),
                   15, "web1 and the fake QEMU in /api/v1/vms")
    web1 = vms["web1"]
    check(web1["allocation"]["memory_mib"] == 1024 and web1["allocation"]["memory_max_mib"] == 2048,
          "web1 allocation 1024 of 2048 MiB, as in the node XML")
    web1 = wait_for(lambda: (lambda v: v if v["memory"]["source"] == "agent" else None)(svc.vms()["web1"]),
                    15, "web1's agent samples")
    check(web1["memory"]["age_s"] < 3 and web1["memory"]["guest_used_mib"] == 512,
          "web1 memory comes from its agent: 512 MiB used, %.1f s old" % web1["memory"]["age_s"])
    db1 = vms["db1"]["memory"]
    check(db1["source"] == "balloon" and db1["age_s"] > 30 * 365 * 86400,
          "db1 memory comes from balloon statistics, as old as the test driver's last-update (1989)")
    check(web1["bounds"]["mem_floor_mib"] == 256 and web1["bounds"]["mem_ceiling_mib"] == 2048,
          "web1 bounds: default floor, ceiling = domain maximum")
    check("libvirt" in web1["found_by"], "web1 found by libvirt")

    def fq_busy():
        v = svc.vms()["svc-api-fq"]
        per = {c["index"]: c["busy_pct"] for c in v["cpu"]["vcpus"]}
        return v if per.get(0) is not None and per.get(0) > 1 and v["cpu"]["source"] == "bpf" else None
    v = wait_for(fq_busy, 15, "fake QEMU vCPU busy % from BPF")
    # the host is shared: average a few ticks, and allow for CPU contention
    time.sleep(4)
    s = svc.get_json("/api/v1/vms/svc-api-fq/series?metric=vcpu0_busy_pct,vcpu1_busy_pct,vcpu0_wait_pct")[1]
    b0 = [x for x in s["series"]["vcpu0_busy_pct"][-4:] if x is not None]
    b1 = [x for x in s["series"]["vcpu1_busy_pct"][-4:] if x is not None]
    b0, b1 = sum(b0) / len(b0), sum(b1) / len(b1)
    check(25 <= b0 <= 85, "vCPU0 busy %.1f%% ~ the 70%% duty cycle (on a contended host)" % b0)
    check(4 <= b1 <= 20 and b0 > 1.5 * b1, "vCPU1 busy %.1f%% ~ the 10%% duty cycle, well below vCPU0" % b1)
    check(v["pid"] == fq.proc.pid and "proc" in v["found_by"], "fake QEMU found by the /proc scan")

    # /api/v1/vms/NAME
    code, one = svc.get_json("/api/v1/vms/web1")
    check(code == 200 and one["name"] == "web1", "/api/v1/vms/web1")

    # series: full, then incremental with since
    code, s = svc.get_json("/api/v1/vms/svc-api-fq/series?metric=vcpu0_busy_pct,mem_alloc_mib")
    check(code == 200 and len(s["t"]) >= 2 and len(s["series"]["vcpu0_busy_pct"]) == len(s["t"]),
          "series: %d rows for two metrics" % len(s["t"]))
    check(s["series"]["mem_alloc_mib"][-1] is None, "series: unknown values are null (no balloon)")
    last = s["t"][-1]
    time.sleep(2.2)
    code, s2 = svc.get_json("/api/v1/vms/svc-api-fq/series?metric=vcpu0_busy_pct&since=%f" % last)
    check(code == 200 and 1 <= len(s2["t"]) <= 3 and min(s2["t"]) > last,
          "series since=T returns only the %d new rows" % len(s2["t"]))
    code, ml = svc.get_json("/api/v1/vms/web1/metrics")
    check(code == 200 and "mem_used_mib" in ml["metrics"], "/api/v1/vms/NAME/metrics lists metrics")

    # actions: the dry-run policy shrinks web1 (512 MiB used of 1024) within a few ticks
    def web1_action():
        acts = svc.get_json("/api/v1/actions")[1]["actions"]
        return [a for a in acts if a["vm"] == "web1" and a["what"] == "memory"]
    acts = wait_for(web1_action, 20, "a dry-run memory action on web1")
    a = acts[0]
    check(a["result"] == "dry-run" and a["dry_run"] and a["reason"] and a["to"] < a["from"],
          "web1: dry-run shrink %s -> %s MiB: %s" % (a["from"], a["to"], a["reason"]))
    vms = svc.vms()
    check(vms["web1"]["allocation"]["memory_mib"] == 1024, "dry-run did not change the allocation")
    code, fl = svc.get_json("/api/v1/actions?vm=db1&since=0")
    check(code == 200 and all(x["vm"] == "db1" for x in fl["actions"]), "/api/v1/actions?vm= filters")

    # errors: 404 and 400 with a JSON body
    for path, want in [("/nope", 404), ("/api/v1/vms/no-such-vm", 404),
                       ("/api/v1/vms/no-such-vm/series?metric=mem_used_mib", 404),
                       ("/api/v1/vms/web1/nothing", 404), ("/api/v2/vms", 404),
                       ("/api/v1/vms/web1/series", 400),
                       ("/api/v1/vms/web1/series?metric=bogus", 400),
                       ("/api/v1/vms/web1/series?metric=mem_used_mib&since=yesterday", 400),
                       ("/api/v1/vms/web1/series?metric=mem_used_mib&since=-5", 400),
                       ("/api/v1/actions?since=abc", 400)]:
        code, hdr, body = svc.get(path)
        import json
        try:
            err = json.loads(body).get("error")
        except ValueError:
            err = None
        check(code == want and err, "%s -> %d %s" % (path, code, err))
    code, hdr, body = svc.get("/api/v1/vms", method="POST", data=b"x=1")
    check(code in (405, 413) and b"error" in body, "POST -> %d: the API is read-only" % code)
    code, hdr, body = svc.get("/api/v1/vms", method="DELETE")
    check(code == 405 and "GET" in (hdr.get("Allow") or ""), "DELETE -> 405 with Allow: GET, HEAD")

    # oversized requests
    code, _, body = svc.get("/api/v1/vms/" + "a" * 2000)
    check(code == 414, "a 2 kB URL -> %d" % code)
    code, _, _ = svc.get("/api/v1/vms", headers={"X-Big": "b" * 40000})
    check(code in (413, 431), "40 kB of headers -> %d" % code)

    def raw(data, read=True, close_early=False):
        s = socket.create_connection(("127.0.0.1", svc.port), timeout=10)
        s.sendall(data)
        if close_early:
            s.close()
            return b""
        out = b""
        while read:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        s.close()
        return out

    out = raw(b"GET /api/v1/vms HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n" +
              b"z" * 100000)
    check(out.split(b" ")[1] in (b"413",), "GET with a 100 kB body -> %s" % out[:12])

    # slow clients (headers trickling in, never finished) hold connections, not the tick
    slow = []
    for i in range(12):
        c = socket.create_connection(("127.0.0.1", svc.port), timeout=5)
        c.sendall(b"GET /api/v1/vms HTTP/1.1\r\nHost: localhost\r\n")
        slow.append(c)
    t_before = svc.get_json("/healthz")[1]["tick"]["count"]
    time.sleep(3.2)
    code, h3 = svc.get_json("/healthz")
    check(code == 200 and h3["tick"]["count"] >= t_before + 2 and h3["tick"]["overruns"] == 0,
          "12 stalled clients: ticks go on (%d -> %d) and others are served" % (t_before, h3["tick"]["count"]))
    for c in slow:
        c.close()

    # clients that disconnect mid-request, before and after sending it
    for i in range(20):
        raw(b"GET /api/v1/vms HTTP/1.1\r\nHost: localhost\r\n", close_early=True)
        raw(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n", close_early=True)
    # ... and one that reads the start of its answer only; the per-client connection
    # limit may refuse a new connection until the server has reaped the dead ones
    def partial_read():
        s = socket.create_connection(("127.0.0.1", svc.port), timeout=5)
        s.sendall(b"GET /api/v1/vms/svc-api-fq/series?metric=mem_used_mib HTTP/1.1\r\nHost: localhost\r\n\r\n")
        got = s.recv(12)
        s.close()
        return got.startswith(b"HTTP/1.1")
    wait_for(partial_read, 10, "a new connection after the hang-ups")
    code, h2 = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(svc.get_json("/healthz")), 10, "/healthz")
    check(code == 200 and svc.alive() and h2["tick"]["count"] > h["tick"]["count"],
          "still serving and ticking after 41 clients hung up")

    # the dashboard and its assets are embedded
    code, hdr, body = svc.get("/")
    check(code == 200 and b"app.js" in body and "text/html" in hdr["Content-Type"], "GET / serves the dashboard")
    for asset in ["/app.js", "/style.css", "/uPlot.iife.min.js", "/uPlot.min.css"]:
        code, hdr, body = svc.get(asset)
        check(code == 200 and len(body) > 100, "GET %s (%d bytes)" % (asset, len(body)))
    code, hdr, body = svc.get("/metrics")
    check(code == 200 and "text/plain" in hdr["Content-Type"] and b'kvmpilot_memory_allocation_bytes{domain="web1"} 1073741824' in body,
          "/metrics has web1's allocation in bytes")

    # CSV history in the data dir
    path = os.path.join(svc.data, "web1.csv")
    with open(path) as f:
        rows = list(csv.DictReader(f))
    check(len(rows) >= 3 and rows[-1]["mem_alloc_mib"] == "1024" and rows[-1]["mem_source"] == "agent",
          "web1.csv: %d rows with every merged metric" % len(rows))

    # a VM that stops disappears
    fq.stop()
    wait_for(lambda: "svc-api-fq" not in svc.vms(), 10, "the stopped fake QEMU to disappear")
    check(True, "a stopped VM disappears from /api/v1/vms")
finally:
    fq.stop()
    rc, pins_kept = svc.stop()
    agent.close()
check(pins_kept, "pinned BPF maps are kept after SIGTERM")

# libvirtd unreachable: the service starts, serves and says so
svc = Service(uri="qemu+unix:///system?socket=/nonexistent/libvirt-sock", name="api-down")
try:
    code, h = svc.get_json("/healthz")
    check(code == 200 and h["status"] == "degraded" and not h["libvirt"]["connected"] and h["libvirt"]["error"],
          "libvirt down: /healthz degraded with the error '%s'" % h["libvirt"]["error"])
    code, _ = svc.get_json("/api/v1/vms")
    check(code == 200, "libvirt down: /api/v1/vms still answers")
    code, _, body = svc.get("/metrics")
    check(code == 200 and b"kvmpilot_libvirt_connected 0" in body, "libvirt down: kvmpilot_libvirt_connected 0")
finally:
    svc.stop()
print("all API checks passed")
