//go:build cgo && linux

package nvml

import (
	"errors"
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/dl"
	gonvml "github.com/NVIDIA/go-nvml/pkg/nvml"
)

// DefaultLibraryPath is the library go-nvml opens when no path is given; the
// dynamic loader searches its usual path for it.
const DefaultLibraryPath = "libnvidia-ml.so.1"

// requiredSymbols are the C entry points behind every go-nvml call the
// adapter makes; each line lists alternatives, of which go-nvml calls the
// first the library exports. Calling an entry point the library lacks kills
// the process, so Init checks them all.
var requiredSymbols = [][]string{
	{"nvmlShutdown"},
	{"nvmlErrorString"},
	{"nvmlSystemGetDriverVersion"},
	{"nvmlDeviceGetCount_v2", "nvmlDeviceGetCount"},
	{"nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex"},
	{"nvmlDeviceGetUUID"},
	{"nvmlDeviceGetName"},
	{"nvmlDeviceGetUtilizationRates"},
	{"nvmlDeviceGetMemoryInfo"},
	{"nvmlDeviceGetPowerUsage"},
	{"nvmlDeviceGetEnforcedPowerLimit"},
}

// migSymbols are needed to list MIG devices (drivers from R450 on); without
// them MIG devices are not listed and only whole GPUs are attributed.
var migSymbols = []string{
	"nvmlDeviceGetMigMode",
	"nvmlDeviceGetMaxMigDeviceCount",
	"nvmlDeviceGetMigDeviceHandleByIndex",
}

// goNVML is the [Library] backed by github.com/NVIDIA/go-nvml. It is not safe
// for concurrent use; the [Collector] calls it from one goroutine at a time.
type goNVML struct {
	path        string
	lib         gonvml.Interface
	initialized bool
	mig         bool
}

// NewLibrary returns the [Library] that loads NVML from path
// (DefaultLibraryPath when empty) on Init. Nothing is loaded before Init.
func NewLibrary(path string) Library {
	if path == "" {
		path = DefaultLibraryPath
	}
	return &goNVML{path: path, lib: gonvml.New(gonvml.WithLibraryPath(path))}
}

func (l *goNVML) Init() (string, error) {
	if l.initialized {
		return l.driverVersion(), nil
	}
	if ret := l.lib.Init(); ret != gonvml.SUCCESS {
		if ret == gonvml.ERROR_LIBRARY_NOT_FOUND {
			return "", fmt.Errorf("%w: %s (is the NVIDIA driver installed, and the container run by the NVIDIA runtime?)",
				ErrNoLibrary, l.openError())
		}
		return "", fmt.Errorf("nvmlInit (%s): %w", l.path, ret)
	}
	for _, alternatives := range requiredSymbols {
		if !l.exportsAny(alternatives...) {
			_ = l.lib.Shutdown()
			return "", fmt.Errorf("the NVML library %s does not export %s: driver too old for prescaler agent", l.path, alternatives[0])
		}
	}
	l.mig = l.exportsAll(migSymbols...)
	l.initialized = true
	return l.driverVersion(), nil
}

// openError says why the library does not open: go-nvml folds every dlopen
// failure into ERROR_LIBRARY_NOT_FOUND, so open it again for dlerror's text.
func (l *goNVML) openError() string {
	lib := dl.New(l.path, dl.RTLD_LAZY|dl.RTLD_GLOBAL)
	if err := lib.Open(); err != nil {
		return err.Error()
	}
	_ = lib.Close()
	return "cannot open " + l.path
}

// exportsAny reports whether the loaded library exports one of names.
func (l *goNVML) exportsAny(names ...string) bool {
	ext := l.lib.Extensions()
	for _, name := range names {
		if ext.LookupSymbol(name) == nil {
			return true
		}
	}
	return false
}

// exportsAll reports whether the loaded library exports every one of names.
func (l *goNVML) exportsAll(names ...string) bool {
	for _, name := range names {
		if !l.exportsAny(name) {
			return false
		}
	}
	return true
}

// driverVersion is only logged: an error leaves it empty.
func (l *goNVML) driverVersion() string {
	v, ret := l.lib.SystemGetDriverVersion()
	if ret != gonvml.SUCCESS {
		return ""
	}
	return v
}

