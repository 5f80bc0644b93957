#!/bin/bash
# Run test groups and print one closing line: "tests: N passed, N failed, N skipped".
#
# A group G runs every compiled $OUTPUT/tests/G/test_* program and every
# tests/G/test_*.{sh,py,mjs} script. Exit status 0 passes, 77 skips (with a
# reason printed by the test), anything else fails. Each test's output goes
# to $OUTPUT/test-output/G/NAME.log and is shown when it fails.
#
# A test runs at most TEST_TIMEOUT seconds (1200), or what a line
# "# test-timeout: SECONDS" in a script says when that is longer.
#
# Tests get: KVMPILOT_SRC (source top), KVMPILOT_BUILD (build folder),
# KVMPILOT (the binary), TEST_OUT (a folder of their own for artefacts).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUTPUT:-build}
case "$out" in /*) ;; *) out="$top/$out" ;; esac
export KVMPILOT_SRC="$top" KVMPILOT_BUILD="$out" KVMPILOT="$out/kvmpilot"
timeout_s=${TEST_TIMEOUT:-1200}
passed=0 failed=0 skipped=0
failures=()

run_one() {
	local group=$1 name=$2
	shift 2
	local log="$out/test-output/$group/$name.log"
	export TEST_OUT="$out/test-output/$group/$name"
	rm -rf "$TEST_OUT"
	mkdir -p "$TEST_OUT"
	local start=$SECONDS rc limit=$timeout_s own
	own=$(sed -n 's/^# test-timeout: *\([0-9][0-9]*\)$/\1/p' "${!#}" 2>/dev/null | head -n 1)
	[ -n "$own" ] && [ "$own" -gt "$limit" ] && limit=$own
	timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1 </dev/null
	rc=$?
	local dur=$((SECONDS - start))
	case $rc in
	0)
		passed=$((passed + 1))
		printf 'PASS  %-8s %s (%ss)\n' "$group" "$name" "$dur"
		;;
	77)
		skipped=$((skipped + 1))
		printf 'SKIP  %-8s %s: %s\n' "$group" "$name" "$(tail -n 1 "$log")"
		;;
	*)
		failed=$((failed + 1))
		failures+=("$group/$name")
		printf 'FAIL  %-8s %s (exit %s, %ss), last lines of %s:\n' "$group" "$name" "$rc" "$dur" "$log"
		tail -n 40 "$log" | sed 's/^/    | /'
		;;
	esac
}

# run_group GROUP BUILD_DIR [LABEL [bins]]: LABEL names the results (default
# GROUP); "bins" runs the compiled tests only (the scripts do not change with
# a sanitizer build).
run_group() {
	local group=$1 bindir=$2 label=${3:-$1} f
	shopt -s nullglob
	for f in "$bindir"/tests/"$group"/test_*; do
		case "$f" in *.d | *.o) continue ;; esac
		[ -x "$f" ] && run_one "$label" "$(basename "$f")" "$f"
	done
	if [ "${4:-}" = bins ]; then
		shopt -u nullglob
		return
	fi
	for f in "$top"/tests/"$group"/test_*.sh; do
		run_one "$label" "$(basename "$f")" bash "$f"
	done
	for f in "$top"/tests/"$group"/test_*.py; do
		run_one "$label" "$(basename "$f")" python3 "$f"
	done
	for f in "$top"/tests/"$group"/test_*.mjs; do
		run_one "$label" "$(basename "$f")" node "$f"
	done
	shopt -u nullglob
}

for group in "$@"; do
	echo "== $group"
	case "$group" in
	asan)
		# The unit tests again, built with AddressSanitizer and UBSan.
		if ! make -s -C "$top" OUTPUT="$out/asan" SAN=1 tests-build >"$out/asan-build.log" 2>&1; then
			failed=$((failed + 1))
			failures+=("asan/build")
			echo "FAIL  asan     build, see $out/asan-build.log"
			tail -n 20 "$out/asan-build.log"
			continue
		fi
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
			run_group unit "$out/asan" asan bins
		;;
	asan-service)
		# The service tests again, against kvmpilot built with AddressSanitizer
		# and UBSan, and the libvirt C tests built with them: a finding (or a
		# leak at exit) fails the test that met it.
		if ! make -s -C "$top" OUTPUT="$out/asan" SAN=1 tests-build >"$out/asan-build.log" 2>&1; then
			failed=$((failed + 1))
			failures+=("asan-service/build")
			echo "FAIL  asan-service build, see $out/asan-build.log"
			tail -n 20 "$out/asan-build.log"
			continue
		fi
		KVMPILOT="$out/asan/kvmpilot" ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
			UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
			run_group service "$out" asan-service
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
			UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
			run_group libvirt "$out/asan" asan-service bins
		;;
	fuzz)
		# Each libFuzzer target (mk/fuzz.mk) for FUZZ_SECONDS from its seeds.
		if ! make -s -C "$top" OUTPUT="$out" fuzz-build >"$out/fuzz-build.log" 2>&1; then
			failed=$((failed + 1))
			failures+=("fuzz/build")
			echo "FAIL  fuzz     build, see $out/fuzz-build.log"
			tail -n 20 "$out/fuzz-build.log"
			continue
		fi
		for f in "$out"/fuzz/bin/fuzz_*; do
			case "$f" in *.d) continue ;; esac
			run_one fuzz "$(basename "$f")" "$top/tests/fuzz/run-fuzz.sh" "$f" "${FUZZ_SECONDS:-15}"
		done
		;;
	*)
		run_group "$group" "$out"
		;;
	esac
done

echo
if [ ${#failures[@]} -gt 0 ]; then
	echo "failed: ${failures[*]}"
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
