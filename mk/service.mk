# The service: `make install` (binary, systemd unit, example config) and its
# benchmark (`make bench-service`, part of `make bench`).

PREFIX ?= /usr/local
DESTDIR ?=
SYSTEMD_UNIT_DIR ?= /etc/systemd/system
SYSCONF_DIR ?= /etc/kvmpilot

.PHONY: install
install: $(OUTPUT)/kvmpilot
	install -D -m 0755 $(OUTPUT)/kvmpilot $(DESTDIR)$(PREFIX)/bin/kvmpilot
	install -D -m 0644 dist/kvmpilot.service $(DESTDIR)$(SYSTEMD_UNIT_DIR)/kvmpilot.service
	sed -i 's|@BINDIR@|$(PREFIX)/bin|g' $(DESTDIR)$(SYSTEMD_UNIT_DIR)/kvmpilot.service
	@# keep a configuration the admin already has
	[ -e $(DESTDIR)$(SYSCONF_DIR)/kvmpilot.conf ] || \
		install -D -m 0644 dist/kvmpilot.conf $(DESTDIR)$(SYSCONF_DIR)/kvmpilot.conf
	install -d -m 0755 $(DESTDIR)/var/lib/kvmpilot

.PHONY: uninstall
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/kvmpilot $(DESTDIR)$(SYSTEMD_UNIT_DIR)/kvmpilot.service

.PHONY: bench bench-service
bench: bench-service
bench-service: tests-build
	python3 tests/service/bench_service.py
