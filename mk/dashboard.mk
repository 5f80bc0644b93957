# mk files are included before the "all" rule: keep it the default goal.
.DEFAULT_GOAL := all

# The dashboard: uPlot comes from npm (dashboard/package-lock.json, `npm ci`
# into dashboard/node_modules), and every file is embedded into the binary
# as a generated header, so nothing is installed beside build/kvmpilot.

UPLOT_DIST := dashboard/node_modules/uplot/dist
DASHBOARD_FILES := /=dashboard/index.html /index.html=dashboard/index.html \
	/app.js=dashboard/app.js /style.css=dashboard/style.css \
	/uPlot.iife.min.js=$(UPLOT_DIST)/uPlot.iife.min.js \
	/uPlot.min.css=$(UPLOT_DIST)/uPlot.min.css
DASHBOARD_DEPS := $(foreach f,$(DASHBOARD_FILES),$(lastword $(subst =, ,$(f))))

EXTRA_HEADERS += $(OUTPUT)/dashboard_assets.h

$(UPLOT_DIST)/uPlot.iife.min.js $(UPLOT_DIST)/uPlot.min.css: dashboard/package-lock.json
	cd dashboard && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $(UPLOT_DIST)/uPlot.iife.min.js $(UPLOT_DIST)/uPlot.min.css

$(OUTPUT)/dashboard_assets.h: $(sort $(DASHBOARD_DEPS)) scripts/embed-assets.sh | $(OUTPUT)
	./scripts/embed-assets.sh $@ $(DASHBOARD_FILES)

# assets.o includes the header: rebuild it when a dashboard file changes.
$(OUTPUT)/obj/userspace/publish/assets.o: $(OUTPUT)/dashboard_assets.h
