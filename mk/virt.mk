# libvirt integration: the domain and status XML are parsed with libxml2
# (already a dependency of libvirt itself).
CFLAGS += $(shell $(PKG_CONFIG) --cflags libxml-2.0 2>/dev/null)
LDLIBS += $(shell $(PKG_CONFIG) --libs libxml-2.0 2>/dev/null)

# Scale of the libvirt view: list, stats, balloon stats, events and re-lists
# for 200 and 1000 domains of a generated test-driver node (numbers, not tests).
.PHONY: bench-virt
bench-virt: $(OUTPUT)/tests/libvirt/test_scale200
	@mkdir -p $(OUTPUT)/bench-virt
	@for n in 200 1000; do \
		echo "== libvirt view, $$n domains"; \
		KVMPILOT_SCALE_DOMAINS=$$n TEST_OUT=$(abspath $(OUTPUT))/bench-virt \
			$(OUTPUT)/tests/libvirt/test_scale200 | grep '^measured' || exit 1; \
	done

.PHONY: bench
bench: bench-virt
