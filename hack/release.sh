#!/usr/bin/env bash
# Builds prescaler's release artifacts into dist/<version>/ and checks them.
# <version> is the VERSION file's (v0.1.0); `make release` runs this script.
#
#   prescaler-<version>-linux-amd64   the binary, for linux/amd64
#   prescaler-<version>-linux-arm64   the binary, for linux/arm64
#   prescaler-<chart version>.tgz     the Helm chart (helm package):
#                                     appVersion <version>, version <version>
#                                     without its "v" (Helm requires SemVer 2)
#   release-notes.md                  CHANGELOG.md's section for <version>
#   SHA256SUMS                        sha256sum of each file above
#
# The binaries are built with CGO_ENABLED=0 and are statically linked: they
# run on any linux/amd64 or linux/arm64 host, glibc or not, and this machine
# builds both without a C cross compiler. Without cgo the NVML node agent
# cannot load the driver's library: `prescaler agent` from these binaries
# serves its metrics with prescaler_agent_nvml_up 0 and logs "built without
# cgo" (docs/agent.md). Every other subcommand (run, check-config, restore,
# backtest, forecast, version) is the same as in the image. The agent with
# NVML is the container image's binary (Dockerfile, cgo, glibc), built with
# `make image` and pushed as ghcr.io/prescaler/prescaler:<version>.
#
# The stamps are the Makefile's: -X internal/version.Version, .Commit and
# .BuildDate. The binaries keep their ELF symbol table (-w, not -s -w as
# `make build`), so hack/stamp can read the stamped values back from the
# arm64 binary, which cannot run here. -trimpath and -buildvcs=false as in
# the Dockerfile; BUILD_DATE is SOURCE_DATE_EPOCH's instant when set, else
# the commit's time, so the binaries built twice from a commit are the same
# byte for byte (the chart's .tgz is not: helm package's archive differs).
#
# Before building, the tree must agree on the version (deploy/helm/prescaler
# Chart.yaml's appVersion and version, deploy/base's image tag, a CHANGELOG.md
# section; TestReleaseVersionsAgree checks the same in `go test ./deploy/`),
# the working tree must be clean (ALLOW_DIRTY=1 builds anyway and stamps the
# commit as <sha>-dirty), and a v* tag on HEAD must be the version.
#
# After building, every artifact is checked, or the script fails and leaves
# dist/<version> as it was:
#   - each binary is an ELF file for its architecture, statically linked,
#     stamped with the version, commit and build date (hack/stamp), and
#     `go version -m` shows GOARCH, CGO_ENABLED=0 and -trimpath;
#   - the binary for this machine's architecture runs, and `prescaler
#     version` prints the version, commit and build date;
#   - the packaged chart's Chart.yaml has appVersion <version> and version
#     <version> without the "v", it passes `helm lint --strict`, and every
#     image it renders is ghcr.io/prescaler/prescaler:<version>;
#   - `sha256sum -c SHA256SUMS` passes and lists every file.
#
# helm: $HELM, else $PRESCALER_TESTBED_BIN/helm (the test control plane's
# prebuilt binaries), else the helm pinned in test/tools/helm run through `go
# tool`, built from the Go module proxy on first use (about 4 CPU-minutes).
#
# Usage: hack/release.sh   (GO: the go command; DIST: the output root,
# default dist)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
GO=${GO:-go}
DIST=${DIST:-dist}
image=ghcr.io/prescaler/prescaler
pkg=github.com/prescaler/prescaler
arches=(amd64 arm64)

fail() { echo "release: FAIL: $*" >&2; exit 1; }
say() { echo "release: $*"; }

# --- the version, and the tree's agreement with it --------------------------

