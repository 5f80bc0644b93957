#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make demo: the prototype's scenario on real guests, with one command.
#
#   installs the packages (make deps), builds kvmpilot and the guest image,
#   starts virtlogd/libvirtd when they are not running, starts 'kvmpilot run'
#   with the dashboard, then boots three guests under it, in parallel
#   (1 online vCPU of up to 4, 512 MiB growing up to 2048 MiB):
#     kp-demo-1 runs memhog, kp-demo-2 CPU bursts, kp-demo-3 idles,
#   and runs until Ctrl-C or SIGTERM. No guest runs unmanaged: the service
#   is up before the first one boots.
#   On the way out it stops the service, destroys the three guests, removes
#   the storage pool and folders it created and stops the daemons it started:
#   the host is left as it was.
#
# Usage: scripts/demo.sh [--check] [--no-deps] [--no-build]
#   --check     boot, verify that every guest reports samples (through the
#               service's API when 'kvmpilot run' exists, else straight from
#               the agent channels), tear down, exit 0 or 1
# Environment:
#   DEMO_LISTEN=127.0.0.1:9477   where the service listens
#   DEMO_NO_SERVICE=1            do not start 'kvmpilot run' (guests only)
#   DEMO_PREFIX=kp-demo-         guest names
#   DEMO_TIMEOUT=180             --check: seconds to wait for samples
#   DEMO_WATCH=0                 --check: then watch the guests this many seconds
#                                (make demo-check-long: 900), failing at the
#                                first OOM kill or panic in a console
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
kvmpilot="$top/build/kvmpilot"
listen=${DEMO_LISTEN:-127.0.0.1:9477}
prefix=${DEMO_PREFIX:-kp-demo-}
check=0 deps=1 build=1
for a in "$@"; do
	case $a in
	--check) check=1 ;;
	--no-deps) deps=0 ;;
	--no-build) build=0 ;;
	-h | --help)
		sed -n '3,27p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "demo: unknown option '$a' (see --help)" >&2
		exit 2
		;;
	esac
done

# GET a URL to stdout (python3 is a dependency already; curl is not).
http_get() {
	python3 -c 'import sys, urllib.request
sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1" 2>/dev/null
}

