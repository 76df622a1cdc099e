#!/usr/bin/env bash
# Reproduces the backtest tables of docs/BENCHMARKS.md on the real traces:
# for each trace, prescaler against the reactive frontier, prescaler's own
# frontier (--grid), the perfect-forecast run, and the tuned run (--tune)
# with the HPA at its own target and at hotter ones.
#
#   bench/backtest/run.sh [OUT_DIR]     (about 30 minutes on 2 cores)
#
# Needs ../shared/traces (or TRACES=...). Writes one text report and one
# frontier PNG per run into OUT_DIR (default bench-backtest-out).
set -euo pipefail
cd "$(dirname "$0")/../.."
TRACES=${TRACES:-../shared/traces}
OUT=${1:-bench-backtest-out}
test -d "$TRACES" || { echo "traces folder $TRACES is missing (set TRACES=...)" >&2; exit 1; }
mkdir -p "$OUT"
make build >/dev/null

run() { # name trace-args...
	local name=$1
	shift
	echo "== $name" >&2
	bin/prescaler backtest "$@" >"$OUT/$name.txt" 2>"$OUT/$name.log"
}

declare -A ARGS=(
	[nasa]="--trace $TRACES/nasa_http_1995.per_minute.csv --peak-replicas 20 --startup 180s"
	[servegen]="--trace $TRACES/servegen_m-small.per_minute.csv --peak-replicas 25 --startup 300s"
	[twitter]="--trace $TRACES/twitter_stream_2021_08_first11d.per_minute.csv --peak-replicas 20 --startup 300s"
)
for t in nasa servegen twitter; do
	# shellcheck disable=SC2086
	run "$t-grid" ${ARGS[$t]} --grid --plot "$OUT/$t.png"
	for u in 0.7 0.8 0.9; do
		# shellcheck disable=SC2086
		run "$t-tuned-$u" ${ARGS[$t]} --tune --overload-budget hpa --tune-hpa-target "$u" --frontier 0.4,0.5,0.6,0.7,0.8,0.9,0.95
	done
done
echo "reports in $OUT" >&2
