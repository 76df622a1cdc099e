#!/usr/bin/env bash
# Rewrites this module's replace block from k8s.io/kubernetes' own go.mod:
# every k8s.io staging module that kubernetes requires at v0.0.0 (its go.mod
# points them at ./staging/src/..., absent from the published module) is
# replaced with the published tag v0.<minor>.<patch> matching the kubernetes
# version. Run after changing the kubernetes version in go.mod, then
# `go mod tidy`.
set -euo pipefail
cd "$(dirname "$0")"
kver=$(awk '$1=="require" && $2=="k8s.io/kubernetes" {print $3} $1=="k8s.io/kubernetes" {print $2}' go.mod | head -1)
staging="v0.${kver#v1.}"
kmod=$(GOWORK=off go mod download -json "k8s.io/kubernetes@$kver" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
block=$(awk -v v="$staging" '/^require \(/{r=1;next} r&&/^\)/{r=0} r && $1 ~ /^k8s.io\// && $2=="v0.0.0" {printf "\t%s => %s %s\n",$1,$1,v}' "$kmod")
awk -v block="$block" '
	/^replace \(/ { print; print block; skip=1; next }
	skip && /^\)/ { skip=0 }
	!skip { print }
' go.mod > go.mod.new
mv go.mod.new go.mod
echo "replaced $(grep -c . <<<"$block") staging modules with $staging"
