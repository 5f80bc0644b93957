# The service's benchmark (`make bench-service`, part of `make bench`);
# `make install` is in mk/install.mk.

.PHONY: bench bench-service
bench: bench-service
bench-service: tests-build
	python3 tests/service/bench_service.py
