"""Frozen guest data never shrinks a VM: an idle guest whose agent speaks is
shrunk (dry-run); once the agent stops sending, its data ages past
agent_timeout_s and every shrink is held, and balloon statistics that stopped
long ago (the test driver's last-update is in 1989) do not count as fresh."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from svclib import OUT, FakeAgent, Service, check, need_root, wait_for, write_node  # noqa: E402

need_root()
os.makedirs(OUT, exist_ok=True)
sock_path = os.path.join(OUT, "stale-agent.sock")
node = os.path.join(OUT, "stale-node.xml")
conf = os.path.join(OUT, "stale.ini")
write_node(node, "svc-stale", sock_path, 4096, 2048, 2)
with open(conf, "w") as f:
    f.write("[global]\nbpf = false\nagent_timeout_s = 5\n")

# idle: 200 MiB used of 2048
agent = FakeAgent(sock_path, total_kb=2048 * 1024, avail_kb=1848 * 1024)
svc = Service(uri="test://" + node, name="stale", dry_run=True, config=conf)
try:
    def vm():
        return svc.vms()["svc-stale"]

    def shrinks():
        acts = svc.get_json("/api/v1/actions?vm=svc-stale")[1]["actions"]
        return [a for a in acts if a["what"] == "memory" and a["to"] < a["from"]]

    wait_for(lambda: vm()["memory"]["source"] == "agent", 20, "agent samples for svc-stale")
    got = wait_for(shrinks, 30, "a dry-run shrink of the idle guest")
    check(got[0]["from"] == 2048 and got[0]["to"] < 2048,
          "fresh data: the idle guest is shrunk (dry-run %d -> %d MiB)" % (got[0]["from"], got[0]["to"]))

    agent.talk = False
    time.sleep(7)  # past agent_timeout_s
    n = len(shrinks())
    end = time.time() + 8
    while time.time() < end:
        v = vm()
        d, m = v["decision"], v["memory"]
        if d["target_memory_mib"] is not None and d["target_memory_mib"] < 2048:
            check(False, "frozen data: no shrink target (%r, memory %r)" % (d, m))
        time.sleep(0.5)
    v = vm()
    m, d = v["memory"], v["decision"]
    check(m["source"] == "agent" and m["age_s"] > 10,
          "silent agent: its last sample kept with its real age (%.1f s): balloon statistics "
          "from 1989 are not fresher" % m["age_s"])
    check(len(shrinks()) == n and "s old" in (d["reason"] or ""),
          "frozen data: every shrink held for 8 s: '%s'" % d["reason"])
    check(svc.get_json("/healthz")[1]["agent"] is False, "/healthz: no agent speaks")

    agent.talk = True
    wait_for(lambda: vm()["memory"]["age_s"] < 3, 20, "the agent back")
    wait_for(lambda: len(shrinks()) > n, 30, "a shrink on fresh data again")
    check(True, "fresh data again: the shrink goes on")
finally:
    svc.stop()
    agent.close()
print("all stale-data checks passed")
