# Host density benchmark (issue 12): how many VMs one host budget holds with
# predictive+arbiter against static, mom and proxmox, on the committed traces,
# the held-out and stress sets of bench-policy, and a set generated here with
# seeds nothing was ever tuned on (scripts/bench-host.py; README "Host replay").
# (Included before the main rules: keep `make` meaning `make all`.)
.DEFAULT_GOAL := all

HOST_BUDGET_MIB ?= 16384
BENCH_HOST_DIR := $(OUTPUT)/bench-host
BENCH_HOST_GEN := $(OUTPUT)/tests/tools/gentrace
BENCH_HOST_SHAPES := memhog bursts diurnal leak steps gc

.PHONY: bench-host
bench-host: $(OUTPUT)/kvmpilot $(BENCH_HOST_GEN)
	@./scripts/policy-traces.sh $(BENCH_HOST_GEN) heldout $(OUTPUT)/traces-heldout
	@./scripts/policy-traces.sh $(BENCH_HOST_GEN) stress $(OUTPUT)/traces-stress
	@rm -rf $(BENCH_HOST_DIR) && mkdir -p $(BENCH_HOST_DIR)/generated
	@set -e; i=0; for seed in $$(seq 401 412); do \
		set -- $(BENCH_HOST_SHAPES); shift $$((i % $$#)); \
		$(BENCH_HOST_GEN) $$1 $$seed 1800 > $(BENCH_HOST_DIR)/generated/$${1}_$$seed.csv; \
		i=$$((i + 1)); done
	@python3 scripts/bench-host.py $(OUTPUT)/kvmpilot $(HOST_BUDGET_MIB) $(BENCH_HOST_DIR) \
		committed=tests/data/traces held-out=$(OUTPUT)/traces-heldout \
		generated=$(BENCH_HOST_DIR)/generated stress=$(OUTPUT)/traces-stress

.PHONY: bench
bench: bench-host
