// Package nvml is the collector behind `prescaler agent`, the node agent that
// runs as a DaemonSet on GPU nodes. It reads every GPU through the NVIDIA
// Management Library (NVML), attributes each GPU to the container it is
// allocated to through the kubelet pod-resources API, and exposes the
// readings as Prometheus metrics; prescaler uses GPU utilization per replica
// to learn how much load one replica can carry.
//
// The collector depends on two small interfaces, declared here and faked in
// the tests:
//
//   - [Library]: what the agent needs from NVML (init, shutdown, device
//     count, one device's identity and readings in plain units).
//     [NewLibrary] implements it with github.com/NVIDIA/go-nvml.
//   - [AllocationLister]: which container holds which device.
//     [DialPodResources] implements it with the kubelet pod-resources gRPC
//     API (List).
//
// # NVML, cgo and the driver
//
// go-nvml is a cgo package: it carries its own copy of nvml.h and opens
// libnvidia-ml.so.1 with dlopen at run time, so building needs a C compiler
// (CGO_ENABLED=1) but neither the NVIDIA driver nor its headers; the binary
// links only against libc (the NVML symbols are left unresolved by the linker
// flag --unresolved-symbols=ignore-in-object-files and bound lazily once the
// library is open). Consequences:
//
//   - Built with CGO_ENABLED=0 (or for a GOOS other than linux) the package
//     still compiles, with a [Library] whose Init reports [ErrNoCgo]; the agent
//     then runs and exports prescaler_agent_nvml_up 0.
//   - The image must be glibc based (distroless/base, debian, ubi), not
//     static and not musl: the driver's libnvidia-ml.so.1 is a glibc library.
//   - Do not link with -z now (full RELRO, BIND_NOW): the unresolved NVML
//     symbols are then looked up at start and the process dies before main
//     with "symbol lookup error".
//   - The library is not in the image: the NVIDIA container toolkit (runtime
//     class nvidia, or CDI) mounts the driver's libnvidia-ml.so.1 into the
//     container when it starts.
//
// Without the library nvml.Init returns ERROR_LIBRARY_NOT_FOUND and nothing
// crashes, but calling any other NVML function when Init has not succeeded
// kills the process ("symbol lookup error: undefined symbol"): Go cannot
// recover from it. The adapter therefore refuses every device call until Init
// has succeeded, and checks at Init that the driver's library exports every
// function it will call.
package nvml
