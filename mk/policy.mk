# (Included before the main rules: keep `make` meaning `make all`.)
.DEFAULT_GOAL := all

# The policy benchmark: every policy on every trace, the totals, the oracle
# and the issue-4 goals, on the committed traces and on held-out ones.
GENTRACE := $(OUTPUT)/tests/tools/gentrace
POLICY_TRACES := $(wildcard tests/data/traces/*.csv)
HELDOUT_DIR := $(OUTPUT)/traces-heldout
STRESS_DIR := $(OUTPUT)/traces-stress
MEMHOG_DIR := $(OUTPUT)/traces-memhog

# Regenerate the committed traces (deterministic: same seeds, same files).
.PHONY: policy-traces
policy-traces: $(GENTRACE)
	./scripts/policy-traces.sh $(GENTRACE) train tests/data/traces

.PHONY: bench-policy
bench-policy: $(OUTPUT)/kvmpilot $(GENTRACE)
	@echo "== committed traces (tests/data/traces)"
	@$(OUTPUT)/kvmpilot replay --compare $(POLICY_TRACES)
	@./scripts/policy-traces.sh $(GENTRACE) heldout $(HELDOUT_DIR)
	@echo
	@echo "== held-out traces (never tuned on; $(HELDOUT_DIR))"
	@$(OUTPUT)/kvmpilot replay --compare $(HELDOUT_DIR)/*.csv
	@./scripts/policy-traces.sh $(GENTRACE) stress $(STRESS_DIR)
	@echo
	@echo "== stress traces (never tuned on; $(STRESS_DIR))"
	@$(OUTPUT)/kvmpilot replay --compare $(STRESS_DIR)/*.csv
	@./scripts/policy-traces.sh $(GENTRACE) memhog $(MEMHOG_DIR)
	@echo
	@echo "== memory_hog at its defaults, the README's VM (512..2048 MiB; $(MEMHOG_DIR))"
	@$(OUTPUT)/kvmpilot replay --compare --mem-start 512 --mem-max 2048 $(MEMHOG_DIR)/*.csv

.PHONY: bench
bench: bench-policy

# Replay speed: every committed trace through the predictive policy, 20 times.
.PHONY: bench-replay-speed
bench-replay-speed: $(OUTPUT)/kvmpilot
	@set -e; n=0; for f in $(POLICY_TRACES); do n=$$((n + $$(wc -l < $$f) - 1)); done; \
	start=$$(date +%s%N); \
	for i in $$(seq 20); do $(OUTPUT)/kvmpilot replay --policy predictive $(POLICY_TRACES) >/dev/null; done; \
	end=$$(date +%s%N); \
	echo "replay speed: $$((n * 20)) ticks in $$(((end - start) / 1000000)) ms" \
	     "($$((n * 20 * 1000000 / (end - start + 1))) ticks/ms with parsing and process start-up)"

bench-policy: bench-replay-speed
