"""make bench-service: RSS and CPU of `kvmpilot run` with 100 imitated VMs at a
1 s tick, and the latency of /api/v1/vms and /metrics.

The VMs are real code paths: 100 domains in a libvirt test-driver node XML
(balloon statistics, policy, dry-run actuator) and 100 fake QEMU processes of
the same names (found by the /proc scan, traced by BPF: 2 vCPU threads each).
Goals: RSS < 30 MB, CPU < 2% of one core, p99 latency < 10 ms."""
import http.client
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import svclib  # noqa: E402
from svclib import FAKEQEMU, KVMPILOT, OUT, free_port, wait_for  # noqa: E402

NVMS = int(os.environ.get("BENCH_VMS", "100"))
WARMUP_S = int(os.environ.get("BENCH_WARMUP_S", "10"))
CPU_S = int(os.environ.get("BENCH_CPU_S", "30"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "300"))

if os.geteuid() != 0:
    print("bench-service needs root (BPF tracer)")
    sys.exit(1)

out = os.path.join(os.environ.get("BENCH_OUT", os.path.join(svclib.BUILD, "bench")), "service")
shutil.rmtree(out, ignore_errors=True)
os.makedirs(out)
node = os.path.join(out, "node.xml")
with open(node, "w") as f:
    f.write("<node>\n<cpu><mhz>2000</mhz><model>x86_64</model><active>2</active><nodes>1</nodes>"
            "<sockets>1</sockets><cores>2</cores><threads>1</threads></cpu>\n<memory>268435456</memory>\n")
    for i in range(NVMS):
        f.write("<domain type='test'><name>bench-vm%03d</name><memory unit='MiB'>2048</memory>"
                "<currentMemory unit='MiB'>%d</currentMemory><vcpu current='2'>4</vcpu>"
                "<os><type arch='x86_64'>hvm</type></os><devices><memballoon model='virtio'/></devices>"
                "</domain>\n" % (i + 1, 768 + (i % 8) * 128))
    f.write("</node>\n")

