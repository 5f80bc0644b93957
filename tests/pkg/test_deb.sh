#!/bin/bash
# 'make deb' builds both packages (lintian finding no error or warning), they
# install into a scratch root with dpkg --root, hold the files the README
# lists with the right modes, units that systemd-analyze verifies, man pages
# that man renders without a warning, a working bash completion, and remove
# and purge without leaving a file behind.
#
# The scratch root's dpkg database starts as a copy of this host's, so
# dependencies are checked against what the host has, while every file of
# the packages lands in the scratch root. Maintainer scripts run outside it
# (--force-script-chrootless, with DPKG_ROOT set, which debhelper's scripts
# honour), in a mount namespace where /run/systemd is empty, so that they
# never touch the host's systemd.
set -eu
src=${KVMPILOT_SRC:?} out=${KVMPILOT_BUILD:?} tout=${TEST_OUT:?}

if [ "$(id -u)" -ne 0 ]; then
	echo "skip: needs root (dpkg --root, mount namespaces)"
	exit 77
fi
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
ok() { echo "ok: $*"; }

version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
code_version=$(sed -n 's/^#define KVMPILOT_VERSION *"\(.*\)"/\1/p' "$src/common/kvmpilot.h")
[ "$version" = "$code_version" ] ||
	fail "debian/changelog says $version, common/kvmpilot.h says $code_version"

# --- build -------------------------------------------------------------
start=$(date +%s.%N)
if ! make -s -C "$src" OUTPUT="$out" deb >"$tout/deb.log" 2>&1; then
	tail -40 "$tout/deb.log"
	fail "make deb"
fi
secs=$(echo "$(date +%s.%N) - $start" | bc)
echo "make deb took ${secs} s"
host=$out/deb/kvmpilot_${version}_amd64.deb
agent=$out/deb/kvmpilot-agent_${version}_amd64.deb
[ -f "$host" ] && [ -f "$agent" ] || fail "no packages in $out/deb: $(ls "$out/deb")"
# lintian ran inside 'make deb' with --fail-on error,warning; say what it said.
grep -E '^[EWI]: ' "$tout/deb.log" && fail "lintian tags above" || ok "lintian: no tag"

# --- install into a scratch root ---------------------------------------
root=$tout/root
admin=$root/var/lib/dpkg
mkdir -p "$admin/info" "$admin/updates" "$admin/triggers"
cp /var/lib/dpkg/status "$admin/status"
: >"$admin/available"
# Empty file lists: the host's packages own no file in the scratch root.
dpkg-query -W -f '${binary:Package}\n' | while read -r p; do : >"$admin/info/$p.list"; done

# dpkg in a namespace where systemd seems absent (see the top).
dpkg_root() {
	unshare -m --propagation private sh -c '
		[ -d /run/systemd ] && mount -t tmpfs none /run/systemd
		exec "$@"' sh dpkg --root="$root" --force-script-chrootless --log="$tout/dpkg.log" "$@"
}
dpkg_root -i "$host" "$agent" >"$tout/install.log" 2>&1 || {
	cat "$tout/install.log"
	fail "dpkg -i"
}
for p in kvmpilot kvmpilot-agent; do
	st=$(dpkg-query --admindir="$admin" -W -f '${Status} ${Version}' "$p")
	[ "$st" = "install ok installed $version" ] || fail "$p: $st"
done
ok "both packages installed: $(dpkg-deb -f "$host" Depends)"

# mode owner path
expect() {
	local mode=$1 path=$2 got
	got=$(stat -c '%a %U:%G' "$root$path" 2>/dev/null) || fail "missing $path"
	[ "$got" = "$mode root:root" ] || fail "$path is $got, want $mode root:root"
}
expect 755 /usr/sbin/kvmpilot
expect 644 /lib/systemd/system/kvmpilot.service
expect 644 /etc/kvmpilot/kvmpilot.conf
expect 755 /var/lib/kvmpilot
expect 644 /usr/share/man/man8/kvmpilot.8.gz
expect 644 /usr/share/man/man5/kvmpilot.conf.5.gz
expect 644 /usr/share/bash-completion/completions/kvmpilot
expect 755 /usr/sbin/kvmpilot-agent
expect 644 /lib/systemd/system/kvmpilot-agent.service
expect 644 /lib/systemd/system/kvmpilot-agent-tcp.service
expect 644 /lib/udev/rules.d/60-kvmpilot-agent.rules
expect 644 /etc/default/kvmpilot-agent
expect 755 /etc/init.d/kvmpilot-agent
expect 644 /usr/share/man/man8/kvmpilot-agent.8.gz
ok "files and modes"