func (l *goNVML) Shutdown() error {
	if !l.initialized {
		return nil
	}
	l.initialized = false
	if ret := l.lib.Shutdown(); ret != gonvml.SUCCESS {
		return fmt.Errorf("nvmlShutdown: %w", ret)
	}
	return nil
}

func (l *goNVML) DeviceCount() (int, error) {
	if !l.initialized {
		return 0, ErrNotInitialized
	}
	n, ret := l.lib.DeviceGetCount()
	if ret != gonvml.SUCCESS {
		return 0, fmt.Errorf("nvmlDeviceGetCount: %w", ret)
	}
	return n, nil
}

func (l *goNVML) Device(index int) (Device, error) {
	if !l.initialized {
		return Device{}, ErrNotInitialized
	}
	h, ret := l.lib.DeviceGetHandleByIndex(index)
	if ret != gonvml.SUCCESS {
		return Device{}, fmt.Errorf("GPU %d: nvmlDeviceGetHandleByIndex: %w", index, ret)
	}
	uuid, ret := h.GetUUID()
	if ret != gonvml.SUCCESS {
		return Device{}, fmt.Errorf("GPU %d: nvmlDeviceGetUUID: %w", index, ret)
	}
	d := Device{Index: index, UUID: uuid}

	// A reading the GPU does not support is left nil silently; any other
	// failure is left nil and reported.
	var errs []error
	ok := func(call string, ret gonvml.Return) bool {
		switch ret {
		case gonvml.SUCCESS:
			return true
		case gonvml.ERROR_NOT_SUPPORTED:
			return false
		default:
			errs = append(errs, fmt.Errorf("%s: %w", call, ret))
			return false
		}
	}
	if name, ret := h.GetName(); ok("nvmlDeviceGetName", ret) {
		d.Model = name
	}
	if u, ret := h.GetUtilizationRates(); ok("nvmlDeviceGetUtilizationRates", ret) {
		d.Utilization = new(float64(u.Gpu) / 100)
		d.MemoryBandwidthUtilization = new(float64(u.Memory) / 100)
	}
	if m, ret := h.GetMemoryInfo(); ok("nvmlDeviceGetMemoryInfo", ret) {
		d.MemoryUsedBytes = new(float64(m.Used))
		d.MemoryTotalBytes = new(float64(m.Total))
	}
	if mw, ret := h.GetPowerUsage(); ok("nvmlDeviceGetPowerUsage", ret) {
		d.PowerWatts = new(float64(mw) / 1000)
	}
	if mw, ret := h.GetEnforcedPowerLimit(); ok("nvmlDeviceGetEnforcedPowerLimit", ret) {
		d.PowerLimitWatts = new(float64(mw) / 1000)
	}
	if l.mig {
		d.MIGDeviceUUIDs = migDeviceUUIDs(h, ok)
	}
	if len(errs) > 0 {
		return d, fmt.Errorf("GPU %d (%s): %w", index, uuid, errors.Join(errs...))
	}
	return d, nil
}

// migDeviceUUIDs lists the UUIDs of the MIG devices on h, nil when MIG mode
// is off or not supported.
func migDeviceUUIDs(h gonvml.Device, ok func(string, gonvml.Return) bool) []string {
	mode, _, ret := h.GetMigMode()
	if !ok("nvmlDeviceGetMigMode", ret) || mode != gonvml.DEVICE_MIG_ENABLE {
		return nil
	}
	n, ret := h.GetMaxMigDeviceCount()
	if !ok("nvmlDeviceGetMaxMigDeviceCount", ret) {
		return nil
	}
	var uuids []string
	for i := range n {
		mh, ret := h.GetMigDeviceHandleByIndex(i)
		if ret == gonvml.ERROR_NOT_FOUND { // an empty slot
			continue
		}
		if !ok("nvmlDeviceGetMigDeviceHandleByIndex", ret) {
			continue
		}
		if uuid, ret := mh.GetUUID(); ok("nvmlDeviceGetUUID (MIG)", ret) {
			uuids = append(uuids, uuid)
		}
	}
	return uuids
}