[[ -f VERSION ]] || fail "no VERSION file at the repository root"
version=$(<VERSION)
[[ $version =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] ||
  fail "VERSION holds '$version', want v<major>.<minor>.<patch>[-<pre-release>] (one line; no +build: image tags cannot hold it)"

# yaml_value FILE KEY: the value of a top-level "KEY: value" line, unquoted.
yaml_value() {
  awk -v key="$2" '$1 == key":" { v = $2; gsub(/^["'\'']|["'\'']$/, "", v); print v; exit }' "$1"
}
# check_chart_yaml FILE NAME: appVersion is the version, version is it without
# the "v" (a chart's version is SemVer 2, which has none).
chart_version=${version#v}
check_chart_yaml() {
  local got
  got=$(yaml_value "$1" appVersion)
  [[ $got == "$version" ]] || fail "$2: appVersion is '$got', want $version (VERSION)"
  got=$(yaml_value "$1" version)
  [[ $got == "$chart_version" ]] || fail "$2: version is '$got', want $chart_version (VERSION without the v)"
}
chart=deploy/helm/prescaler
check_chart_yaml "$chart/Chart.yaml" "$chart/Chart.yaml"
tags=$(awk '$1 == "newTag:" { print $2 }' deploy/base/kustomization.yaml | tr -d '"'\''')
[[ $tags == "$version" ]] || fail "deploy/base/kustomization.yaml: images' newTag is '$tags', VERSION is $version"
# CHANGELOG.md's section: from its "## [<version>]" heading to the next "## ".
# (Link references, "[v0.1.0]: https://...", are left out.)
notes=$(awk -v h="## [$version]" 'index($0, h) == 1 { on = 1; next } on && /^## / { exit } on && !/^\[[^]]*\]: /' CHANGELOG.md)
[[ -n ${notes//[[:space:]]/} ]] || fail "CHANGELOG.md has no section '## [$version]' with content"
say "version $version: VERSION, Chart.yaml, deploy/base and CHANGELOG.md agree"

# --- the commit ------------------------------------------------------------

commit=$(git rev-parse HEAD) || fail "not a git checkout: the release stamps the commit"
if [[ -n $(git status --porcelain) ]]; then
  [[ ${ALLOW_DIRTY:-} == 1 ]] || fail "the working tree has changes (git status): commit them, or ALLOW_DIRTY=1 to build anyway"
  commit+=-dirty
  say "the working tree has changes: stamping commit $commit"
fi
head_tags=$(git tag --points-at HEAD --list 'v*')
if [[ -n $head_tags ]] && ! grep -qxF "$version" <<<"$head_tags"; then
  fail "HEAD is tagged $(tr '\n' ' ' <<<"$head_tags")but VERSION is $version"
fi
[[ -n $head_tags ]] || say "HEAD has no tag $version yet (git tag $version once the release is checked)"
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
build_date=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)

# --- build -----------------------------------------------------------------

mkdir -p "$DIST"
DIST=$(cd "$DIST" && pwd)
out=$DIST/$version
tmp=$(mktemp -d "$DIST/.$version.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

ldflags="-w -X $pkg/internal/version.Version=$version -X $pkg/internal/version.Commit=$commit -X $pkg/internal/version.BuildDate=$build_date"
# GOFLAGS and a go.work from the environment must not change the build.
build_env=(GOFLAGS= GOWORK=off CGO_ENABLED=0 GOOS=linux)
for arch in "${arches[@]}"; do
  bin=$tmp/prescaler-$version-linux-$arch
  start=$SECONDS
  env "${build_env[@]}" GOARCH="$arch" "$GO" build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$bin" ./cmd/prescaler ||
    fail "go build for linux/$arch failed"
  say "built $(basename "$bin") in $((SECONDS - start))s"
done

# --- check the binaries ----------------------------------------------------

host_arch=$(env GOFLAGS= "$GO" env GOHOSTARCH)
for arch in "${arches[@]}"; do
  bin=$tmp/prescaler-$version-linux-$arch
  name=$(basename "$bin")
  stamp=$(env GOFLAGS= GOWORK=off "$GO" run ./hack/stamp "$bin") || fail "$name: hack/stamp cannot read it"
  want=$(printf 'goarch=%s\nstatic=true\nversion=%s\ncommit=%s\nbuildDate=%s' "$arch" "$version" "$commit" "$build_date")
  [[ $stamp == "$want" ]] || fail "$name: stamped
$stamp
want
$want"
  meta=$("$GO" version -m "$bin")$'\n' || fail "$name: go version -m failed"
  for want in $'\tpath\t'"$pkg/cmd/prescaler" $'\tbuild\tGOARCH='"$arch" $'\tbuild\tGOOS=linux' \
    $'\tbuild\tCGO_ENABLED=0' $'\tbuild\t-trimpath=true'; do
    [[ $meta == *"$want"$'\n'* ]] || fail "$name: go version -m lacks '${want//$'\t'/ }'"
  done
  if [[ $arch == "$host_arch" && $(uname -s) == Linux ]]; then
    line=$("$bin" version) || fail "$name version: exit status $?: $line"
    want="prescaler $version ($commit) built $build_date "
    [[ $line == "$want"* && $line == *" linux/$arch" ]] ||
      fail "$name version printed '$line', want '$want<go version> linux/$arch'"
    say "$name version: $line"
  fi
  say "$name: linux/$arch, static, stamped $version ($commit) $build_date"
done

# --- the chart ---------------------------------------------------------------

helm_home=$tmp/.helm
mkdir -p "$helm_home"
helm() {
  local -a cmd
  if [[ -n ${HELM:-} ]]; then
    cmd=("$HELM")
  elif [[ -n ${PRESCALER_TESTBED_BIN:-} && -x $PRESCALER_TESTBED_BIN/helm ]]; then
    cmd=("$PRESCALER_TESTBED_BIN/helm")
  else
    cmd=(env GOFLAGS= GOWORK=off "$GO" -C "$root/test/tools/helm" tool helm)
  fi
  HELM_CONFIG_HOME=$helm_home/config HELM_CACHE_HOME=$helm_home/cache HELM_DATA_HOME=$helm_home/data "${cmd[@]}" "$@"
}
# Packaged as the tree has it: Chart.yaml carries the version (checked above),
# so the released chart is the commit's. Helm's output is shown on failure
# only (it notes each symbolic link it follows: files/ links to
# deploy/monitoring).
tgz=$tmp/prescaler-$chart_version.tgz
log=$(helm package "$root/$chart" --destination "$tmp" 2>&1) || fail "helm package $chart failed:
$log"
[[ -f $tgz ]] || fail "helm package wrote no $(basename "$tgz"): $(ls "$tmp")"
packaged=$tmp/.chart
mkdir -p "$packaged"
tar -xzf "$tgz" -C "$packaged" prescaler/Chart.yaml || fail "$(basename "$tgz") holds no prescaler/Chart.yaml"
check_chart_yaml "$packaged/prescaler/Chart.yaml" "$(basename "$tgz")'s Chart.yaml"
log=$(helm lint --strict "$tgz" 2>&1) || fail "helm lint --strict $(basename "$tgz") failed:
$log"
rendered=$(helm template prescaler "$tgz" --set agent.enabled=true 2>&1) || fail "helm template $(basename "$tgz") failed:
$rendered"
images=$(awk '$1 == "image:" { print $2 }' <<<"$rendered" | tr -d '"' | sort -u)
[[ $images == "$image:$version" ]] || fail "$(basename "$tgz") renders the images '$images', want $image:$version"
say "$(basename "$tgz"): appVersion $version, version $chart_version, lint clean, image $image:$version"
rm -rf "$packaged" "$helm_home"

# --- notes and checksums -----------------------------------------------------

printf '# prescaler %s\n%s\n' "$version" "$notes" >"$tmp/release-notes.md"
(
  cd "$tmp"
  files=(prescaler-*)
  sha256sum "${files[@]}" release-notes.md >SHA256SUMS
  sha256sum --check --strict --quiet SHA256SUMS || fail "SHA256SUMS does not verify"
  listed=$(awk '{ print $2 }' SHA256SUMS | sort)
  present=$(find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%f\n' | sort)
  [[ $listed == "$present" ]] || fail "SHA256SUMS lists [$listed], the folder holds [$present]"
) || exit 1

rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
say "release $version in $out:"
(cd "$out" && find . -maxdepth 1 -type f -printf '  %12s  %f\n' | sort -k2 && echo && sed 's/^/  /' SHA256SUMS)
say "the image: make image (at the commit tagged $version), then docker push $image:$version"
