# The policy benchmark: every policy on every trace, the totals, the oracle
# and the issue-4 goals, on the committed traces and on held-out ones.
GENTRACE := $(OUTPUT)/tests/tools/gentrace
POLICY_TRACES := $(wildcard tests/data/traces/*.csv)
HELDOUT_DIR := $(OUTPUT)/traces-heldout

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

.PHONY: bench
bench: bench-policy
