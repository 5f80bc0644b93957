#!/bin/bash
# The actuators on a real guest (the image of 'make guest', TCG here, created
# with 'kvmpilot vm') under the real libvirtd: 'kvmpilot act' balloons it down and up and the guest's
# MemTotal (balloon statistics 'available') follows; a request below the
# floor is clamped to it; a vCPU is hot-added, its QEMU thread appears and the
# agent onlines it, then offlines it again. ('kvmpilot act' talks to the agent
# itself, so no 'kvmpilot run' may hold this guest's channel.)
# Every step goes through the action log.
set -u
src=${KVMPILOT_SRC:-$(pwd)}
build=${KVMPILOT_BUILD:-$src/build}
kvmpilot=${KVMPILOT:-$build/kvmpilot}
out=${TEST_OUT:-/tmp/kvmpilot-test-balloon}
mkdir -p "$out"
uri=qemu:///system
name=kvmpilot-t-balloon
dir=/var/tmp/kvmpilot-test-balloon
log="$out/actions.jsonl"

fail() {
	echo "FAIL: $*"
	# a 'kvmpilot run' of another test on this host may hold the guest's channel
	local peer
	for peer in $(ss -xp 2>/dev/null | awk -v s="$name.agent.sock" 'index($0, s) {print $8}'); do
		ss -xp 2>/dev/null | awk -v p="$peer" '$6 == p' |
			sed 's/^/channel held by another client (a kvmpilot run of another test?): /'
	done
	[ -f "$dir/console/$name.log" ] && { echo "guest console:"; tail -n 20 "$dir/console/$name.log"; }
	exit 1
}

[ "$(id -u)" -eq 0 ] || { echo "skip: needs root for qemu:///system"; exit 77; }
for c in libvirtd virsh qemu-system-x86_64 python3; do
	command -v "$c" >/dev/null || { echo "skip: '$c' is not installed"; exit 77; }
done
for f in vmlinuz initramfs.gz; do
	[ -s "$src/guest/out/$f" ] || fail "guest/out/$f is missing: run 'make guest'"
done

vmopts=(--uri $uri --state-dir "$dir" --pool kvmpilot-t-balloon --image-dir "$src/guest/out")
cleanup() {
	"$kvmpilot" vm destroy $name --force "${vmopts[@]}" >/dev/null 2>&1
	"$kvmpilot" vm pool-delete --force "${vmopts[@]}" >/dev/null 2>&1
	rm -rf "$dir"
}
trap cleanup EXIT

pgrep -x virtlogd >/dev/null || virtlogd -d
[ -s /run/libvirtd.pid ] && kill -0 "$(cat /run/libvirtd.pid)" 2>/dev/null || libvirtd -d
for _ in $(seq 1 300); do virsh -c $uri version >/dev/null 2>&1 && break; sleep 0.2; done
cleanup
rm -f "$log"
# the guest as the product creates it ('kvmpilot vm'): 512 of 768 MiB, 1 of 2 vCPUs
"$kvmpilot" vm create $name --memory 512 --memory-max 768 --vcpus 1 --vcpus-max 2 \
	--workload idle "${vmopts[@]}" >"$out/create.log" 2>&1 || {
	cat "$out/create.log"
	fail "cannot start the guest"
}

# balloon MIB_LO MIB_HI SECONDS: wait until the guest's MemTotal is in range
balloon() {
	python3 - "$kvmpilot" "$uri" "$name" "$1" "$2" "$3" <<'PY'
import json, subprocess, sys, time
kp, uri, name, lo, hi, secs = sys.argv[1:]
end = time.time() + float(secs)
last = None
while time.time() < end:
    r = subprocess.run([kp, "domains", "--uri", uri, "--json"], capture_output=True, text=True)
    if r.returncode == 0:
        d = [x for x in json.loads(r.stdout)["domains"] if x["name"] == name]
        b = d[0].get("balloon") if d else None
        if b and b.get("available_kib") is not None and b.get("last_update"):
            last = b
            if int(lo) * 1024 <= b["available_kib"] <= int(hi) * 1024:
                print("guest MemTotal %d MiB (balloon actual %d MiB, usable %d MiB)" % (
                    b["available_kib"] // 1024, b["actual_kib"] // 1024,
                    (b["usable_kib"] or 0) // 1024))
                sys.exit(0)
    time.sleep(0.5)
print("MemTotal not in [%s, %s] MiB; last balloon stats: %s" % (lo, hi, last))
sys.exit(1)
PY
}

# booted: the balloon driver reports, MemTotal near 512 MiB
balloon 400 512 120 || fail "the guest's balloon statistics never came"
act() {
	"$kvmpilot" act $name --uri $uri --action-log "$log" "$@"
}
act --memory 256 --reason "test: balloon down" || fail "balloon down failed"
balloon 150 256 30 || fail "MemTotal did not follow the balloon down"
act --memory 448 --reason "test: balloon up" || fail "balloon up failed"
balloon 330 448 30 || fail "MemTotal did not follow the balloon up"
# below the floor: max(min, used + reserve) wins
act --memory 64 --min-memory 200 --reserve 16 --reason "test: below the floor" ||
	fail "clamped balloon failed"
balloon 100 300 30 || fail "MemTotal did not follow the clamped balloon"
# vCPUs: hot-add, and the agent in the guest onlines the new CPU (its ack says so);
# then down again by offlining it through the agent
act --vcpus 2 --reason "test: hot-add" >"$out/vcpu-up.txt" || {
	cat "$out/vcpu-up.txt"
	fail "hot-add failed"
}
cat "$out/vcpu-up.txt"
grep -q "the guest reports 2 CPUs online" "$out/vcpu-up.txt" || fail "the new CPU was not onlined"
act --vcpus 1 --reason "test: offline" >"$out/vcpu-down.txt" || {
	cat "$out/vcpu-down.txt"
	fail "offlining through the agent failed"
}
cat "$out/vcpu-down.txt"
grep -q "the guest reports 1 CPUs online" "$out/vcpu-down.txt" || fail "the CPU was not offlined"

python3 - "$log" "$kvmpilot" "$uri" "$name" <<'PY' || fail "action log or vCPU check"
import json, subprocess, sys
log, kp, uri, name = sys.argv[1:]
a = [json.loads(l) for l in open(log)]
assert [x["reason"] for x in a] == ["test: balloon down", "test: balloon up",
                                    "test: below the floor", "test: hot-add",
                                    "test: offline"], a
down, up, floor, add, off = a
# "from" is QEMU's balloon at that moment (it may still be settling)
assert down["result"] == "ok" and down["from"] > 256 * 1024 and down["to"] == 256 * 1024, down
assert up["result"] == "ok" and up["from"] < 448 * 1024 and up["to"] == 448 * 1024, up
assert floor["result"] == "ok" and floor["clamp"] == "floor", floor
assert floor["to"] >= 200 * 1024, floor  # max(min 200 MiB, guest used + 16 MiB)
assert add["result"] == "ok: hot-added 1 -> 2, agent asked to set 2 CPUs online", add
# QEMU keeps its 2 vCPUs (no hypervisor hot-remove), the guest runs 1
assert off["result"] == "ok: agent asked to set 1 CPUs online" and off["from"] == 2, off
d = json.loads(subprocess.run([kp, "domains", "--uri", uri, "--json"], check=True,
                              capture_output=True, text=True).stdout)
d = [x for x in d["domains"] if x["name"] == name][0]
assert d["vcpus"] == 2 and len(d["vcpu_threads"]) == 2, d
print("floor at %d MiB, vCPU threads %s" % (floor["to"] // 1024, d["vcpu_threads"]))
PY
echo ok
