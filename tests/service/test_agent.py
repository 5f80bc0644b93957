"""The guest agent in the service: samples on a domain's channel socket become
the memory source (with age), hostile lines are ignored, a silent agent's data
ages (balloon statistics replace it only when fresher), and set-cpus is sent
through the channel."""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from svclib import OUT, Service, check, need_root, wait_for, write_node  # noqa: E402

need_root()
os.makedirs(OUT, exist_ok=True)
sock_path = os.path.join(OUT, "agent.sock")
node = os.path.join(OUT, "node.xml")
write_node(node, "svc-agent", sock_path, 2048, 1024, 4)

# the guest side: QEMU listens on the socket (bind mode), the service connects
if os.path.exists(sock_path):
    os.unlink(sock_path)
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(sock_path)
srv.listen(4)
state = {"talk": True, "garbage": 0, "cmds": [], "avail_kb": 262144}


def guest():
    while True:
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        seq = 0
        conn.settimeout(0.1)
        buf = b""
        while True:
            if state["talk"]:
                seq += 1
                line = ("KP1 sample seq=%d boot=4242 ver=test interval_ms=1000 mem_total_kb=1048576 "
                        "mem_avail_kb=%d mem_free_kb=131072 swap_total_kb=0 swap_used_kb=0 "
                        "psi_mem_some=1250 psi_cpu_some=300 cpu_busy=4200 cpus_online=1 cpus_present=4\n"
                        % (seq, state["avail_kb"]))
                try:
                    conn.sendall(line.encode())
                    if seq % 3 == 0:  # hostile lines between good ones
                        conn.sendall(b"KP1 sample seq=1 mem_total_kb=-5 \x01\x02\n" + b"X" * 3000 + b"\n")
                        state["garbage"] += 2
                except OSError:
                    break
            try:
                data = conn.recv(4096)
                if not data:
                    break
                buf += data
                while b"\n" in buf:
                    cmd, buf = buf.split(b"\n", 1)
                    state["cmds"].append(cmd.decode(errors="replace"))
                    parts = dict(p.split("=", 1) for p in cmd.decode().split()[2:] if "=" in p)
                    if parts.get("op") == "set-cpus":
                        conn.sendall(("KP1 ack id=%s op=set-cpus rc=0 online=%s present=4\n" %
                                      (parts["id"], parts["arg"])).encode())
            except socket.timeout:
                pass
            except OSError:
                break
            time.sleep(0.9)


threading.Thread(target=guest, daemon=True).start()
svc = Service(uri="test://" + node, name="agent", config=None)
try:
    v = wait_for(lambda: (lambda v: v if v and v["memory"]["source"] == "agent" else None)(svc.vms().get("svc-agent")),
                 20, "agent samples for svc-agent")
    m = v["memory"]
    check(m["guest_total_mib"] == 1024 and m["guest_used_mib"] == 768 and m["guest_available_mib"] == 256,
          "agent memory: 768 of 1024 MiB used (the guest's numbers, not the balloon's)")
    check(m["age_s"] is not None and m["age_s"] < 3, "agent data age %.2f s" % m["age_s"])
    check(m["psi_some_avg10"] == 12.5 and v["cpu"]["guest_cpu_pct"] == 42, "PSI 12.5 % and guest CPU 42 %")
    time.sleep(4)
    v = svc.vms()["svc-agent"]
    check(svc.alive() and state["garbage"] >= 2 and v["memory"]["source"] == "agent",
          "%d hostile lines ignored, the agent stays the source" % state["garbage"])
    check(v["agent"]["connected"] and v["agent"]["rejected_lines"] >= 2 and v["agent"]["samples"] >= 3,
          "API counts the agent's samples (%d) and rejected lines (%d)" % (v["agent"]["samples"], v["agent"]["rejected_lines"]))
    body = svc.get("/metrics")[2].decode()
    check('kvmpilot_agent_rejected_lines_total{domain="svc-agent"}' in body, "/metrics counts rejected agent lines")
    check("line(s) rejected" in svc.logtext(), "rejected lines are logged (rate-limited)")
    code, h = svc.get_json("/healthz")
    check(h["agent"] is True, "/healthz: an agent speaks")
    # the policy sees 768 MiB used of 1024 with PSI: no shrink below used + reserve
    code, acts = svc.get_json("/api/v1/actions?vm=svc-agent")
    check(all(a["what"] != "memory" or a["to"] >= 768 for a in acts["actions"]),
          "no memory action below what the guest uses")

    # silence: after agent_timeout_s (5 s) the agent's data is stale; balloon statistics
    # would take over if fresher, but the test driver's last-update is in 1989
    state["talk"] = False
    v = wait_for(lambda: (lambda v: v if v["memory"]["age_s"] > 6 else None)(svc.vms()["svc-agent"]),
                 15, "the agent's data older than agent_timeout_s")
    check(v["memory"]["source"] == "agent" and svc.get_json("/healthz")[1]["agent"] is False,
          "silent agent: its last sample kept with its real age (%.1f s), not replaced by balloon "
          "statistics older than it; /healthz: no agent speaks" % v["memory"]["age_s"])
    state["talk"] = True
    wait_for(lambda: svc.vms()["svc-agent"]["memory"]["age_s"] < 3, 15, "the agent back")
    check(True, "the agent is the source again once it speaks")

    # used memory jumps by 200 MiB between ticks: the next tick starts at once
    code, h = svc.get_json("/healthz")
    check(h["tick"]["early"] == 0, "steady samples and hostile lines never start a tick early")
    state["avail_kb"] = 262144 - 200 * 1024
    wait_for(lambda: svc.get_json("/healthz")[1]["tick"]["early"] >= 1, 10, "an early tick")
    v = svc.vms()["svc-agent"]
    check(v["memory"]["guest_used_mib"] == 968,
          "a 200 MiB rise of used memory starts the next tick early (%d early)" %
          svc.get_json("/healthz")[1]["tick"]["early"])
    time.sleep(3)
    code, h = svc.get_json("/healthz")
    check(h["tick"]["early"] == 1, "one rise, one early tick (%d)" % h["tick"]["early"])
finally:
    svc.stop()
    srv.close()
print("all agent checks passed")
