#!/usr/bin/env bash
# Side-by-side Go benchmark comparison of two commits with benchstat.
#
#   bench/compare.sh OLD_REF [NEW_REF]      (NEW_REF defaults to the working tree)
#
# Both versions are built from clean worktrees and their benchmarks are run
# interleaved (old, new, old, new, ...), so a machine that gets busier or
# quieter during the run affects both sides alike. Variables:
#   PKG    the package to benchmark (default ./predictor)
#   BENCH  benchmark regexp (default .)
#   COUNT  rounds per side (default 8)
set -euo pipefail

old_ref=${1:?usage: bench/compare.sh OLD_REF [NEW_REF]}
new_ref=${2:-}
pkg=${PKG:-./predictor}
bench=${BENCH:-.}
count=${COUNT:-8}
benchstat_version=v0.0.0-20260908200009-22c9c6c9d4da

root=$(git rev-parse --show-toplevel)
work=$(mktemp -d)
cleanup() {
  git -C "$root" worktree remove --force "$work/old" 2>/dev/null || true
  [ -n "$new_ref" ] && git -C "$root" worktree remove --force "$work/new" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Tests find the real traces beside the main checkout, not beside a worktree.
export PRESCALER_TRACES=${PRESCALER_TRACES:-$(cd "$root/.." && pwd)/shared/traces}

git -C "$root" worktree add --detach "$work/old" "$old_ref" >/dev/null
new_dir=$root
if [ -n "$new_ref" ]; then
  git -C "$root" worktree add --detach "$work/new" "$new_ref" >/dev/null
  new_dir=$work/new
fi

# Compile each side's test binaries once, then run them in turns.
build() { (cd "$1" && go test -c -o "$work/$2.test" "$pkg"); }
build "$work/old" old
build "$new_dir" new

run() { (cd "$1" && "$work/$2.test" -test.run '^$' -test.bench "$bench" -test.benchmem -test.count 1) >>"$work/$2.txt"; }
for i in $(seq "$count"); do
  run "$work/old/${pkg#./}" old
  run "$new_dir/${pkg#./}" new
done

echo "old: $(git -C "$work/old" rev-parse --short HEAD)  new: ${new_ref:-working tree}"
go run "golang.org/x/perf/cmd/benchstat@$benchstat_version" old="$work/old.txt" new="$work/new.txt"
