"""Configuration: a good file is applied, a bad one is refused with FILE:LINE,
SIGHUP with a bad file keeps the configuration that runs, and SIGHUP applies
every reloadable key from the next tick (agent_timeout_s to open channels too)."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from svclib import KVMPILOT, OUT, TEST_URI, FakeAgent, Service, check, need_root, wait_for, write_node  # noqa: E402

need_root()
os.makedirs(OUT, exist_ok=True)
good = os.path.join(OUT, "good.ini")
GOOD = """# kvmpilot test configuration
[global]
tick_ms = 1000
policy = predictive
mem_floor_mib = 300

[vm web1]
mem_floor_mib = 512
mem_ceiling_mib = 1536
vcpu_max = 2

[vm db1]
enabled = false
"""
with open(good, "w") as f:
    f.write(GOOD)

# bad files: each refused at start with FILE:LINE: reason and a non-zero exit
bad_cases = [
    ("[global]\ntick_ms = 1000\nmem_floor_mib = lots\n", ":3: 'mem_floor_mib' = 'lots' is not a number"),
    ("[global]\npolicy = magic\n", ":2: unknown policy 'magic'"),
    ("[global]\nfrobnicate = 1\n", ":2: unknown key 'frobnicate' in [global]"),
    ("[global]\n\n[vms web1]\nvcpu_max = 2\n", ":4: unknown section '[vms web1]'"),
    ("[global]\nthis line has no equals sign\n", ":2: syntax error"),
    ("[vm a]\nvcpu_min = 4\nvcpu_max = 2\n", ":3: [vm a]: 'vcpu_max' 2 is below 'vcpu_min' 4"),
    ("[global]\ntick_ms = 5\n", ":2: 'tick_ms' = '5' is out of range"),
    ("[global]\nlisten = nowhere\n", ":2: 'listen' = 'nowhere' is not ADDR:PORT"),
    # 65 characters: once cut to 63, that was port 94
    ("[global]\nlisten = 127.0.0.1:%s9477\n" % ("0" * 51),
     ":2: 'listen' = '127.0.0.1:%s9477' is longer than 63 characters" % ("0" * 51)),
]
for i, (text, want) in enumerate(bad_cases):
    path = os.path.join(OUT, "bad%d.ini" % i)
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run([KVMPILOT, "run", "--config", path, "--uri", TEST_URI, "--listen", "127.0.0.1:1",
                        "--data-dir", os.path.join(OUT, "bad-data")], capture_output=True, text=True, timeout=20)
    check(r.returncode != 0 and (path + want) in r.stderr if want.startswith(":") else
          r.returncode != 0 and path in r.stderr and want in r.stderr,
          "bad config %d refused: %s" % (i, r.stderr.strip()))
long_listen = "127.0.0.1:%s9477" % ("0" * 51)
r = subprocess.run([KVMPILOT, "run", "--listen", long_listen, "--uri", TEST_URI,
                    "--data-dir", os.path.join(OUT, "bad-data")], capture_output=True, text=True, timeout=20)
check(r.returncode == 2 and ("bad --listen '%s': longer than 63 characters" % long_listen) in r.stderr,
      "--listen longer than 63 characters refused: " + r.stderr.strip())
r = subprocess.run([KVMPILOT, "run", "--config", os.path.join(OUT, "missing.ini")], capture_output=True, text=True)
check(r.returncode != 0 and "missing.ini: No such file or directory" in r.stderr, "missing config file: " + r.stderr.strip())

svc = Service(name="config", config=good)
try:
    vms = wait_for(lambda: (lambda v: v if "web1" in v and "db1" in v and "batch1" in v else None)(svc.vms()),
                   15, "the test driver's domains")
    b = vms["web1"]["bounds"]
    check(b["mem_floor_mib"] == 512 and b["mem_ceiling_mib"] == 1536 and b["vcpu_max"] == 2,
          "[vm web1] overrides: floor 512, ceiling 1536, vcpu_max 2")
    check(vms["batch1"]["bounds"]["mem_floor_mib"] == 300, "[global] mem_floor_mib 300 for other VMs")
    check(vms["db1"]["enabled"] is False and vms["db1"]["decision"]["decided"] is False,
          "[vm db1] enabled = false: no decisions for db1")
    code, h = svc.get_json("/healthz")
    check(h["config"]["path"] == good and h["config"]["reloads"] == 0, "/healthz shows the config file")

    # SIGHUP with a bad file: the old configuration keeps running
    with open(good, "w") as f:
        f.write(GOOD.replace("mem_floor_mib = 512", "mem_floor_mib = 512\nvcpu_max = many"))
    svc.proc.send_signal(signal.SIGHUP)
    h = wait_for(lambda: (lambda h: h if h["config"]["last_error"] else None)(svc.get_json("/healthz")[1]),
                 10, "the reload error in /healthz")
    check(h["config"]["last_error"].startswith(good + ":9: 'vcpu_max' = 'many'"),
          "SIGHUP with a bad file: error '%s'" % h["config"]["last_error"])
    check(svc.alive() and svc.vms()["web1"]["bounds"]["mem_floor_mib"] == 512 and h["config"]["reloads"] == 0,
          "SIGHUP with a bad file keeps the old configuration running")
    check("configuration not reloaded, keeping the old one" in svc.logtext(), "the bad reload is logged")

    # SIGHUP with a good file: applied on the next tick
    with open(good, "w") as f:
        f.write(GOOD.replace("mem_floor_mib = 512", "mem_floor_mib = 640").replace("enabled = false", "enabled = true"))
    svc.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: svc.vms()["web1"]["bounds"]["mem_floor_mib"] == 640, 10, "the new floor")
    h = svc.get_json("/healthz")[1]
    check(h["config"]["reloads"] == 1 and h["config"]["last_error"] is None, "SIGHUP with a good file reloads it")
    wait_for(lambda: svc.vms()["db1"]["decision"]["decided"], 10, "db1 decisions after enabling it")
    check(True, "db1 enabled again by the reload")
finally:
    svc.stop()

# SIGHUP: every reloadable key, changed, seen in effect
sock_path = os.path.join(OUT, "reload-agent.sock")
node = os.path.join(OUT, "reload-node.xml")
write_node(node, "svc-reload", sock_path, 2048, 1024, 4)
reload_conf = os.path.join(OUT, "reload.ini")
BEFORE = """[global]
tick_ms = 1000
agent_timeout_s = 5
max_connections = 64
history_max_bytes = 16777216
history_keep = 3
libvirt_retry_max_s = 30
procscan = true
procscan_ticks = 3
bpf = false
policy = predictive
mem_floor_mib = 256
dry_run = true
"""
AFTER = """[global]
tick_ms = 500
agent_timeout_s = 30
max_connections = 8
history_max_bytes = 4096
history_keep = 1
libvirt_retry_max_s = 5
procscan = false
procscan_ticks = 7
bpf = true
policy = threshold
mem_floor_mib = 300
dry_run = true