fakes = []
svc = None
pins = "/sys/fs/bpf/kvmpilot-bench-%d" % os.getpid()
try:
    for i in range(NVMS):
        fakes.append(subprocess.Popen([FAKEQEMU, "-name", "guest=bench-vm%03d,debug-threads=on" % (i + 1),
                                       "--vcpus", "2", "--duty", "0"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    port = free_port()
    log = open(os.path.join(out, "kvmpilot.log"), "w")
    env = dict(os.environ, KVMPILOT_PIN_ROOT=pins)
    svc = subprocess.Popen([KVMPILOT, "run", "--listen", "127.0.0.1:%d" % port, "--uri", "test://" + node,
                            "--data-dir", os.path.join(out, "data"), "--dry-run"],
                           stdout=log, stderr=subprocess.STDOUT, env=env)

    def get(conn_path):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        t0 = time.perf_counter()
        c.request("GET", conn_path)
        r = c.getresponse()
        body = r.read()
        dt = time.perf_counter() - t0
        c.close()
        return r.status, body, dt

    import json
    wait_for(lambda: get("/healthz")[0] == 200 and json.loads(get("/healthz")[1])["vms"] >= NVMS, 60,
             "the service with %d VMs" % NVMS)
    time.sleep(WARMUP_S)
    h = json.loads(get("/healthz")[1])
    vms = json.loads(get("/api/v1/vms")[1])["vms"]
    traced = sum(1 for v in vms if v["name"].startswith("bench-vm") and v["cpu"]["source"] == "bpf"
                 and "libvirt" in v["found_by"] and "proc" in v["found_by"])

    def stat():
        with open("/proc/%d/stat" % svc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime, clock ticks

    def status(key):
        with open("/proc/%d/status" % svc.pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])  # kB

    hz = os.sysconf("SC_CLK_TCK")
    c0, t0 = stat(), time.monotonic()
    time.sleep(CPU_S)
    c1, t1 = stat(), time.monotonic()
    cpu_pct = (c1 - c0) / hz / (t1 - t0) * 100
    rss_mb = status("VmRSS") / 1024
    rss_anon_mb, rss_file_mb = status("RssAnon") / 1024, status("RssFile") / 1024
    h2 = json.loads(get("/healthz")[1])
    tick_ms = h2["tick"]["last_duration_ms"]
    phases = ", ".join("%s %.1f" % (k, v) for k, v in h2["tick"]["phases_ms"].items())
    overruns = h2["tick"]["overruns"]

    lat = {}
    sizes = {}
    for path in ["/api/v1/vms", "/metrics"]:
        samples = []
        for i in range(REQUESTS):
            code, body, dt = get(path)
            if code != 200:
                raise SystemExit("%s -> %d" % (path, code))
            samples.append(dt * 1000)
            sizes[path] = len(body)
            time.sleep(0.01)
        samples.sort()
        lat[path] = (samples[len(samples) // 2], samples[int(len(samples) * 0.99) - 1], samples[-1])
    hwm_mb = status("VmHWM") / 1024
    anon_mb = status("RssAnon") / 1024
    file_mb = status("RssFile") / 1024
    # one request per tick, as a polling dashboard does: the tick pre-renders for it
    first = {}
    for path in ["/api/v1/vms", "/metrics"]:
        samples = []
        for i in range(12):
            t_next = json.loads(get("/healthz")[1])["tick"]["last"] + 1.0
            time.sleep(max(0, t_next - time.time()) + 0.15)
            samples.append(get(path)[2] * 1000)
        samples.sort()
        first[path] = (samples[len(samples) // 2], samples[-1])

    # the dashboard with every VM (when Chromium and the test packages are there)
    dash = None
    if os.path.exists("/usr/bin/chromium"):
        here = os.path.dirname(os.path.abspath(__file__))
        try:
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
                           cwd=here, check=True, timeout=300)
            r = subprocess.run(["node", os.path.join(here, "bench_dashboard.mjs"), "http://127.0.0.1:%d/" % port,
                                os.path.join(out, "chromium-profile")], capture_output=True, text=True, timeout=180)
            dash = json.loads(r.stdout.strip().splitlines()[-1])
        except (subprocess.SubprocessError, ValueError, IndexError, OSError) as e:
            print("dashboard measurement skipped: %s" % e)

    rows = [
        ("VMs (libvirt test driver + fake QEMU, BPF-traced)", "%d of %d" % (traced, NVMS), "", ""),
        ("RSS (after %d s)" % (WARMUP_S + CPU_S), "%.1f MB" % rss_mb, "< 30 MB", rss_mb < 30),
        ("  of which anonymous / file (libraries, binary)", "%.1f MB / %.1f MB" % (rss_anon_mb, rss_file_mb), "", ""),
        ("peak RSS (VmHWM)", "%.1f MB" % hwm_mb, "< 30 MB", hwm_mb < 30),
        ("  after the requests: anonymous / file", "%.1f MB / %.1f MB" % (anon_mb, file_mb), "", ""),
        ("CPU over %d s at a 1 s tick" % CPU_S, "%.2f %% of one core" % cpu_pct, "< 2 %", cpu_pct < 2),
        ("last tick duration", "%.1f ms (%d overruns)" % (tick_ms, overruns), "", ""),
        ("  phases (ms)", phases, "", ""),
    ]
    for path in ["/api/v1/vms", "/metrics"]:
        p50, p99, mx = lat[path]
        rows.append(("GET %s (%d kB), %d requests" % (path, sizes[path] // 1024, REQUESTS),
                     "p50 %.2f ms, p99 %.2f ms, max %.1f ms" % (p50, p99, mx), "p99 < 10 ms", p99 < 10))
        rows.append(("  one request per tick (a polling client), 12 requests",
                     "median %.2f ms, max %.1f ms" % first[path], "", ""))
    if dash:
        rows.append(("dashboard, %d VMs (%d charts) in Chromium, %.0f s live" % (dash["vms"], dash["charts"], dash["seconds"]),
                     "%d long tasks (%d ms), frame p50 %d ms max %d ms, JS heap %.1f MB" % (
                         dash["long_tasks"], dash["long_task_ms"], dash["frame_p50_ms"], dash["frame_max_ms"],
                         dash["js_heap_mb"]), "responsive", dash["frame_p50_ms"] < 50))
    print("\nkvmpilot run, %d imitated VMs, 1 s tick (host load %s)\n" % (NVMS, open("/proc/loadavg").read().split()[0]))
    print("%-52s %-40s %-12s %s" % ("measure", "value", "goal", ""))
    for name, val, goal, okv in rows:
        print("%-52s %-40s %-12s %s" % (name, val, goal, "" if okv == "" else ("met" if okv else "MISSED")))
    with open(os.path.join(out, "result.txt"), "w") as f:
        for name, val, goal, okv in rows:
            f.write("%s\t%s\t%s\t%s\n" % (name, val, goal, okv))
finally:
    if svc and svc.poll() is None:
        svc.send_signal(signal.SIGTERM)
        svc.wait(timeout=20)
    for p in fakes:
        p.terminate()
    for p in fakes:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
    shutil.rmtree(pins, ignore_errors=True)
