#!/usr/bin/env bash
# Stand-in for `bin/prescaler forecast`, to test the harness before the Go
# forecaster exists: it runs the seasonal-naive baseline under the same
# contract and ignores --season2. Use: PRESCALER_BIN=bench/forecast/stand_in_prescaler.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ "${1:-}" != "forecast" ]]; then
  echo "stand-in prescaler: only 'forecast' is supported" >&2
  exit 2
fi
shift
args=()
while (($#)); do
  case "$1" in
    --season2) shift 2 ;;          # seasonal naive has one season
    --season2=*) shift ;;
    *) args+=("$1"); shift ;;
  esac
done
exec /usr/bin/python3 "$here/seasonal_naive.py" --model-name "stand-in (seasonal naive)" "${args[@]}"
