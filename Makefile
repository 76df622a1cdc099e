# prescaler — build, test and benchmark entry points.
SHELL := /usr/bin/env bash
GO ?= go
PKG := github.com/prescaler/prescaler
# The release version, written in one place: the VERSION file. Chart.yaml's
# appVersion (and version, without the v) and deploy/base's image tag say
# the same (TestReleaseVersionsAgree in deploy/); make release stamps it.
RELEASE_VERSION := $(strip $(file < VERSION))
# Other builds are named by git describe: at a clean commit tagged
# $(RELEASE_VERSION), that version; elsewhere the tag, the commits since it
# and the commit (v0.1.0-3-g1f22337-dirty). Without git, the release version.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo $(RELEASE_VERSION))
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
# With SOURCE_DATE_EPOCH set (e.g. to the last commit's time, git log -1
# --format=%ct), the stamped date is that instant, so builds are reproducible.
BUILD_DATE ?= $(shell date -u $(if $(SOURCE_DATE_EPOCH),-d @$(SOURCE_DATE_EPOCH)) +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w \
	-X $(PKG)/internal/version.Version=$(VERSION) \
	-X $(PKG)/internal/version.Commit=$(COMMIT) \
	-X $(PKG)/internal/version.BuildDate=$(BUILD_DATE)
# Real traces used by tests and benchmarks; never copied into the repository.
TRACES ?= $(abspath ../shared/traces)
export PRESCALER_TRACES := $(TRACES)

# go-nvml's header marks some NVML calls deprecated; the agent does not use
# them, and the warnings would drown real ones.
CGO_CFLAGS ?= -O2 -g -Wno-deprecated-declarations
export CGO_CFLAGS

# The container image (Dockerfile) and its tag.
IMAGE ?= ghcr.io/prescaler/prescaler
IMAGE_TAG ?= $(VERSION)
DOCKER ?= docker

BENCH_COUNT ?= 6
BENCH_OUT ?= bench.txt

.PHONY: all build test unit lint fmt vet bench bench-forecast fuzz clean testbed testbed-keda testbed-karpenter testbed-all image image-check demo release scale-test

all: build

build: ## Build bin/prescaler
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/prescaler ./cmd/prescaler

image: ## Build the container image $(IMAGE):$(IMAGE_TAG) (see Dockerfile)
	$(DOCKER) build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) --build-arg BUILD_DATE=$(BUILD_DATE) \
		$(if $(SOURCE_DATE_EPOCH),--build-arg SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH)) -t $(IMAGE):$(IMAGE_TAG) .

image-check: ## Run the Dockerfile's build stage without Docker and check the binary
	VERSION=$(VERSION) COMMIT=$(COMMIT) BUILD_DATE=$(BUILD_DATE) hack/image-build-check.sh

# The version is RELEASE_VERSION (the VERSION file), never git describe's; the
# script stamps the commit and the commit's time (or SOURCE_DATE_EPOCH's).
# It refuses a working tree with changes unless ALLOW_DIRTY=1.
release: ## Release $(RELEASE_VERSION) into dist/$(RELEASE_VERSION): static linux/amd64 and linux/arm64 binaries, the Helm chart, SHA256SUMS, each checked (hack/release.sh)
	GO='$(GO)' hack/release.sh

# make test builds the KEDA operator and Karpenter before the tests, so their
# tests must run there: PRESCALER_TESTBED_KEDA=require and
# PRESCALER_TESTBED_KARPENTER=require make a missing build fail them instead
# of skipping them (a plain `go test` skips them when it is missing).
test: export PRESCALER_TESTBED_KEDA := require
test: export PRESCALER_TESTBED_KARPENTER := require
test: lint testbed-all unit ## Everything CI runs

testbed: ## Build the test control plane (etcd, kube-*, kubectl, kwok, prometheus, helm) into ~/.cache/prescaler, once per version set
	$(GO) run ./test/testbed/cmd/testbed build

testbed-keda: ## The test control plane and the KEDA operator (the KEDA tests run when it is built; make test requires it)
	$(GO) run ./test/testbed/cmd/testbed build -with keda

testbed-karpenter: ## The test control plane and Karpenter's kwok provider (the Karpenter tests run when it is built; make test requires it)
	$(GO) run ./test/testbed/cmd/testbed build -with karpenter

testbed-all: ## The test control plane, the KEDA operator and Karpenter, built side by side (what make test needs)
	$(GO) run ./test/testbed/cmd/testbed build -with keda,karpenter

# Flags for the demo, e.g. make demo DEMO_FLAGS="--days 0.5 --speed 100ms".
DEMO_FLAGS ?=

demo: testbed ## See it run: a compressed day of traffic on a real control plane, prescaler beside the HPA (docs/demo.md)
	CGO_ENABLED=0 $(GO) run ./demo $(DEMO_FLAGS)

# Flags for the scale test, e.g. make scale-test SCALE_FLAGS="--targets 200 --days 3".
SCALE_FLAGS ?=

# Not part of make test: it runs for many minutes. Like make test, it uses
# the testbed binaries in ~/.cache/prescaler (built first by the testbed
# target when missing) or PRESCALER_TESTBED_BIN's; it needs neither KEDA nor
# Karpenter, so their builds are not required.
scale-test: export PRESCALER_TESTBED_KEDA := off
scale-test: export PRESCALER_TESTBED_KARPENTER := off
scale-test: build testbed ## Measure prescaler with many targets on the test control plane (test/scale; SCALE_FLAGS=...)
	$(GO) run ./test/scale $(SCALE_FLAGS)

unit: ## Unit tests (race detector on) plus real-trace tests
	@test -d "$(TRACES)" || { echo "traces folder $(TRACES) is missing (set TRACES=...)"; exit 1; }
	$(GO) test -race -count=1 -timeout 20m ./...

lint: vet fmt ## Static checks

# -race: vet compiles every package and its dependencies to check them; built
# with the race detector, as the tests are, those compiles are the ones
# `make unit` reuses from the build cache instead of compiling them twice.
vet:
	$(GO) vet -race ./...

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

bench: ## Go benchmarks, repeated for benchstat
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCH_COUNT) ./... | tee $(BENCH_OUT)

bench-forecast: build ## Accuracy and speed against statsmodels (see bench/forecast/README.md)
	bench/forecast/run.sh

fuzz: ## Fuzz the forecaster for a minute
	$(GO) test -run '^$$' -fuzz FuzzFitForecast -fuzztime 60s ./predictor/

clean:
	rm -rf bin $(BENCH_OUT)
