#!/usr/bin/env bash
# Runs the Dockerfile's build stage without Docker and checks the binary the
# image would hold.
#
# The go build command is not copied here: it is read from the Dockerfile's
# RUN instruction that contains "go build" and run by sh -c, as Docker runs
# it, with the stage's ENV and the VERSION, COMMIT and BUILD_DATE build args
# in the environment, in a copy of the build context selected by
# .dockerignore, writing to a temporary folder instead of /out. The builder
# image is the same Debian release as this script's usual machine
# (bookworm); elsewhere the glibc check below says what the binary needs.
#
# Checks:
#   - `prescaler version` prints the stamped version, commit and date;
#   - the ELF's only NEEDED library is libc.so.6 (NVML is dlopened), it has
#     an interpreter (dynamic, for dlopen) and no BIND_NOW (docs/agent.md:
#     lazily bound NVML symbols);
#   - its glibc symbol versions are at most the runtime image's (2.36,
#     distroless base-debian12);
#   - `go version -m` shows -trimpath and CGO_ENABLED=1, and no VCS stamp;
#   - a second build from a copy of the context in another folder is
#     byte-identical (no path or time baked in besides BUILD_DATE).
#
# Usage: hack/image-build-check.sh   (VERSION, COMMIT, BUILD_DATE override
# the test values; KEEP=1 keeps the temporary folder)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dockerfile=$root/Dockerfile
VERSION=${VERSION:-v9.8.7-check}
COMMIT=${COMMIT:-0123456789abcdef0123456789abcdef01234567}
BUILD_DATE=${BUILD_DATE:-2001-02-03T04:05:06Z}
GLIBC_MAX=2.36

tmp=$(mktemp -d "${TMPDIR:-/tmp}/prescaler-image-check.XXXXXX")
if [[ -z ${KEEP:-} ]]; then trap 'rm -rf "$tmp"' EXIT; else echo "keeping $tmp"; fi

fail() { echo "image-build-check: FAIL: $*" >&2; exit 1; }
say() { echo "image-build-check: $*"; }

