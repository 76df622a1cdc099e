#!/usr/bin/env bash
# Forecast benchmark: prescaler vs statsmodels Holt-Winters vs seasonal naive
# on real traces, same protocol, one machine. See bench/forecast/README.md.
#
# Usage (from the repo root):  bench/forecast/run.sh
# Environment:
#   PRESCALER_TRACES  traces folder (default ../shared/traces from the repo root)
#   PRESCALER_BIN     forecaster binary (default bin/prescaler, built if absent
#                     or if BUILD=1)
#   CASES             subset of: nasa5m nasa1m servegen5m twitter1m twitter5m
#                     (default: all five)
#   HORIZONS          default "15m 30m"
#   QUICK=1           short test windows, one timing repeat, results/quick/
#   TEST_DAYS_NASA5M, TEST_DAYS_NASA1M, TEST_DAYS_SERVEGEN, TEST_DAYS_TWITTER
#                     test days after training ("all" = rest of the trace)
#   FIT_TIMING=0      skip the fit-timing comparison; FIT_REPEAT (default 3)
#   PEAKS=0           skip the peak-quantile scores (bench/forecast/peaks)
#   JOBS              parallel jobs (default 2)
#   RESULTS           output folder (default bench/forecast/results)
#   KEEP_TMP=1        keep the sliced traces in the temp folder
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$repo"

PY=/usr/bin/python3
QUICK="${QUICK:-0}"
if [[ "$QUICK" == 1 ]]; then
  quick_days_5m=3 quick_days_1m=1 quick_days_sg=2 quick_days_tw=1 quick_repeat=1
  default_results="$here/results/quick"
else
  quick_days_5m=all quick_days_1m=14 quick_days_sg=all quick_days_tw=all quick_repeat=3
  default_results="$here/results"
fi
TRACES="$(realpath -m "${PRESCALER_TRACES:-$repo/../shared/traces}")"
PRESCALER_BIN="${PRESCALER_BIN:-bin/prescaler}"
CASES="${CASES:-nasa5m nasa1m servegen5m twitter1m twitter5m}"
HORIZONS="${HORIZONS:-15m 30m}"
TEST_DAYS_NASA5M="${TEST_DAYS_NASA5M:-$quick_days_5m}"
TEST_DAYS_NASA1M="${TEST_DAYS_NASA1M:-$quick_days_1m}"
TEST_DAYS_SERVEGEN="${TEST_DAYS_SERVEGEN:-$quick_days_sg}"
TEST_DAYS_TWITTER="${TEST_DAYS_TWITTER:-$quick_days_tw}"
FIT_TIMING="${FIT_TIMING:-1}"
FIT_REPEAT="${FIT_REPEAT:-$quick_repeat}"
PEAKS="${PEAKS:-1}"
JOBS="${JOBS:-2}"
RESULTS="${RESULTS:-$default_results}"
INTERVAL=0.8
NASA=nasa_http_1995.per_minute.csv
SERVEGEN=servegen_m-small.per_minute.csv
TWITTER=twitter_stream_2021_08_first11d.per_minute.csv
# One BLAS thread: two jobs share the cores, and statsmodels' optimizer path
# (hence its parameters and fit time) changes with the BLAS thread count.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
export PYTHONDONTWRITEBYTECODE=1

die() { echo "run.sh: $*" >&2; exit 1; }

check_inputs() {
  [[ -d "$TRACES" ]] || die "traces folder $TRACES is missing; set PRESCALER_TRACES (see /work/shared/traces/README.md)"
  for file in "$NASA" "$SERVEGEN" "$TWITTER"; do
    [[ -f "$TRACES/$file" ]] || die "trace $TRACES/$file is missing"
  done
  [[ -x "$PY" ]] || die "$PY not found; this harness needs Debian's python3 with python3-statsmodels"
  "$PY" -c 'import statsmodels, numpy, pandas' 2>/dev/null \
    || die "statsmodels/numpy/pandas not importable by $PY: apt-get install python3-statsmodels python3-pandas"
}

check_prescaler() {
  if [[ "$PRESCALER_BIN" == bin/prescaler && ( ! -x bin/prescaler || "${BUILD:-0}" == 1 ) ]]; then
    echo "building bin/prescaler (make build)"
    make build
  fi
  [[ -x "$PRESCALER_BIN" ]] || die "$PRESCALER_BIN is not executable"
  "$PRESCALER_BIN" forecast --help >/dev/null 2>&1 \
    || die "'$PRESCALER_BIN forecast --help' failed: no forecast command yet? To test the harness alone: PRESCALER_BIN=bench/forecast/stand_in_prescaler.sh"
  if [[ "$PRESCALER_BIN" == *stand_in* ]]; then
    echo "WARNING: 'prescaler' rows come from the seasonal-naive stand-in, not the Go forecaster"
  fi
}

