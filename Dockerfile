# syntax=docker/dockerfile:1
#
# prescaler's image: one binary for the controller (`prescaler run`) and the
# NVML node agent (`prescaler agent`). Build it with `make image`, which
# passes VERSION, COMMIT and BUILD_DATE as the Makefile's `build` stamps them.
# `make image-check` runs this file's go build line outside Docker
# (hack/image-build-check.sh) and checks the binary.
#
# The base images are pinned by tag. For a build that cannot change under
# you, pin their digests too (docker buildx imagetools inspect IMAGE):
#   --build-arg GO_IMAGE=golang:1.26-bookworm@sha256:...
#   --build-arg RUNTIME_IMAGE=gcr.io/distroless/base-debian12:nonroot@sha256:...
# The builder and the runtime must stay on the same Debian release: the
# binary links the builder's glibc and runs on the runtime's.
ARG GO_IMAGE=golang:1.26-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/base-debian12:nonroot

FROM ${GO_IMAGE} AS build
WORKDIR /src
# Modules first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=""
ARG BUILD_DATE=""
# cgo for NVML (github.com/NVIDIA/go-nvml dlopens libnvidia-ml.so.1 at run
# time; docs/agent.md). Its nvml.h marks calls the agent does not use as
# deprecated; the warnings would drown real ones. Never link with -z now:
# the NVML symbols must stay lazily bound.
ENV CGO_ENABLED=1 \
    CGO_CFLAGS="-O2 -g -Wno-deprecated-declarations"
# Reproducible: -trimpath drops the build folder, -buildvcs=false the VCS
# stamp (COMMIT carries it), -s -w the symbol tables; the only time in the
# binary is BUILD_DATE (make image derives it from SOURCE_DATE_EPOCH when
# set). The -ldflags are the Makefile's LDFLAGS.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X github.com/prescaler/prescaler/internal/version.Version=${VERSION} -X github.com/prescaler/prescaler/internal/version.Commit=${COMMIT} -X github.com/prescaler/prescaler/internal/version.BuildDate=${BUILD_DATE}" \
      -o /out/prescaler ./cmd/prescaler

# glibc (distroless/base, not static): the NVIDIA container runtime mounts
# the driver's libnvidia-ml.so.1, a glibc library, and dlopen needs the
# dynamic loader. The controller needs none of it and runs the same.
FROM ${RUNTIME_IMAGE}
ARG VERSION=dev
ARG COMMIT=""
LABEL org.opencontainers.image.title="prescaler" \
      org.opencontainers.image.description="Predictive autoscaler for GPU inference on Kubernetes" \
      org.opencontainers.image.source="https://github.com/prescaler/prescaler" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
COPY --from=build /out/prescaler /prescaler
# distroless' nonroot user. The agent's DaemonSet overrides it with UID 0 for
# the kubelet's root-only pod-resources socket.
USER 65532:65532
ENTRYPOINT ["/prescaler"]
