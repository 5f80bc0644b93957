# make deb: the kvmpilot (host) and kvmpilot-agent (guest) packages, built
# with dpkg-buildpackage from a copy of the tree, into $(OUTPUT)/deb/, then
# checked with lintian (each remaining tag is explained in the README or by an
# override in debian/*.lintian-overrides).
#
# The copy keeps the tree clean (dpkg-buildpackage writes into debian/ and the
# parent folder) and carries uPlot from dashboard/node_modules, fetched here
# by npm first, so the package build itself needs no network.

DEB_OUT := $(OUTPUT)/deb
DEB_VERSION := $(shell dpkg-parsechangelog -l debian/changelog -S Version 2>/dev/null)
DEB_SRC := $(DEB_OUT)/kvmpilot-$(DEB_VERSION)
DEB_JOBS ?= $(shell nproc 2>/dev/null || echo 1)

.PHONY: deb
deb: $(UPLOT_DIST)/uPlot.iife.min.js $(UPLOT_DIST)/uPlot.min.css
	@test -n "$(DEB_VERSION)" || { echo "deb: no version in debian/changelog" >&2; exit 1; }
	rm -rf $(DEB_OUT)
	mkdir -p $(DEB_SRC)
	@# the tree as 'make' sees it: tracked and new files, not ignored ones
	{ git ls-files -co --exclude-standard 2>/dev/null || \
	  find . -path ./build -prune -o -path './build-*' -prune -o -path ./.git -prune -o \
		-path '*/node_modules' -prune -o -type f -print; } | \
		while read -r f; do [ -f "$$f" ] && printf '%s\n' "$$f"; done | \
		tar -cf - -T - | tar -xf - -C $(DEB_SRC)
	tar -cf - dashboard/node_modules/uplot/dist dashboard/node_modules/uplot/LICENSE \
		dashboard/node_modules/uplot/package.json | tar -xf - -C $(DEB_SRC)
	touch $(DEB_SRC)/$(UPLOT_DIST)/*
	cd $(DEB_SRC) && DEB_BUILD_OPTIONS="parallel=$(DEB_JOBS) $(DEB_BUILD_OPTIONS)" \
		dpkg-buildpackage -b -us -uc
	rm -rf $(DEB_SRC)
	lintian --info --display-info --fail-on error,warning $(DEB_OUT)/kvmpilot_$(DEB_VERSION)_*.changes
	@ls -l $(DEB_OUT)/*.deb
