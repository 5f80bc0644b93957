#!/bin/bash
# Generate the replay traces: scripts/policy-traces.sh GENTRACE SET OUTDIR
#   SET=train    the committed set in tests/data/traces (the policy was tuned on it)
#   SET=heldout  other seeds, amplitudes, periods and one shape (gc) the policy
#                was never tuned on: the generalization check of `make bench-policy`
#   SET=stress   harder, 3600 s: instant allocations, huge rare bursts, fast leaks
#   SET=memhog   the prototype's memory_hog at its defaults (500-1800 MB filled at
#                300-800 MB/s, freed at 100 MB/s, 1 s apart), 8 seeds (issue 11:
#                replayed with the README's VM, --mem-start 512 --mem-max 2048)
set -eu
gen=$1 set=$2 out=$3
mkdir -p "$out"
len=1800
case "$set" in
train)
	specs=(
		"memhog_1 memhog 1"
		"memhog_2 memhog 2 lo=300 hi=1200 fill_lo=200 fill_hi=500"
		"bursts_3 bursts 3"
		"bursts_4 bursts 4 amp=2500 every=120"
		"diurnal_5 diurnal 5 period=900"
		"diurnal_6 diurnal 6"
		"leak_7 leak 7"
		"leak_8 leak 8 rate=3"
		"steps_9 steps 9"
		"steps_10 steps 10 hold_lo=10 hold_hi=60"
	)
	;;
heldout)
	specs=(
		"memhog_101 memhog 101"
		"memhog_102 memhog 102 lo=800 hi=2400 fill_lo=500 fill_hi=1200 free=200"
		"bursts_103 bursts 103 amp=1000 every=30 dur=20"
		"diurnal_104 diurnal 104 period=2400 noise=20"
		"diurnal_105 diurnal 105 period=300"
		"leak_106 leak 106 rate=1"
		"steps_107 steps 107"
		"steps_108 steps 108 hold_lo=5 hold_hi=40"
		"gc_109 gc 109"
		"gc_110 gc 110 rate=100"
	)
	;;
stress)
	len=3600
	specs=(
		"memhog_instant memhog 201 fill_lo=3000 fill_hi=3000"
		"memhog_small memhog 202 lo=200 hi=600 fill_lo=100 fill_hi=200 free=50"
		"bursts_big bursts 203 amp=3000 every=200 dur=100"
		"diurnal_noisy diurnal 204 period=7200 noise=40"
		"leak_fast leak 205 rate=5 limit=3700"
		"steps_slow steps 206 hold_lo=60 hold_hi=600"
		"gc_small gc 207 rate=20 lo=600 hi=1200"
		"bursts_small bursts 208 amp=500 every=10 dur=8"
	)
	;;
memhog)
	specs=()
	for seed in 301 302 303 304 305 306 307 308; do
		specs+=("memhog_default_$seed memhog $seed")
	done
	;;
*)
	echo "usage: $0 GENTRACE train|heldout|stress|memhog OUTDIR" >&2
	exit 2
	;;
esac
for spec in "${specs[@]}"; do
	set -- $spec
	name=$1 shape=$2 seed=$3
	shift 3
	"$gen" "$shape" "$seed" "$len" "$@" >"$out/$name.csv"
done