# The peak-quantile scorer: the Go predictor run under the same protocol,
# asked PeakQuantile(k, 0.9) at every origin (bench/forecast/peaks).
build_peaks() {
  [[ "$PEAKS" == 1 ]] || return 0
  peaks_bin="$tmp/peaks"
  go build -o "$peaks_bin" ./bench/forecast/peaks || die "go build ./bench/forecast/peaks failed"
}

# Peak windows scored per step: 5 and 10 steps at 1 minute, 2 and 3 steps
# (10 and 15 minutes, within the calibrated horizon) at 5 minutes.
peak_windows() {
  case "$1" in
    1m) echo 5m,10m ;;
    *)  echo 10m,15m ;;
  esac
}

# Case table: trace file, label, step, season2 for prescaler, train, test days.
# prescaler gets the same single daily season as statsmodels: on NASA a weekly
# second season (--season2 7d) scores slightly worse at these horizons.
case_spec() {
  case "$1" in
    nasa5m)     echo "$NASA nasa 5m - 14d $TEST_DAYS_NASA5M" ;;
    nasa1m)     echo "$NASA nasa 1m - 14d $TEST_DAYS_NASA1M" ;;
    servegen5m) echo "$SERVEGEN servegen-m-small 5m - 7d $TEST_DAYS_SERVEGEN" ;;
    twitter1m)  echo "$TWITTER twitter 1m - 7d $TEST_DAYS_TWITTER" ;;
    twitter5m)  echo "$TWITTER twitter 5m - 7d $TEST_DAYS_TWITTER" ;;
    *) die "unknown case '$1' (known: nasa5m nasa1m servegen5m twitter1m twitter5m)" ;;
  esac
}

days_of() { echo "${1%d}"; }

# Print the trace path a case uses: the original, or its first
# train+test days cut into the temp folder (same file for every method).
case_trace() {
  local name=$1 file=$2 train=$3 test=$4
  if [[ "$test" == all ]]; then
    echo "$TRACES/$file"
    return
  fi
  local rows=$(( ( $(days_of "$train") + test ) * 1440 + 1 ))
  local out="$tmp/$name.csv"
  head -n "$rows" "$TRACES/$file" > "$out"
  echo "# $name trace: head -n $rows $TRACES/$file > $out" | tee -a "$commands" >&2
  echo "$out"
}

running_jobs() { jobs -rp | wc -l; }

# Run a command in the background (at most $JOBS at once), logging its
# output, exit status and wall time under $RESULTS.
queue_job() {
  local name=$1; shift
  while (( $(running_jobs) >= JOBS )); do wait -n || true; done
  local line; line="$(printf '%q ' "$@")"
  echo "$line" >> "$commands"
  echo "[$name] $line"
  (
    start=$(date +%s%N)
    rc=0
    "$@" > "$RESULTS/logs/$name.log" 2>&1 || rc=$?
    end=$(date +%s%N)
    echo "$name $rc $(( (end - start) / 1000000 ))" > "$RESULTS/times/$name"
  ) &
}

common_args() { # trace step horizon train
  echo "--trace $1 --step $2 --season 1d --horizon $3 --train $4 --refit 1d --interval $INTERVAL"
}

queue_case() {
  local name=$1 file label step season2 train test trace h
  read -r file label step season2 train test <<< "$(case_spec "$name")"
  trace="$(case_trace "$name" "$file" "$train" "$test")"
  echo "$name $label $step $train $trace" >> "$RESULTS/cases.txt"
  for h in $HORIZONS; do
    local id="$name-$h" base; base="$(common_args "$trace" "$step" "$h" "$train")"
    local extra=(); [[ "$season2" != - ]] && extra=(--season2 "$season2")
    # shellcheck disable=SC2086  # base is a list of plain words
    queue_job "$id-statsmodels" "$PY" "$here/statsmodels_forecast.py" $base \
      --out "$RESULTS/forecasts/$id-statsmodels.csv" --report "$RESULTS/reports/$id-statsmodels.json"
    # shellcheck disable=SC2086
    queue_job "$id-prescaler" "$PRESCALER_BIN" forecast $base "${extra[@]}" \
      --out "$RESULTS/forecasts/$id-prescaler.csv" --report "$RESULTS/reports/$id-prescaler.json"
    # shellcheck disable=SC2086
    queue_job "$id-seasonal-naive" "$PY" "$here/seasonal_naive.py" $base \
      --out "$RESULTS/forecasts/$id-seasonal-naive.csv" --report "$RESULTS/reports/$id-seasonal-naive.json"
    if [[ "$PEAKS" == 1 ]]; then
      queue_job "$id-peaks" "$peaks_bin" --trace "$trace" --step "$step" --season 1d --horizon "$h" \
        --train "$train" --refit 1d --interval "$INTERVAL" --quantile 0.9 --windows "$(peak_windows "$step")" \
        --out "$RESULTS/peaks/$id.json"
    fi
  done
}