[vm svc-reload]
mem_ceiling_mib = 1500
vcpu_min = 2
vcpu_max = 3
enabled = false
"""
with open(reload_conf, "w") as f:
    f.write(BEFORE)
agent = FakeAgent(sock_path)
svc = Service(uri="test://" + node, name="reload", config=reload_conf)
try:
    def vm():
        return svc.vms()["svc-reload"]
    wait_for(lambda: vm()["memory"]["source"] == "agent", 20, "agent samples for svc-reload")
    eff = svc.get_json("/healthz")[1]["config"]["effective"]
    check(eff == {"tick_ms": 1000, "agent_timeout_s": 5, "max_connections": 64,
                  "history_max_bytes": 16777216, "history_keep": 3, "libvirt_retry_max_s": 30,
                  "procscan": True, "procscan_ticks": 3, "bpf": False},
          "/healthz config.effective shows the file's global keys: %r" % eff)
    v = vm()
    check(v["policy"] == "predictive" and v["enabled"] and v["bounds"]["mem_floor_mib"] == 256,
          "svc-reload: predictive, enabled, floor 256 MiB")

    with open(reload_conf, "w") as f:
        f.write(AFTER)
    svc.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: svc.get_json("/healthz")[1]["config"]["reloads"] == 1, 10, "the reload")
    wait_for(lambda: vm()["policy"] == "threshold", 10, "the next tick after the reload")
    eff = svc.get_json("/healthz")[1]["config"]["effective"]
    check(eff == {"tick_ms": 500, "agent_timeout_s": 30, "max_connections": 64,
                  "history_max_bytes": 4096, "history_keep": 1, "libvirt_retry_max_s": 30,
                  "procscan": False, "procscan_ticks": 7, "bpf": False},
          "reloaded: tick_ms, agent_timeout_s, history_*, procscan* in effect; max_connections, "
          "libvirt_retry_max_s and bpf kept until the next start: %r" % eff)
    check("take effect at the next start" in svc.logtext(), "the next-start keys are logged")
    h = svc.get_json("/healthz")[1]
    check(h["tick"]["interval_ms"] == 500 and h["procscan"] is False, "/healthz: 500 ms ticks, no /proc scan")
    v = vm()
    b = v["bounds"]
    check(v["enabled"] is False and v["dry_run"] is True and b["mem_floor_mib"] == 300 and
          b["mem_ceiling_mib"] == 1500 and b["vcpu_min"] == 2 and b["vcpu_max"] == 3,
          "[global] policy and floor, [vm svc-reload] ceiling, vCPUs and enabled applied: %r" % b)
    # tick_ms: twice the ticks
    n0, t0 = svc.get_json("/healthz")[1]["tick"]["count"], time.time()
    time.sleep(4)
    n = svc.get_json("/healthz")[1]["tick"]["count"] - n0
    rate = n / (time.time() - t0)
    check(rate > 1.2, "tick_ms 500: %.1f ticks a second" % rate)
    # history_max_bytes and history_keep: the open CSV rotates at 4 KiB, one old file kept
    csv = os.path.join(svc.data, "svc-reload.csv")
    wait_for(lambda: os.path.exists(csv + ".1"), 20, "svc-reload.csv rotated at 4 KiB")
    time.sleep(3)
    check(not os.path.exists(csv + ".2") and os.path.getsize(csv) <= 4096 + 4096,
          "history_max_bytes 4096 and history_keep 1 apply to the open CSV")
    # agent_timeout_s: the open channel's silence is now 30 s, not 5 s
    agent.talk = False
    time.sleep(9)
    m = vm()["memory"]
    check(m["source"] == "agent" and m["age_s"] > 6,
          "agent_timeout_s 30 applies to the open channel: silent %.1f s, the agent's data kept" % m["age_s"])
    agent.talk = True
finally:
    svc.stop()
    agent.close()
print("all configuration checks passed")
