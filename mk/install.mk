# make install / make uninstall, for hosts (and guests) that do not use the
# packages, and the man pages. The packages (mk/deb.mk, debian/rules) install
# through the same rules with PREFIX=/usr and the distribution's folders.
#
#   make install [DESTDIR=...] [PREFIX=/usr/local]     the host service
#   make install-agent [DESTDIR=...] [PREFIX=...]      the guest agent
#   make uninstall / uninstall-agent                   remove what those put;
#                                                      config and state stay
#   make man                                           $(OUTPUT)/man/*.{5,8}

PREFIX ?= /usr/local
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
BASH_COMPLETION_DIR ?= $(PREFIX)/share/bash-completion/completions
# Configuration and units where the admin's own go, whatever the prefix.
SYSCONFDIR ?= /etc
SYSTEMD_UNIT_DIR ?= /etc/systemd/system
UDEV_RULES_DIR ?= /etc/udev/rules.d
STATE_DIR ?= /var/lib/kvmpilot

MAN_PAGES := $(OUTPUT)/man/kvmpilot.8 $(OUTPUT)/man/kvmpilot.conf.5 $(OUTPUT)/man/kvmpilot-agent.8
AGENT_BIN := $(OUTPUT)/guest/kvmpilot-agent

# The README is the one source of their text (man/mkman.py).
$(OUTPUT)/man/%: man/%.md man/mkman.py README.md common/kvmpilot.h
	@mkdir -p $(dir $@)
	python3 man/mkman.py $< README.md common/kvmpilot.h $@

.PHONY: man
man: $(MAN_PAGES)

# Folders and the binary's path as the installed units and script name them.
SUBST = sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g'

.PHONY: install
install: $(OUTPUT)/kvmpilot $(MAN_PAGES)
	install -D -m 0755 $(OUTPUT)/kvmpilot $(DESTDIR)$(SBINDIR)/kvmpilot
	install -d -m 0755 $(DESTDIR)$(SYSTEMD_UNIT_DIR)
	$(SUBST) dist/kvmpilot.service >$(DESTDIR)$(SYSTEMD_UNIT_DIR)/kvmpilot.service
	chmod 0644 $(DESTDIR)$(SYSTEMD_UNIT_DIR)/kvmpilot.service
	@# keep a configuration the admin already has
	[ -e $(DESTDIR)$(SYSCONFDIR)/kvmpilot/kvmpilot.conf ] || \
		install -D -m 0644 dist/kvmpilot.conf $(DESTDIR)$(SYSCONFDIR)/kvmpilot/kvmpilot.conf
	install -D -m 0644 $(OUTPUT)/man/kvmpilot.8 $(DESTDIR)$(MANDIR)/man8/kvmpilot.8
	install -D -m 0644 $(OUTPUT)/man/kvmpilot.conf.5 $(DESTDIR)$(MANDIR)/man5/kvmpilot.conf.5
	install -D -m 0644 dist/kvmpilot.bash-completion $(DESTDIR)$(BASH_COMPLETION_DIR)/kvmpilot
	install -d -m 0755 $(DESTDIR)$(STATE_DIR)

.PHONY: uninstall
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/kvmpilot $(DESTDIR)$(SYSTEMD_UNIT_DIR)/kvmpilot.service \
		$(DESTDIR)$(MANDIR)/man8/kvmpilot.8 $(DESTDIR)$(MANDIR)/man5/kvmpilot.conf.5 \
		$(DESTDIR)$(BASH_COMPLETION_DIR)/kvmpilot
	@echo "uninstall: kept $(DESTDIR)$(SYSCONFDIR)/kvmpilot and $(DESTDIR)$(STATE_DIR)"

# The agent is static: the same binary serves every guest, with or without
# systemd (the init script is the fallback; see the README's "Packages").
.PHONY: install-agent
install-agent: $(AGENT_BIN) $(OUTPUT)/man/kvmpilot-agent.8
	install -D -m 0755 $(AGENT_BIN) $(DESTDIR)$(SBINDIR)/kvmpilot-agent
	install -D -m 0644 $(OUTPUT)/man/kvmpilot-agent.8 $(DESTDIR)$(MANDIR)/man8/kvmpilot-agent.8
	install -d -m 0755 $(DESTDIR)$(SYSTEMD_UNIT_DIR) $(DESTDIR)$(SYSCONFDIR)/init.d
	for u in kvmpilot-agent.service kvmpilot-agent-tcp.service; do \
		$(SUBST) dist/$$u >$(DESTDIR)$(SYSTEMD_UNIT_DIR)/$$u && \
		chmod 0644 $(DESTDIR)$(SYSTEMD_UNIT_DIR)/$$u || exit 1; \
	done
	$(SUBST) dist/kvmpilot-agent.init >$(DESTDIR)$(SYSCONFDIR)/init.d/kvmpilot-agent
	chmod 0755 $(DESTDIR)$(SYSCONFDIR)/init.d/kvmpilot-agent
	install -D -m 0644 dist/kvmpilot-agent.rules $(DESTDIR)$(UDEV_RULES_DIR)/60-kvmpilot-agent.rules
	[ -e $(DESTDIR)$(SYSCONFDIR)/default/kvmpilot-agent ] || \
		install -D -m 0644 dist/kvmpilot-agent.default $(DESTDIR)$(SYSCONFDIR)/default/kvmpilot-agent
	install -D -m 0644 dist/kvmpilot.bash-completion \
		$(DESTDIR)$(BASH_COMPLETION_DIR)/kvmpilot-agent

.PHONY: uninstall-agent
uninstall-agent:
	rm -f $(DESTDIR)$(SBINDIR)/kvmpilot-agent $(DESTDIR)$(MANDIR)/man8/kvmpilot-agent.8 \
		$(DESTDIR)$(SYSTEMD_UNIT_DIR)/kvmpilot-agent.service \
		$(DESTDIR)$(SYSTEMD_UNIT_DIR)/kvmpilot-agent-tcp.service \
		$(DESTDIR)$(SYSCONFDIR)/init.d/kvmpilot-agent \
		$(DESTDIR)$(UDEV_RULES_DIR)/60-kvmpilot-agent.rules \
		$(DESTDIR)$(BASH_COMPLETION_DIR)/kvmpilot-agent
	@echo "uninstall-agent: kept $(DESTDIR)$(SYSCONFDIR)/default/kvmpilot-agent"
