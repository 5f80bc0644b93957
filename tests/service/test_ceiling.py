"""The operator's mem_ceiling_mib holds against the guest: a guest that reports
more used memory than the ceiling (MemTotal 1900 MiB, nothing available, so
guest used + reserve = 2028 MiB) gets the ceiling, 1200 MiB, never its floor;
the action log says why and the service log says it once, not every tick."""
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
conf = os.path.join(OUT, "kvmpilot.conf")
write_node(node, "svc-ceiling", sock_path, 2048, 1024, 2)
with open(conf, "w") as f:
    f.write("[global]\nbpf = false\n[vm svc-ceiling]\nmem_ceiling_mib = 1200\n")

if os.path.exists(sock_path):
    os.unlink(sock_path)
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(sock_path)
srv.listen(4)


def guest():
    """MemTotal 1900 MiB, MemAvailable 0, every 0.5 s."""
    while True:
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        seq = 0
        while True:
            seq += 1
            line = ("KP1 sample seq=%d boot=4242 ver=test interval_ms=500 mem_total_kb=%d "
                    "mem_avail_kb=0 mem_free_kb=0 swap_total_kb=0 swap_used_kb=0 "
                    "psi_mem_some=0 psi_cpu_some=0 cpu_busy=100 cpus_online=1 cpus_present=2\n"
                    % (seq, 1900 * 1024))
            try:
                conn.sendall(line.encode())
            except OSError:
                break
            time.sleep(0.5)


threading.Thread(target=guest, daemon=True).start()
svc = Service(uri="test://" + node, name="ceiling", dry_run=False, config=conf)
try:
    def memory_actions():
        acts = svc.get_json("/api/v1/actions?vm=svc-ceiling")[1]["actions"]
        return [a for a in acts if a["what"] == "memory"] or None

    acts = wait_for(memory_actions, 20, "a memory action on svc-ceiling")
    for a in acts:
        print("action: %r" % a)
    check(all(a["to"] <= 1200 for a in acts), "no memory action above the 1200 MiB ceiling")
    check(acts[-1]["to"] == 1200 and acts[-1]["result"].startswith("ok"),
          "the balloon is set to the ceiling (%d MiB)" % acts[-1]["to"])
    check(acts[-1]["result"] == "ok: floor 2028 MiB above the ceiling 1200 MiB",
          "the action log says the floor is above the ceiling: '%s'" % acts[-1]["result"])
    wait_for(lambda: svc.vms()["svc-ceiling"]["allocation"]["memory_mib"] == 1200, 10,
             "the balloon at 1200 MiB")
    time.sleep(4)  # more ticks over the ceiling
    v = svc.vms()["svc-ceiling"]
    check(v["allocation"]["memory_mib"] == 1200, "the balloon stays at the ceiling")
    said = svc.logtext().count("is above its ceiling")
    check(said == 1, "the service log says it once for the episode (%d times)" % said)
finally:
    svc.stop()

# dry-run: the balloon stays below, the policy asks every tick, the log says it once
svc = Service(uri="test://" + node, name="ceiling-dry", dry_run=True, config=conf)
try:
    acts = wait_for(lambda: (lambda a: a if len(a) >= 3 else None)(memory_actions() or []), 20,
                    "three dry-run memory actions")
    check(all(a["to"] == 1200 and a["result"] == "dry-run: floor 2028 MiB above the ceiling 1200 MiB"
              for a in acts), "%d dry-run actions, each at the ceiling and saying why" % len(acts))
    said = svc.logtext().count("is above its ceiling")
    check(said == 1, "said once in the service log, not every tick (%d times)" % said)
finally:
    svc.stop()
    srv.close()
print("all ceiling checks passed")