check_jobs() {
  local failed=0 name rc millis
  echo
  echo "runtime per job (wall seconds, $JOBS jobs in parallel):"
  for file in "$RESULTS"/times/*; do
    read -r name rc millis < "$file"
    printf '  %-34s %6d.%01ds%s\n' "$name" $(( millis / 1000 )) $(( millis % 1000 / 100 )) \
      "$([[ $rc == 0 ]] || echo "  FAILED (rc $rc)")"
    if [[ $rc != 0 ]]; then
      failed=1
      tail -n 20 "$RESULTS/logs/$name.log" | sed 's/^/    /' >&2
    fi
  done
  (( failed == 0 )) || die "some jobs failed; logs in $RESULTS/logs/"
}

score_cases() {
  local name label step train trace h id method files=()
  while read -r name label step train trace; do
    for h in $HORIZONS; do
      id="$name-$h"
      local methods=()
      for method in prescaler statsmodels seasonal-naive; do
        [[ -s "$RESULTS/forecasts/$id-$method.csv" ]] \
          || die "$method wrote no $RESULTS/forecasts/$id-$method.csv (log: $RESULTS/logs/$id-$method.log)"
        methods+=(--method "$method=$RESULTS/forecasts/$id-$method.csv:$RESULTS/reports/$id-$method.json")
      done
      local peaks=()
      [[ "$PEAKS" == 1 ]] && peaks=(--peaks "$RESULTS/peaks/$id.json")
      "$PY" "$here/score.py" case --trace "$trace" --label "$label" --step "$step" \
        --season 1d --train "$train" --horizon "$h" --interval "$INTERVAL" \
        "${methods[@]}" "${peaks[@]}" --json "$RESULTS/scores/$id.json" > "$RESULTS/scores/$id.md"
      files+=("$RESULTS/scores/$id.json")
    done
  done < "$RESULTS/cases.txt"
  "$PY" "$here/score.py" table "${files[@]}" > "$RESULTS/summary.md"
}

# One fit on the first 14 days of NASA at 1-minute step, for both sides.
# The trace is cut to 15 days so prescaler makes exactly one fit.
fit_timing() {
  local trace="$tmp/nasa-15d.csv" run reports=()
  echo "# timing trace: head -n $(( 15 * 1440 + 1 )) $TRACES/$NASA > $trace" | tee -a "$commands"
  head -n $(( 15 * 1440 + 1 )) "$TRACES/$NASA" > "$trace"
  for (( run = 1; run <= FIT_REPEAT; run++ )); do
    local go=("$PRESCALER_BIN" forecast --trace "$trace" --step 1m --season 1d
              --horizon 1m --train 14d --refit 1d --interval "$INTERVAL"
              --out "$RESULTS/timing/prescaler-fit.csv" --report "$RESULTS/timing/prescaler-fit-$run.json")
    printf '%q ' "${go[@]}" | tee -a "$commands"; echo | tee -a "$commands"
    "${go[@]}" >> "$RESULTS/logs/timing-prescaler.log" 2>&1 \
      || die "prescaler fit timing failed: see $RESULTS/logs/timing-prescaler.log"
    reports+=(--go-report "$RESULTS/timing/prescaler-fit-$run.json")
  done
  local sm=("$PY" "$here/fit_timing.py" --trace "$trace" --step 1m --season 1d
            --train 14d --repeat "$FIT_REPEAT" "${reports[@]}"
            --json "$RESULTS/timing/fit-timing.json")
  printf '%q ' "${sm[@]}" | tee -a "$commands"; echo | tee -a "$commands"
  "${sm[@]}" 2> "$RESULTS/logs/timing-statsmodels.log" | tee "$RESULTS/timing/fit-timing.txt"
}

check_cases() {
  local name
  [[ -n "${CASES// }" ]] || die "CASES is empty"
  for name in $CASES; do
    read -r _ _ _ _ _ test <<< "$(case_spec "$name")"
    [[ -n "$test" ]] || exit 1  # case_spec has said why
    [[ "$test" == all || "$test" =~ ^[1-9][0-9]*$ ]] \
      || die "case $name: test days must be a positive integer or 'all', got '$test'"
  done
  [[ -n "${HORIZONS// }" ]] || die "HORIZONS is empty"
}

main() {
  check_cases
  check_inputs
  check_prescaler
  rm -rf "$RESULTS"/{forecasts,reports,logs,times,scores,timing,peaks,cases.txt,commands.sh,summary.md}
  mkdir -p "$RESULTS"/{forecasts,reports,logs,times,scores,timing,peaks}
  commands="$RESULTS/commands.sh"
  echo "# bench/forecast/run.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) QUICK=$QUICK" > "$commands"
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/prescaler-bench.XXXXXX")"
  [[ "${KEEP_TMP:-0}" == 1 ]] || trap 'rm -rf "$tmp"' EXIT
  build_peaks

  local started=$SECONDS name
  for name in $CASES; do queue_case "$name"; done
  wait
  check_jobs
  score_cases
  echo
  cat "$RESULTS/summary.md"
  if [[ "$FIT_TIMING" == 1 ]]; then
    echo
    fit_timing
  fi
  echo
  echo "total $(( SECONDS - started ))s; results in $RESULTS (commands: $commands)"
}

main "$@"
