"""A guest whose used memory keeps rising fast makes the service tick early,
but never twice in a row: after an early tick the next one waits the full
interval, so a guest cannot make the service tick faster than twice per
interval (issue 13, "Also"). Checked with /healthz's tick counters and with
the times of the history rows (one per tick)."""
import csv
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
NAME = "svc-early"
TOTAL_KB = 4 * 1024 * 1024  # early threshold: max(32 MiB, total / 32) = 128 MiB
STEP_KB = 64 * 1024         # used rises 64 MiB a sample, 10 samples a second
write_node(node, NAME, sock_path, 8192, 4096, 2)

if os.path.exists(sock_path):
    os.unlink(sock_path)
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(sock_path)
srv.listen(4)
state = {"rising": False, "used_kb": 128 * 1024}


def guest():
    """The agent's fastest pace (ten samples a second, within the flood limit)."""
    while True:
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        seq = 0
        while True:
            seq += 1
            if state["rising"] and state["used_kb"] + STEP_KB < TOTAL_KB:
                state["used_kb"] += STEP_KB
            avail = TOTAL_KB - state["used_kb"]
            line = ("KP1 sample seq=%d boot=4242 ver=test interval_ms=100 mem_total_kb=%d "
                    "mem_avail_kb=%d mem_free_kb=%d swap_total_kb=0 swap_used_kb=0 "
                    "psi_mem_some=0 psi_cpu_some=0 cpu_busy=500 cpus_online=1 cpus_present=2\n"
                    % (seq, TOTAL_KB, avail, avail))
            try:
                conn.sendall(line.encode())
            except OSError:
                break
            time.sleep(0.1)


def ticks():
    t = svc.get_json("/healthz")[1]["tick"]
    return t["count"], t["early"]


def row_times():
    with open(os.path.join(svc.data, NAME + ".csv")) as f:
        return [float(r["time"]) for r in csv.DictReader(f) if r["name"] == NAME]


threading.Thread(target=guest, daemon=True).start()
svc = Service(uri="test://" + node, name="early", config=None)
try:
    wait_for(lambda: (svc.vms().get(NAME) or {}).get("memory", {}).get("source") == "agent",
             20, "agent samples for " + NAME)
    time.sleep(2.5)  # a few steady ticks
    n0, e0 = ticks()
    check(e0 == 0, "steady samples start no tick early")
    rows0 = len(row_times())

    state["rising"] = True
    time.sleep(6)
    state["rising"] = False
    n1, e1 = ticks()
    time.sleep(1.5)  # the last rows are written
    dn, de = n1 - n0, e1 - e0
    print("rising for 6 s: %d ticks, %d early" % (dn, de), flush=True)
    check(de >= 2, "a guest rising fast starts ticks early (%d of %d)" % (de, dn))
    # never two in a row: at most every other tick is early, at most two per interval
    check(de <= (dn + 1) // 2,
          "at most every other tick is early (%d early of %d ticks)" % (de, dn))
    check(dn <= 2 * 6 + 2, "at most two ticks per interval (%d ticks in 6 s)" % dn)

    # the rows' times: an early tick follows its tick by far less than the
    # interval; the tick after an early one waits the whole interval
    times = row_times()[rows0:]
    gaps = [b - a for a, b in zip(times, times[1:])]
    short = [g < 0.7 for g in gaps]
    print("gaps between history rows: " + " ".join("%.2f" % g for g in gaps), flush=True)
    check(sum(short) >= 2, "the history shows early ticks (%d short gaps)" % sum(short))
    pairs = [i for i in range(1, len(short)) if short[i] and short[i - 1]]
    check(not pairs, "no two early ticks in a row in the history (at %s)" % pairs)
    check(all(g > 0.9 for i, g in enumerate(gaps) if i and short[i - 1]),
          "after an early tick the next one waits the full interval")
finally:
    svc.stop()
    srv.close()
print("all early tick checks passed")