say() { printf '\033[1mdemo:\033[0m %s\n' "$*"; }
die() {
	printf 'demo: error: %s\n' "$*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "run as root (libvirt's qemu:///system, taps and BPF need it)"

# ---------------------------------------------------------------- teardown
# What this run created, so that teardown undoes exactly that.
started_daemons=()
created_vms=()
created_pool=0
created_state=0
svc_pid=
state_dir=/var/lib/kvmpilot
torn_down=0

teardown() {
	[ "$torn_down" -eq 1 ] && return
	torn_down=1
	trap '' INT TERM
	say "cleaning up"
	if [ -n "$svc_pid" ] && kill -0 "$svc_pid" 2>/dev/null; then
		kill -TERM "$svc_pid" 2>/dev/null
		for _ in $(seq 1 100); do
			kill -0 "$svc_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$svc_pid" 2>/dev/null
		wait "$svc_pid" 2>/dev/null
		say "stopped kvmpilot run"
	fi
	for vm in "${created_vms[@]}"; do
		"$kvmpilot" vm destroy "$vm" >/dev/null && say "destroyed $vm"
	done
	if [ "$created_pool" -eq 1 ]; then
		"$kvmpilot" vm pool-delete >/dev/null && say "removed storage pool 'kvmpilot'"
	fi
	if [ "$created_state" -eq 1 ]; then
		rm -rf "$state_dir" && say "removed $state_dir"
	fi
	# Daemons last, in reverse order of starting.
	for ((i = ${#started_daemons[@]} - 1; i >= 0; i--)); do
		d=${started_daemons[$i]}
		if [ -f "/run/$d.pid" ]; then
			kill -TERM "$(cat "/run/$d.pid")" 2>/dev/null
			for _ in $(seq 1 50); do
				pgrep -x "$d" >/dev/null || break
				sleep 0.1
			done
			say "stopped $d (the demo started it)"
		fi
	done
}

on_signal() {
	echo
	teardown
	exit 130
}
trap teardown EXIT
trap on_signal INT TERM

# ---------------------------------------------------------------- setup
if [ "$deps" -eq 1 ]; then
	say "installing packages (make deps)"
	make -s -C "$top" deps || die "make deps failed"
fi
if [ "$build" -eq 1 ]; then
	say "building kvmpilot"
	make -s -C "$top" -j"$(nproc)" || die "build failed"
	say "building the guest image (make guest)"
	make -s -C "$top" guest || die "make guest failed"
fi
[ -x "$kvmpilot" ] || die "no $kvmpilot (build first)"
[ -f "$top/guest/out/vmlinuz" ] && [ -f "$top/guest/out/initramfs.gz" ] ||
	die "no guest image in guest/out (make guest)"

for d in virtlogd libvirtd; do
	if ! pgrep -x "$d" >/dev/null; then
		say "starting $d"
		"$d" -d || die "cannot start $d"
		started_daemons+=("$d")
	fi
done
for _ in $(seq 1 60); do
	virsh -q -c qemu:///system version >/dev/null 2>&1 && break
	sleep 1
done
virsh -q -c qemu:///system version >/dev/null 2>&1 || die "libvirtd does not answer"

[ -d "$state_dir" ] || created_state=1
virsh -q -c qemu:///system pool-info kvmpilot >/dev/null 2>&1 || created_pool=1

service=1
if [ "${DEMO_NO_SERVICE:-0}" = 1 ]; then
	service=0
elif "$kvmpilot" run --help 2>&1 | grep -q "not implemented yet"; then
	say "'kvmpilot run' is not in this build yet: guests only"
	service=0
fi

if [ "$service" -eq 1 ]; then
	mkdir -p "$top/build/demo"
	"$kvmpilot" run --listen "$listen" --data-dir "$top/build/demo/data" \
		>"$top/build/demo/service.log" 2>&1 &
	svc_pid=$!
	healthy=0
	for _ in $(seq 1 120); do
		http_get "http://$listen/healthz" >/dev/null && healthy=1 && break
		kill -0 "$svc_pid" 2>/dev/null || die "kvmpilot run exited, see build/demo/service.log"
		sleep 0.5
	done
	[ "$healthy" -eq 1 ] || die "kvmpilot run does not answer on $listen, see build/demo/service.log"
	say "kvmpilot run is up: the guests will be managed from their first second"
fi

workloads=(memhog cpuburst idle)
for i in 1 2 3; do
	vm="$prefix$i"
	if virsh -q -c qemu:///system domstate "$vm" >/dev/null 2>&1; then
		say "removing $vm left over from an earlier demo"
		"$kvmpilot" vm destroy "$vm" >/dev/null || die "'$vm' exists and is not kvmpilot's"
	fi
done
# In parallel: on a host whose libvirtd re-probes QEMU at each define (30-60 s,
# see README, "Troubleshooting"), that wait is paid once, not three times.
# 'vm create' says what it waits for when libvirt is slow.
say "creating ${prefix}1..3 (libvirt defines and starts them)"
pids=()
for i in 1 2 3; do
	vm="$prefix$i"
	# Registered before creating: a half-made VM is destroyed too.
	created_vms+=("$vm")
	"$kvmpilot" vm create "$vm" --workload "${workloads[$((i - 1))]}" \
		--memory 512 --memory-max 2048 --vcpus 1 --vcpus-max 4 \
		--ip "10.78.$i.2/24" --host-ip "10.78.$i.1/24" 2>&1 | sed "s/^/  $vm: /" &
	pids+=($!)
done
failed=0
for p in "${pids[@]}"; do
	wait "$p" || failed=1
done
for vm in "${created_vms[@]}"; do
	virsh -q -c qemu:///system domstate "$vm" 2>/dev/null | grep -q running || failed=1
done
[ "$failed" -eq 0 ] || die "cannot create the demo guests"
say "created ${created_vms[*]}"

# ---------------------------------------------------------------- check
# Every guest must report: through the API when the service runs (it owns
# the channels then), else straight from the channel sockets.
samples_ok() {
	local vm=$1
	if [ "$service" -eq 1 ]; then
		http_get "http://$listen/api/v1/vms" | python3 -c '
import json, sys
d = json.load(sys.stdin)
vms = d["vms"] if isinstance(d, dict) else d
v = [x for x in vms if x.get("name") == sys.argv[1]]
src = (v[0].get("memory") or {}).get("source") if v else None
sys.exit(0 if src == "agent" else 1)' "$vm"
	else
		python3 - "$state_dir/channels/$vm.agent.sock" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
try:
    s.connect(sys.argv[1])
    buf = b""
    while buf.count(b"\n") < 2:
        c = s.recv(4096)
        if not c:
            break
        buf += c
except OSError:
    sys.exit(1)
sys.exit(0 if buf.count(b"\n") >= 2 else 1)
EOF
	fi
}

if [ "$check" -eq 1 ]; then
	deadline=$((SECONDS + ${DEMO_TIMEOUT:-180}))
	for vm in "${created_vms[@]}"; do
		until samples_ok "$vm"; do
			[ $SECONDS -lt $deadline ] || die "no samples from $vm"
			sleep 2
		done
		say "$vm reports samples"
	done
	consoles_ok() {
		local vm
		for vm in "${created_vms[@]}"; do
			if grep -qE 'Out of memory|oom-kill|Kernel panic' "$state_dir/console/$vm.log"; then
				grep -E 'Out of memory|oom-kill|Kernel panic' "$state_dir/console/$vm.log" | head -3 >&2
				die "$vm: OOM or panic in its console"
			fi
		done
	}
	consoles_ok
	watch_s=${DEMO_WATCH:-0}
	if [ "$watch_s" -gt 0 ]; then
		say "watching the guests for $watch_s s"
		end=$((SECONDS + watch_s))
		while [ $SECONDS -lt $end ]; do
			sleep 5
			consoles_ok
		done
		for vm in "${created_vms[@]}"; do
			say "$vm: $(grep -c 'memhog exited' "$state_dir/console/$vm.log") memory_hog runs, no OOM kill"
		done
	fi
	say "check passed"
	exit 0
fi

# ---------------------------------------------------------------- run
echo
"$kvmpilot" vm list
echo
if [ "$service" -eq 1 ]; then
	say "dashboard: http://$listen/   (API: http://$listen/api/v1/vms, metrics: /metrics)"
	say "press Ctrl-C to stop the demo and clean up"
	wait "$svc_pid"
	svc_pid=
	say "kvmpilot run stopped"
else
	say "guests are running; consoles in $state_dir/console/"
	say "press Ctrl-C to stop the demo and clean up"
	while :; do sleep 1; done
fi
