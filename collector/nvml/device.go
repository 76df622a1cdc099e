package nvml

import "errors"

// Device is one physical GPU as NVML reports it, converted to plain units at
// the boundary. A reading is nil when the GPU does not support it (power on
// some boards, utilization of a GPU in MIG mode) or when reading it failed.
type Device struct {
	// Index is the NVML index (as nvidia-smi shows it; PCI bus order, which
	// is not necessarily CUDA's order).
	Index int
	// UUID is NVML's identifier, "GPU-…"; the NVIDIA device plugin hands the
	// same string to the kubelet as the device ID.
	UUID string
	// Model is the product name, e.g. "NVIDIA H100 80GB HBM3".
	Model string
	// MIGDeviceUUIDs are the UUIDs of the MIG devices carved out of this GPU
	// when MIG mode is on ("MIG-…"), the device IDs the device plugin uses
	// for MIG resources.
	MIGDeviceUUIDs []string

	// Utilization is the fraction of the last sample period (1/6 s to 1 s,
	// depending on the product) during which one or more kernels ran.
	Utilization *float64
	// MemoryBandwidthUtilization is the fraction of the last sample period
	// during which device memory was read or written.
	MemoryBandwidthUtilization *float64
	// MemoryUsedBytes is reserved plus allocated device memory; with
	// MemoryTotalBytes it is nvmlDeviceGetMemoryInfo's used and total.
	MemoryUsedBytes  *float64
	MemoryTotalBytes *float64
	// PowerWatts is the board's power draw (averaged over one second on
	// Ampere and newer except GA100, instantaneous before).
	PowerWatts *float64
	// PowerLimitWatts is the enforced power limit.
	PowerLimitWatts *float64
}

var (
	// ErrNoLibrary means libnvidia-ml.so.1 could not be opened: no NVIDIA
	// driver on the node, or a container started without the NVIDIA runtime.
	ErrNoLibrary = errors.New("NVML library not found")
	// ErrNoCgo means this binary was built without cgo (or not for linux)
	// and cannot load NVML at all.
	ErrNoCgo = errors.New("built without cgo: NVML cannot be loaded (rebuild with CGO_ENABLED=1 for linux)")
	// ErrNotInitialized is returned by device calls before a successful Init.
	ErrNotInitialized = errors.New("NVML is not initialized")
)