conf=$(dpkg-query --admindir="$admin" -W -f '${Conffiles}\n' kvmpilot kvmpilot-agent | awk '{print $1}' | sort | xargs)
[ "$conf" = "/etc/default/kvmpilot-agent /etc/init.d/kvmpilot-agent /etc/kvmpilot/kvmpilot.conf" ] ||
	fail "conffiles: $conf"
ok "conffiles: $conf"

# The binaries run, and are what they claim.
"$root/usr/sbin/kvmpilot" --help | grep -q "Version $version" || fail "kvmpilot --help"
"$root/usr/sbin/kvmpilot-agent" --version | grep -q "^kvmpilot-agent $version " || fail "agent --version"
file -b "$root/usr/sbin/kvmpilot-agent" 2>/dev/null | grep -q 'statically linked' ||
	ldd "$root/usr/sbin/kvmpilot-agent" 2>&1 | grep -q 'not a dynamic executable' ||
	fail "the agent is not static"
# Debian's hardening reached the binary: full RELRO, PIE, stack protector, fortify.
readelf -d "$root/usr/sbin/kvmpilot" | grep -q 'BIND_NOW' || fail "kvmpilot: no BIND_NOW"
readelf -h "$root/usr/sbin/kvmpilot" | grep -q 'DYN' || fail "kvmpilot: not PIE"
readelf -W --dyn-syms "$root/usr/sbin/kvmpilot" | grep -q '__stack_chk_fail' || fail "kvmpilot: no stack protector"
readelf -W --dyn-syms "$root/usr/sbin/kvmpilot" | grep -q '_chk@' || fail "kvmpilot: no fortified calls"
ok "binaries run, agent static, host binary hardened"

# The service is enabled on install (deb-systemd-helper, inside the root);
# the agent's units are not: udev starts one, the admin enables the other.
[ -L "$root/etc/systemd/system/multi-user.target.wants/kvmpilot.service" ] ||
	fail "kvmpilot.service not enabled"
[ ! -e "$root/etc/systemd/system/multi-user.target.wants/kvmpilot-agent-tcp.service" ] ||
	fail "kvmpilot-agent-tcp.service enabled"
ok "kvmpilot.service enabled, the agent's TCP unit not"

# --- units ---------------------------------------------------------------
units=$root/lib/systemd/system
grep -qx 'ExecStart=/usr/sbin/kvmpilot run --config /etc/kvmpilot/kvmpilot.conf' "$units/kvmpilot.service" ||
	fail "kvmpilot.service ExecStart: $(grep ExecStart "$units/kvmpilot.service")"
# verify resolves ExecStart= on this host: lay the packaged binaries over /usr/sbin.
unshare -m --propagation private sh -c '
	mount -t overlay overlay -o lowerdir="$1/usr/sbin:/usr/sbin" /usr/sbin &&
	exec systemd-analyze verify --man=no "$2/kvmpilot.service" "$2/kvmpilot-agent.service" \
		"$2/kvmpilot-agent-tcp.service"' sh "$root" "$units" >"$tout/verify.log" 2>&1 ||
	{
		cat "$tout/verify.log"
		fail "systemd-analyze verify"
	}
[ ! -s "$tout/verify.log" ] || {
	cat "$tout/verify.log"
	fail "systemd-analyze verify printed warnings"
}
ok "systemd-analyze verify: 3 units, no warning"

# The hardening stays: exposure at most 3.0 (2.7 when written, 9.0 before).
score=$(systemd-analyze security --offline=true --root="$root" --no-pager kvmpilot.service 2>&1 |
	sed -n 's/.*Overall exposure level for kvmpilot.service: \([0-9.]*\).*/\1/p')
[ -n "$score" ] || fail "no security score"
echo "systemd-analyze security kvmpilot.service: $score"
awk -v s="$score" 'BEGIN { exit !(s <= 3.0) }' || fail "exposure $score above 3.0"
for cap in CAP_SYS_ADMIN CAP_NET_ADMIN CAP_SYS_MODULE; do
	grep -q "^CapabilityBoundingSet=.*$cap" "$units/kvmpilot.service" && fail "unit grants $cap"
done
ok "exposure $score, no CAP_SYS_ADMIN"

# The agent's unit waits for the device the udev rule tags, and the rule
# pulls in that very unit.
dev=$(systemd-escape --path --suffix=device /dev/virtio-ports/org.kvmpilot.agent.0)
grep -qxF "BindsTo=$dev" "$units/kvmpilot-agent.service" || fail "agent unit not bound to $dev"
grep -q 'ATTR{name}=="org.kvmpilot.agent.0"' "$root/lib/udev/rules.d/60-kvmpilot-agent.rules" ||
	fail "udev rule does not match the port"
