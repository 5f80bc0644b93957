# make demo: the README's first command (see scripts/demo.sh).
# It installs packages and builds by itself, so it depends on nothing here.
.PHONY: demo demo-check demo-check-long
demo:
	./scripts/demo.sh

# Boot the three demo guests, check that each reports samples, tear down.
demo-check:
	./scripts/demo.sh --check

# The same, then 15 minutes of watching: no OOM kill in any console (issue 11:
# kp-demo-1 runs memory_hog at its defaults). DEMO_WATCH=SECONDS to change.
demo-check-long:
	DEMO_WATCH=$${DEMO_WATCH:-900} ./scripts/demo.sh --check
