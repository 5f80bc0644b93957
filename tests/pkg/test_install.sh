#!/bin/bash
# make install / install-agent with DESTDIR and PREFIX put every file where
# the README says, with the folders substituted into the units and the init
# script; an existing configuration is kept; make uninstall / uninstall-agent
# remove what they put and nothing else.
set -eu
src=${KVMPILOT_SRC:?} out=${KVMPILOT_BUILD:?} tout=${TEST_OUT:?}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}
ok() { echo "ok: $*"; }

dest=$tout/dest
mk() { make -s -C "$src" OUTPUT="$out" DESTDIR="$dest" "$@" >>"$tout/make.log" 2>&1 ||
	{
		tail -30 "$tout/make.log"
		fail "make $*"
	}; }

# A configuration the admin already has must survive.
mkdir -p "$dest/etc/kvmpilot"
echo "# the admin's" >"$dest/etc/kvmpilot/kvmpilot.conf"
mk PREFIX=/opt/kp install install-agent

want="
/etc/default/kvmpilot-agent 644
/etc/init.d/kvmpilot-agent 755
/etc/kvmpilot/kvmpilot.conf 644
/etc/systemd/system/kvmpilot-agent-tcp.service 644
/etc/systemd/system/kvmpilot-agent.service 644
/etc/systemd/system/kvmpilot.service 644
/etc/udev/rules.d/60-kvmpilot-agent.rules 644
/opt/kp/sbin/kvmpilot 755
/opt/kp/sbin/kvmpilot-agent 755
/opt/kp/share/bash-completion/completions/kvmpilot 644
/opt/kp/share/bash-completion/completions/kvmpilot-agent 644
/opt/kp/share/man/man5/kvmpilot.conf.5 644
/opt/kp/share/man/man8/kvmpilot-agent.8 644
/opt/kp/share/man/man8/kvmpilot.8 644"
got=$(cd "$dest" && find . -type f -printf '/%P %m\n' | sort)
[ "$got" = "$(echo "$want" | sed '/^$/d')" ] || {
	diff <(echo "$want" | sed '/^$/d') <(echo "$got") || true
	fail "installed files differ (< wanted, > got)"
}
[ "$(stat -c %a "$dest/var/lib/kvmpilot")" = 755 ] || fail "/var/lib/kvmpilot not 0755"
[ "$(cat "$dest/etc/kvmpilot/kvmpilot.conf")" = "# the admin's" ] || fail "the admin's configuration was replaced"
ok "install: 14 files and /var/lib/kvmpilot where the README says; the admin's configuration kept"

# The folders reached the units and the init script; nothing is left to substitute.
grep -rn '@[A-Z]*DIR@' "$dest" && fail "placeholders left"
grep -qx 'ExecStart=/opt/kp/sbin/kvmpilot run --config /etc/kvmpilot/kvmpilot.conf' \
	"$dest/etc/systemd/system/kvmpilot.service" || fail "kvmpilot.service ExecStart"
grep -qx 'ExecStart=/opt/kp/sbin/kvmpilot-agent $KVMPILOT_AGENT_OPTS' \
	"$dest/etc/systemd/system/kvmpilot-agent.service" || fail "kvmpilot-agent.service ExecStart"
grep -qx 'DAEMON=/opt/kp/sbin/kvmpilot-agent' "$dest/etc/init.d/kvmpilot-agent" || fail "init script DAEMON"
"$dest/opt/kp/sbin/kvmpilot" --help | grep -q '^Usage: kvmpilot' || fail "installed kvmpilot does not run"
"$dest/opt/kp/sbin/kvmpilot-agent" --version | grep -q '^kvmpilot-agent ' || fail "installed agent does not run"
unshare -m --propagation private sh -c '
	mkdir -p /opt/kp && mount --bind "$1/opt/kp" /opt/kp &&
	exec systemd-analyze verify --man=no "$1"/etc/systemd/system/*.service' sh "$dest" \
	>"$tout/verify.log" 2>&1 || {
	cat "$tout/verify.log"
	fail "systemd-analyze verify"
}
[ ! -s "$tout/verify.log" ] || {
	cat "$tout/verify.log"
	fail "systemd-analyze verify printed warnings"
}
ok "units and init script name /opt/kp/sbin; systemd-analyze verify: no warning"

mk PREFIX=/opt/kp uninstall uninstall-agent
got=$(cd "$dest" && find . -type f -printf '/%P\n' | sort | xargs)
[ "$got" = "/etc/default/kvmpilot-agent /etc/kvmpilot/kvmpilot.conf" ] ||
	fail "left after uninstall: $got"
[ -d "$dest/var/lib/kvmpilot" ] || fail "uninstall removed the state folder"
ok "uninstall: only the configuration and the state are left"

# Default prefix: /usr/local.
rm -rf "$dest"
mk install
[ -x "$dest/usr/local/sbin/kvmpilot" ] && [ -f "$dest/usr/local/share/man/man8/kvmpilot.8" ] ||
	fail "default PREFIX is not /usr/local"
mk uninstall
ok "PREFIX defaults to /usr/local"
echo "pass: make install/uninstall"