grep -q 'ENV{SYSTEMD_WANTS}="kvmpilot-agent.service"' "$root/lib/udev/rules.d/60-kvmpilot-agent.rules" ||
	fail "udev rule does not start the unit"
grep -q '^EnvironmentFile=-/etc/default/kvmpilot-agent$' "$units/kvmpilot-agent.service" ||
	fail "agent unit does not read /etc/default/kvmpilot-agent"
ok "agent unit bound to $dev, started by the udev rule"

# The init script: a syntax check, and the port it waits for.
sh -n "$root/etc/init.d/kvmpilot-agent" || fail "init script syntax"
grep -q '^DAEMON=/usr/sbin/kvmpilot-agent$' "$root/etc/init.d/kvmpilot-agent" || fail "init script DAEMON"

# --- man pages -----------------------------------------------------------
for m in man8/kvmpilot.8.gz man5/kvmpilot.conf.5.gz man8/kvmpilot-agent.8.gz; do
	LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$root/usr/share/man/$m" \
		>"$tout/$(basename "$m" .gz).txt" 2>"$tout/man.err" || fail "man -l $m"
	[ ! -s "$tout/man.err" ] || {
		cat "$tout/man.err"
		fail "man -l $m: warnings"
	}
done
# Every command of 'kvmpilot --help' is in kvmpilot(8), every key of the
# example configuration in kvmpilot.conf(5): the pages follow the program.
for c in $("$root/usr/sbin/kvmpilot" --help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }'); do
	grep -q "kvmpilot $c" "$tout/kvmpilot.8.txt" || fail "kvmpilot(8) lacks 'kvmpilot $c'"
done
for k in $(sed -n 's/^#\{0,1\}\([a-z_]*\) = .*/\1/p' "$src/dist/kvmpilot.conf" | sort -u); do
	grep -q "$k" "$tout/kvmpilot.conf.5.txt" || fail "kvmpilot.conf(5) lacks '$k'"
done
grep -q 'KVMPILOT_AGENT_TCP' "$tout/kvmpilot-agent.8.txt" || fail "kvmpilot-agent(8) lacks the TCP mode"
ok "man -l: 3 pages without a warning, commands and keys all there"

# --- bash completion -----------------------------------------------------
complete_words() {
	PATH="$root/usr/sbin:$PATH" bash -c '
		source /usr/share/bash-completion/bash_completion
		source "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
		_kvmpilot "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}"' sh "$root/usr/share/bash-completion/completions/kvmpilot" "$@"
}
got=$(complete_words kvmpilot "" | sort | xargs)
[ "$got" = "act agent domains help replay run stat unpin vm" ] || fail "commands completed: '$got'"
got=$(complete_words kvmpilot run --l | xargs)
[ "$got" = "--listen" ] || fail "'kvmpilot run --l' completed to '$got'"
got=$(complete_words kvmpilot vm "" | sort | xargs)
[ "$got" = "attach-agent create destroy list pool-delete" ] || fail "vm completed: '$got'"
ok "bash completion: commands, options, vm actions"

# --- remove, purge -------------------------------------------------------
echo "# changed by the admin" >>"$root/etc/kvmpilot/kvmpilot.conf"
dpkg_root -r kvmpilot kvmpilot-agent >"$tout/remove.log" 2>&1 || {
	cat "$tout/remove.log"
	fail "dpkg -r"
}
[ -f "$root/etc/kvmpilot/kvmpilot.conf" ] || fail "remove took the admin's configuration"
[ ! -e "$root/usr/sbin/kvmpilot" ] && [ ! -e "$root/usr/sbin/kvmpilot-agent" ] || fail "binaries left after remove"
dpkg_root -P kvmpilot kvmpilot-agent >"$tout/purge.log" 2>&1 || {
	cat "$tout/purge.log"
	fail "dpkg -P"
}
left=$(find "$root" -mindepth 1 -not -path "$root/var/lib/dpkg" -not -path "$root/var/lib/dpkg/*" \
	-not -type d)
[ -z "$left" ] || fail "left after purge: $left"
for p in kvmpilot kvmpilot-agent; do
	st=$(dpkg-query --admindir="$admin" -W -f '${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	[ -z "$st" ] || [ "$st" = "un " ] || fail "$p still known to dpkg: '$st'"
done
ok "removed (configuration kept), purged: no file left"
echo "pass: make deb ${secs} s, installed, verified, removed"
