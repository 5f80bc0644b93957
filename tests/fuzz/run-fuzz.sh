#!/bin/bash
# Run one libFuzzer target for a bounded time.
#
#   run-fuzz.sh BIN SECONDS [ARTIFACT_DIR]
#
# ARTIFACT_DIR defaults to TEST_OUT (the test runner's folder for this test).
# Seeds (and past crash reproducers, which must stay fixed) come from
# tests/fuzz/corpus/NAME/; new inputs go to FUZZ_CORPUS_DIR (default
# ARTIFACT_DIR/corpus), never into git. tests/fuzz/dict/NAME.dict is used
# when present. Exits 0 when nothing was found; otherwise non-zero with the
# input saved in ARTIFACT_DIR and printed in hex (add it to the seed corpus
# as a regression input once the bug is fixed).
set -u
if [ $# -lt 2 ] || [ $# -gt 3 ] || [ -z "${3:-${TEST_OUT:-}}" ]; then
	echo "usage: $0 BIN SECONDS [ARTIFACT_DIR]" >&2
	exit 2
fi
bin=$1 seconds=$2 art=${3:-$TEST_OUT}
here=$(cd "$(dirname "$0")" && pwd)
name=$(basename "$bin")
seeds="$here/corpus/$name"
work=${FUZZ_CORPUS_DIR:-$art/corpus}

if [ ! -x "$bin" ]; then
	echo "fuzz $name: no program $bin (make fuzz-build)" >&2
	exit 1
fi
if [ ! -d "$seeds" ] || [ -z "$(ls -A "$seeds")" ]; then
	echo "fuzz $name: no seed corpus in $seeds" >&2
	exit 1
fi
mkdir -p "$art" "$work"
opts=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -use_value_profile=1
	-print_final_stats=1 -artifact_prefix="$art/")
[ -f "$here/dict/$name.dict" ] && opts+=(-dict="$here/dict/$name.dict")

# The sanitizers stop at the first finding; leaks count too.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
log="$art/fuzz.log"
start=$SECONDS
"$bin" "${opts[@]}" "$work" "$seeds" >"$log" 2>&1
rc=$?
dur=$((SECONDS - start))

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1)
cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
echo "fuzz $name: ${execs:-?} executions in ${dur}s, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}"

if [ $rc -ne 0 ]; then
	grep -av "^#[0-9]" "$log" | tail -n 60
	for f in "$art"/crash-* "$art"/leak-* "$art"/timeout-* "$art"/oom-*; do
		[ -f "$f" ] || continue
		echo "fuzz $name: FOUND $(basename "$f") ($(stat -c %s "$f") bytes), input hex:"
		od -An -tx1 -v "$f" | tr -d ' \n' | fold -w 128
		echo
		echo "reproduce: $bin $f"
	done
	echo "fuzz $name: failed (exit $rc), log in $log"
	exit 1
fi