# The RUN instruction with "go build", continuation lines joined, without
# RUN and its --mount options: the shell command Docker runs.
build_cmd=$(awk '
  /^[[:space:]]*#/ && !inrun { next }
  /^RUN / { inrun = 1; cmd = "" }
  inrun {
    line = $0; cont = sub(/\\[[:space:]]*$/, "", line)
    cmd = cmd " " line
    if (!cont) { inrun = 0; if (cmd ~ /go build/) print cmd }
  }' "$dockerfile" | sed -E 's/^ *RUN +//; s/(--mount=[^ ]+ +)+//; s/  +/ /g')
[[ $(grep -c . <<<"$build_cmd") == 1 ]] || fail "want exactly one RUN ... go build in the Dockerfile, got: $build_cmd"
[[ $build_cmd == *"-o /out/prescaler "* ]] || fail "the go build line does not write /out/prescaler: $build_cmd"

# The build stage's ENV (one ENV instruction, KEY=VALUE pairs).
env_line=$(awk '
  /^ENV / { inenv = 1; e = "" }
  inenv { line = $0; cont = sub(/\\[[:space:]]*$/, "", line); e = e " " line; if (!cont) { inenv = 0; print e } }' \
  "$dockerfile" | sed -E 's/^ *ENV +//')
[[ $(grep -c . <<<"$env_line") == 1 ]] || fail "want exactly one ENV instruction, got: $env_line"
declare -a stage_env
eval "stage_env=($env_line)" # KEY="VALUE" words, as Docker splits them
[[ " ${stage_env[*]} " == *" CGO_ENABLED=1 "* ]] || fail "the build stage does not set CGO_ENABLED=1"

# The build context: every file git knows (tracked or not ignored), less
# .dockerignore's patterns.
make_context() {
  local dest=$1 pat rel keep
  local -a pats=()
  while IFS= read -r pat; do
    pat=${pat%%#*}; pat=${pat//[[:space:]]/}
    [[ -z $pat ]] && continue
    [[ $pat == !* || $pat == /* ]] && fail ".dockerignore: $pat is a form this script does not implement"
    pats+=("$pat")
  done <"$root/.dockerignore"
  mkdir -p "$dest"
  (cd "$root" && git ls-files -z --cached --others --exclude-standard) |
    while IFS= read -r -d '' rel; do
      [[ -e $root/$rel ]] || continue # deleted in the work tree
      keep=1
      for pat in "${pats[@]}"; do
        if [[ $pat == '**/'* ]]; then
          local base=${pat#'**/'} part
          IFS=/ read -ra parts <<<"$rel"
          for part in "${parts[@]}"; do
            # shellcheck disable=SC2053 # a glob on purpose
            [[ $part == $base ]] && keep=0
          done
        else
          # shellcheck disable=SC2053
          [[ $rel == $pat || $rel == "$pat"/* ]] && keep=0
        fi
      done
      if ((keep)); then
        mkdir -p "$dest/$(dirname "$rel")"
        cp -p "$root/$rel" "$dest/$rel"
      fi
    done
}

build() {
  local ctx=$1 out=$2 cmd
  make_context "$ctx"
  cmd=${build_cmd//\/out\/prescaler/$out}
  (cd "$ctx" && env "${stage_env[@]}" VERSION="$VERSION" COMMIT="$COMMIT" BUILD_DATE="$BUILD_DATE" \
    GOFLAGS= sh -c "$cmd") || fail "the Dockerfile's go build failed: $cmd"
}

say "go build line from the Dockerfile: $build_cmd"
start=$SECONDS
build "$tmp/ctx1" "$tmp/prescaler"
say "built in $((SECONDS - start))s"
bin=$tmp/prescaler

out=$("$bin" version 2>&1) || fail "prescaler version: $out"
for want in "$VERSION" "$COMMIT" "$BUILD_DATE"; do
  [[ $out == *"$want"* ]] || fail "prescaler version does not show $want: $out"
done
say "version: $(head -1 <<<"$out")"

dyn=$(readelf -d "$bin")
needed=$(awk '/\(NEEDED\)/ { gsub(/[][]/, "", $NF); print $NF }' <<<"$dyn" | sort | tr '\n' ' ')
[[ $needed == "libc.so.6 " ]] || fail "NEEDED libraries are [$needed], want only libc.so.6"
readelf -l "$bin" | grep -q 'Requesting program interpreter' || fail "no program interpreter: linked statically, dlopen of NVML would be fragile"
if grep -Eq '\(BIND_NOW\)|\(FLAGS\).*BIND_NOW|\(FLAGS_1\).*NOW' <<<"$dyn"; then
  fail "linked with BIND_NOW (-z now): NVML's unresolved symbols would kill it at start"
fi
say "dynamic: NEEDED $needed(ldd: $(ldd "$bin" | awk '{print $1}' | tr '\n' ' '))"

glibc=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
[[ $(printf '%s\n%s\n' "$glibc" "$GLIBC_MAX" | sort -V | tail -1) == "$GLIBC_MAX" ]] ||
  fail "needs GLIBC_$glibc, above the runtime image's $GLIBC_MAX (build on bookworm, as the Dockerfile does)"
say "glibc symbols up to $glibc (runtime image: $GLIBC_MAX)"

meta=$(go version -m "$bin")
# (With -trimpath the go command records no -ldflags; `version` above shows
# what they stamped.)
for want in $'\tbuild\t-trimpath=true' $'\tbuild\tCGO_ENABLED=1'; do
  [[ $meta == *"$want"* ]] || fail "go version -m lacks '${want//$'\t'/ }'"
done
if grep -q 'vcs\.' <<<"$meta"; then fail "a VCS stamp is baked in (want -buildvcs=false)"; fi

build "$tmp/ctx-second-folder" "$tmp/prescaler.again"
a=$(sha256sum <"$bin"); b=$(sha256sum <"$tmp/prescaler.again")
[[ $a == "$b" ]] || fail "two builds from different folders differ: not reproducible"
say "reproducible: sha256 ${a%% *}"
say "ok"
