//go:build cgo && linux

package nvml

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestLibraryWithoutDriver: without libnvidia-ml.so.1 go-nvml's Init fails
// with ERROR_LIBRARY_NOT_FOUND and nothing crashes; the adapter says why and
// refuses device calls (which would kill the process) until Init succeeds.
func TestLibraryWithoutDriver(t *testing.T) {
	path := filepath.Join(t.TempDir(), "libnvidia-ml.so.1")
	lib := NewLibrary(path)
	for range 2 { // Init may be retried
		_, err := lib.Init()
		if !errors.Is(err, ErrNoLibrary) {
			t.Fatalf("Init: %v, want ErrNoLibrary", err)
		}
		if want := path + ": cannot open shared object file: No such file or directory"; !strings.Contains(err.Error(), want) {
			t.Errorf("Init: %q does not say %q", err, want)
		}
	}
	if _, err := lib.DeviceCount(); !errors.Is(err, ErrNotInitialized) {
		t.Errorf("DeviceCount: %v, want ErrNotInitialized", err)
	}
	if _, err := lib.Device(0); !errors.Is(err, ErrNotInitialized) {
		t.Errorf("Device: %v, want ErrNotInitialized", err)
	}
	if err := lib.Shutdown(); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// TestLibraryDefaultPath opens the node's own NVML: on a machine without a
// driver it must fail cleanly; on a GPU machine it reads every GPU.
func TestLibraryDefaultPath(t *testing.T) {
	lib := NewLibrary("")
	driver, err := lib.Init()
	if errors.Is(err, ErrNoLibrary) {
		t.Logf("no NVIDIA driver here: %v", err)
		return
	}
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	defer lib.Shutdown()
	n, err := lib.DeviceCount()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("driver %s, %d GPUs", driver, n)
	for i := range n {
		d, err := lib.Device(i)
		t.Logf("%s (err %v)", show(d), err)
		if d.UUID == "" || d.MemoryTotalBytes == nil {
			t.Errorf("GPU %d: no UUID or memory total", i)
		}
	}
}

// The fake-driver tests load testdata/fakenvml.c, compiled, as the NVML
// library. Each runs in a process of its own: go-nvml binds NVML's symbols
// process-wide, so one process can load one library only.
const (
	envFakeLibrary = "PRESCALER_TEST_FAKE_NVML"
	envFakeCase    = "PRESCALER_TEST_FAKE_NVML_CASE"
)

func TestLibraryFakeDriver(t *testing.T) { runFakeDriver(t, "full") }

func TestLibraryDriverTooOld(t *testing.T) { runFakeDriver(t, "too-old", "-DOMIT_POWER_LIMIT") }

func runFakeDriver(t *testing.T, scenario string, cflags ...string) {
	t.Helper()
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler to build the fake NVML library")
	}
	so := filepath.Join(t.TempDir(), "libnvidia-ml.so.1")
	args := append([]string{"-shared", "-fPIC", "-Wall", "-Werror", "-o", so, "testdata/fakenvml.c"}, cflags...)
	if out, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		t.Fatalf("cc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFakeDriverChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), envFakeLibrary+"="+so, envFakeCase+"="+scenario)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestFakeDriverChild") {
		t.Fatalf("child process (%v):\n%s", err, out)
	}
}

// TestFakeDriverChild is the child process of runFakeDriver.
func TestFakeDriverChild(t *testing.T) {
	path := os.Getenv(envFakeLibrary)
	if path == "" {
		t.Skip("runs in a child process of TestLibraryFakeDriver")
	}
	lib := NewLibrary(path)
	switch os.Getenv(envFakeCase) {
	case "full":
		fakeDriverFull(t, lib)
	case "too-old":
		fakeDriverTooOld(t, lib)
	default:
		t.Fatalf("unknown case %q", os.Getenv(envFakeCase))
	}
}

