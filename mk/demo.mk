# make demo: the README's first command (see scripts/demo.sh).
# It installs packages and builds by itself, so it depends on nothing here.
.PHONY: demo demo-check
demo:
	./scripts/demo.sh

# Boot the three demo guests, check that each reports samples, tear down.
demo-check:
	./scripts/demo.sh --check
