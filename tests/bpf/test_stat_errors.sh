#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# 'kvmpilot stat' and 'unpin' fail clearly, with a non-zero exit, on bad
# options, pids that are no QEMU, and without root; JSON mode reports
# {"error": ...}. Nothing is left pinned after a failure.
set -u
K=${KVMPILOT:-build/kvmpilot}
root=/sys/fs/bpf/kvmpilot-test-$$-errors
fails=0
[ "$(id -u)" -eq 0 ] || { echo "skip: needs root"; exit 77; }

# expect STATUS PATTERN CMD...: exit status and a message matching PATTERN.
expect() {
	local want=$1 pat=$2 out rc
	shift 2
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" -eq "$want" ] && grep -qE -- "$pat" <<<"$out"; then
		echo "ok: '$*' -> $rc, /$pat/"
	else
		echo "FAIL: '$*' -> $rc (want $want), output: $out"
		fails=$((fails + 1))
	fi
}

expect 0 "Usage: kvmpilot stat" "$K" stat --help
expect 0 "Usage: kvmpilot unpin" "$K" unpin --help
expect 2 "unknown option '--bogus'" "$K" stat --bogus
expect 2 "invalid interval 'abc'" "$K" stat --interval abc
expect 2 "invalid interval '0'" "$K" stat --interval 0
expect 2 "invalid interval '1e9'" "$K" stat --interval 1e9
expect 2 "invalid count '-1'" "$K" stat --count -1
expect 2 "invalid pid 'x12'" "$K" stat --pid x12
expect 2 "invalid pid '0'" "$K" stat --pid 0
expect 2 "needs a value" "$K" stat --pid
expect 2 "unexpected argument 'foo'" "$K" stat foo
expect 2 '^\{"error":"invalid interval' "$K" stat --json --interval -5
# A pid that is not QEMU, and one that does not exist.
expect 1 "pid '1' is not a QEMU process" "$K" stat --pin-root "$root" --pid 1 --count 1
expect 1 '"error":"pid .* does not exist' "$K" stat --json --pin-root "$root" --pid 4000000 --count 1
[ ! -e "$root" ] && echo "ok: nothing pinned after a failure" || {
	echo "FAIL: $root left behind"
	fails=$((fails + 1))
}
# Without root.
expect 1 "needs root" setpriv --reuid=65534 --regid=65534 --clear-groups "$K" stat --count 1
expect 1 '"error":"stat needs root' setpriv --reuid=65534 --regid=65534 --clear-groups "$K" stat --json
expect 1 "needs root" setpriv --reuid=65534 --regid=65534 --clear-groups "$K" unpin
# A reader that goes away ends stat (exit 0), it does not run forever.
timeout 20 bash -c "'$K' stat --pin-root '$root' --interval 0.2 | head -n 1 >/dev/null; exit \${PIPESTATUS[0]}"
rc=$?
if [ "$rc" -eq 0 ]; then
	echo "ok: 'stat | head -n 1' ends cleanly"
else
	echo "FAIL: 'stat | head -n 1' -> $rc"
	fails=$((fails + 1))
fi
"$K" unpin --force --pin-root "$root" >/dev/null 2>&1

# bpffs and tracefs missing (in a mount namespace of our own): stat mounts them.
if unshare -m --propagation private sh -c "umount /sys/fs/bpf && umount /sys/kernel/tracing &&
	! mountpoint -q /sys/fs/bpf && ! mountpoint -q /sys/kernel/tracing &&
	'$K' stat --json --count 1 --interval 0.2 --pin-root /sys/fs/bpf/kvmpilot-ns >/dev/null &&
	mountpoint -q /sys/fs/bpf && mountpoint -q /sys/kernel/tracing"; then
	echo "ok: stat mounts bpffs and tracefs when they are missing"
else
	echo "FAIL: stat without bpffs/tracefs"
	fails=$((fails + 1))
fi
"$K" unpin --force --pin-root "$root" >/dev/null 2>&1
[ "$fails" -eq 0 ]
