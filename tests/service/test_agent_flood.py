"""A guest flooding its agent channel does not keep the service reading: between
two ticks the service reads one channel at most 16 times (of at most 64 KiB
each, the channel's read budget) and then leaves it until the tick, which
reads once more (issue 13, "Also"). The flood's lines are counted as rejected
(reason flood: past the burst of 40 and 20 lines a second), so the rejected
line count per tick bounds how much was read: a service reading the flood as
fast as it comes would count far more."""
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
NAME = "svc-flood"
write_node(node, NAME, sock_path, 2048, 1024, 2)

READS_MAX = 16            # EARLY_READS_MAX in userspace/service.c
READ_BUDGET = 64 * 1024   # channel_opts.read_budget's default
LINE = ("KP1 sample seq=%d boot=4242 ver=test interval_ms=1000 mem_total_kb=1048576 "
        "mem_avail_kb=262144 mem_free_kb=262144 swap_total_kb=0 swap_used_kb=0 "
        "psi_mem_some=0 psi_cpu_some=0 cpu_busy=500 cpus_online=1 cpus_present=2\n")

if os.path.exists(sock_path):
    os.unlink(sock_path)
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(sock_path)
srv.listen(4)
state = {"flood": False, "sent": 0}


def guest():
    while True:
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        seq = 0
        while True:
            if state["flood"]:
                # 1000 valid samples a write, as fast as the socket takes them
                chunk = "".join(LINE % (seq + i) for i in range(1, 1001)).encode()
                seq += 1000
            else:
                seq += 1
                chunk = (LINE % seq).encode()
            try:
                conn.sendall(chunk)
            except OSError:
                break
            if state["flood"]:
                state["sent"] += 1000
            else:
                time.sleep(1)


def counters():
    code, h = svc.get_json("/healthz")
    v = svc.vms()[NAME]
    return h["tick"]["count"], v["agent"]["samples"], v["agent"]["rejected_lines"]


threading.Thread(target=guest, daemon=True).start()
svc = Service(uri="test://" + node, name="flood", config=None)
try:
    wait_for(lambda: (svc.vms().get(NAME) or {}).get("agent", {}).get("samples", 0) >= 2,
             20, "agent samples for " + NAME)
    state["flood"] = True
    time.sleep(2)  # the flood under way, the burst spent
    t0, s0, r0 = counters()
    sent0 = state["sent"]
    time.sleep(5)
    t1, s1, r1 = counters()
    sent = state["sent"] - sent0
    state["flood"] = False
    ticks, samples, rejected = t1 - t0, s1 - s0, r1 - r0
    read = samples + rejected  # every line read is either accepted or rejected
    # per interval: the tick's read plus at most READS_MAX more, each within
    # the budget; a line that straddles a read counts in the next one
    bound = (ticks + 1) * (READS_MAX + 1) * (READ_BUDGET // (len(LINE % 1) - 8) + 1)
    print("flood for 5 s: %d ticks, %d lines written, %d read (%d accepted, %d rejected), "
          "bound %d" % (ticks, sent, read, samples, rejected, bound), flush=True)
    check(svc.alive(), "the service lives through the flood")
    check(ticks >= 3, "the service keeps ticking under the flood (%d ticks in 5 s)" % ticks)
    check(rejected > 0 and samples <= 20 * 5 + 40,
          "flood lines are rejected: %d accepted in 5 s (at most 20/s after a burst of 40)" % samples)
    check(read <= bound,
          "at most %d reads of %d KiB per channel a tick: %d lines read in %d ticks (bound %d)"
          % (READS_MAX + 1, READ_BUDGET // 1024, read, ticks, bound))
finally:
    svc.stop()
    srv.close()
print("all agent flood checks passed")
