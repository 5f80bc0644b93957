# BPF cost benchmark (issue 2, section 6): 'make bench' runs it; not a test.
# mk files are read before the Makefile's "all": keep it the default goal.
.DEFAULT_GOAL := all
.PHONY: bench bench-bpf
bench: bench-bpf

bench-bpf: $(OUTPUT)/kvmpilot $(OUTPUT)/tests/bpf/pingpong
	OUTPUT=$(OUTPUT) python3 scripts/bench-bpf.py