func fakeDriverFull(t *testing.T, lib Library) {
	driver, err := lib.Init()
	if err != nil || driver != "999.99.99-fake" {
		t.Fatalf("Init: %q, %v", driver, err)
	}
	if n, err := lib.DeviceCount(); n != 3 || err != nil {
		t.Fatalf("DeviceCount: %d, %v", n, err)
	}
	for _, tc := range []struct {
		index   int
		want    string
		wantErr string
	}{
		{0, "0 GPU-00000000-0000-0000-0000-000000000000 NVIDIA H100 80GB HBM3 mig=[] util=0.42 membw=0.17 used=1.073741824e+10 total=8.5520809984e+10 power=312.5 limit=700", ""},
		{1, "1 GPU-11111111-1111-1111-1111-111111111111 NVIDIA H100 80GB HBM3 mig=[MIG-10000000-0000-0000-0000-000000000000 MIG-12000000-0000-0000-0000-000000000000] util=nil membw=nil used=1.073741824e+10 total=8.5520809984e+10 power=nil limit=700",
			"GPU 1 (GPU-11111111-1111-1111-1111-111111111111): nvmlDeviceGetPowerUsage: Unknown Error"},
		{2, "0   mig=[] util=nil membw=nil used=nil total=nil power=nil limit=nil", "GPU 2: nvmlDeviceGetUUID: GPU is lost"},
	} {
		d, err := lib.Device(tc.index)
		if got := show(d); got != tc.want {
			t.Errorf("Device(%d)\n got %s\nwant %s", tc.index, got, tc.want)
		}
		if got := fmt.Sprint(err); (tc.wantErr == "" && err != nil) || !strings.Contains(got, tc.wantErr) {
			t.Errorf("Device(%d) error %q, want %q", tc.index, got, tc.wantErr)
		}
	}

	// The collector on the real adapter: GPU 1 is attributed through one of
	// its MIG devices, GPU 2 is lost, GPU 1's power fails.
	c, err := NewCollector(CollectorOptions{
		NodeName: "gpu-node-1", Library: lib,
		Allocations: fakeAllocations{allocs: []Allocation{
			{Resource: "nvidia.com/mig-3g.40gb", DeviceID: "MIG-12000000-0000-0000-0000-000000000000", Owner: Owner{"llm", "vllm-0", "vllm"}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Start(context.Background())
	const gpu0 = `{container="",gpu="0",model="NVIDIA H100 80GB HBM3",namespace="",node="gpu-node-1",pod="",uuid="GPU-00000000-0000-0000-0000-000000000000"}`
	const gpu1 = `{container="vllm",gpu="1",model="NVIDIA H100 80GB HBM3",namespace="llm",node="gpu-node-1",pod="vllm-0",uuid="GPU-11111111-1111-1111-1111-111111111111"}`
	want := headers + `
prescaler_agent_gpu_utilization_ratio` + gpu0 + ` 0.42
prescaler_agent_gpu_memory_bandwidth_utilization_ratio` + gpu0 + ` 0.17
prescaler_agent_gpu_memory_used_bytes` + gpu0 + ` 1.073741824e+10
prescaler_agent_gpu_memory_used_bytes` + gpu1 + ` 1.073741824e+10
prescaler_agent_gpu_memory_total_bytes` + gpu0 + ` 8.5520809984e+10
prescaler_agent_gpu_memory_total_bytes` + gpu1 + ` 8.5520809984e+10
prescaler_agent_gpu_power_watts` + gpu0 + ` 312.5
prescaler_agent_gpu_power_limit_watts` + gpu0 + ` 700
prescaler_agent_gpu_power_limit_watts` + gpu1 + ` 700
prescaler_agent_nvml_up{node="gpu-node-1"} 1
prescaler_agent_scrape_errors_total{node="gpu-node-1",source="nvml"} 4
prescaler_agent_scrape_errors_total{node="gpu-node-1",source="pod_resources"} 0
`
	// 4 errors: GPUs 1 and 2 at Start and again at this scrape.
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"prescaler_agent_gpu_utilization_ratio", "prescaler_agent_gpu_memory_bandwidth_utilization_ratio",
		"prescaler_agent_gpu_memory_used_bytes", "prescaler_agent_gpu_memory_total_bytes",
		"prescaler_agent_gpu_power_watts", "prescaler_agent_gpu_power_limit_watts",
		"prescaler_agent_nvml_up", "prescaler_agent_scrape_errors_total"); err != nil {
		t.Error(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func fakeDriverTooOld(t *testing.T, lib Library) {
	_, err := lib.Init()
	if err == nil || !strings.Contains(err.Error(), "does not export nvmlDeviceGetEnforcedPowerLimit") {
		t.Fatalf("Init: %v, want a missing nvmlDeviceGetEnforcedPowerLimit", err)
	}
	if _, err := lib.Device(0); !errors.Is(err, ErrNotInitialized) {
		t.Errorf("Device after a failed Init: %v, want ErrNotInitialized", err)
	}
	c, err := NewCollector(CollectorOptions{NodeName: "gpu-node-1", Library: lib})
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(upOnly{c}); got != 0 {
		t.Errorf("nvml_up %v, want 0", got)
	}
}

// show formats a Device on one line, nil readings as nil.
func show(d Device) string {
	v := func(p *float64) string {
		if p == nil {
			return "nil"
		}
		return fmt.Sprint(*p)
	}
	return fmt.Sprintf("%d %s %s mig=%v util=%s membw=%s used=%s total=%s power=%s limit=%s",
		d.Index, d.UUID, d.Model, d.MIGDeviceUUIDs, v(d.Utilization), v(d.MemoryBandwidthUtilization),
		v(d.MemoryUsedBytes), v(d.MemoryTotalBytes), v(d.PowerWatts), v(d.PowerLimitWatts))
}
