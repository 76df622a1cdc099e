package nvml

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// fakeLibrary is a Library with canned devices.
type fakeLibrary struct {
	initErr    error
	countErr   error
	devices    []Device
	deviceErrs map[int]error
	hang       chan struct{} // when set, DeviceCount waits for it to close

	mu               sync.Mutex
	inits, shutdowns int
}

func (f *fakeLibrary) Init() (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inits++
	return "999.99", f.initErr
}

func (f *fakeLibrary) Shutdown() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shutdowns++
	return nil
}

func (f *fakeLibrary) DeviceCount() (int, error) {
	if f.hang != nil {
		<-f.hang
	}
	return len(f.devices), f.countErr
}

func (f *fakeLibrary) Device(i int) (Device, error) { return f.devices[i], f.deviceErrs[i] }

func (f *fakeLibrary) counts() (inits, shutdowns int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.inits, f.shutdowns
}

// fakeAllocations is an AllocationLister with canned allocations.
type fakeAllocations struct {
	allocs []Allocation
	err    error
}

func (f fakeAllocations) ListAllocations(context.Context) ([]Allocation, error) {
	return f.allocs, f.err
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer is a log destination written from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) Count(s string) int { return strings.Count(b.String(), s) }

// h100 is a GPU with every reading.
func h100(index int, uuid string, util float64) Device {
	return Device{
		Index: index, UUID: uuid, Model: "NVIDIA H100 80GB HBM3",
		Utilization: new(util), MemoryBandwidthUtilization: new(0.25),
		MemoryUsedBytes: new(float64(40 << 30)), MemoryTotalBytes: new(float64(80 << 30)),
		PowerWatts: new(350.5), PowerLimitWatts: new(700.0),
	}
}

type fixture struct {
	lib   *fakeLibrary
	clock *fakeClock
	logs  *syncBuffer
	c     *Collector
}

func newFixture(t *testing.T, lib *fakeLibrary, allocs AllocationLister, timeout time.Duration) fixture {
	t.Helper()
	f := fixture{lib: lib, clock: &fakeClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}, logs: &syncBuffer{}}
	var err error
	f.c, err = NewCollector(CollectorOptions{
		NodeName: "gpu-node-1", Library: lib, Allocations: allocs, Timeout: timeout,
		Logger: slog.New(slog.NewTextHandler(f.logs, nil)), Now: f.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f fixture) compare(t *testing.T, want string, names ...string) {
	t.Helper()
	if err := testutil.CollectAndCompare(f.c, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
}

const headers = `
# HELP prescaler_agent_gpu_memory_bandwidth_utilization_ratio Fraction of the last NVML sample period during which GPU device memory was read or written.
# TYPE prescaler_agent_gpu_memory_bandwidth_utilization_ratio gauge
# HELP prescaler_agent_gpu_memory_total_bytes GPU device memory in total, in bytes.
# TYPE prescaler_agent_gpu_memory_total_bytes gauge
# HELP prescaler_agent_gpu_memory_used_bytes GPU device memory reserved or allocated, in bytes.
# TYPE prescaler_agent_gpu_memory_used_bytes gauge
# HELP prescaler_agent_gpu_power_limit_watts GPU board power limit the driver enforces, in watts.
# TYPE prescaler_agent_gpu_power_limit_watts gauge
# HELP prescaler_agent_gpu_power_watts GPU board power draw, in watts.
# TYPE prescaler_agent_gpu_power_watts gauge
# HELP prescaler_agent_gpu_utilization_ratio Fraction of the last NVML sample period (1/6 s to 1 s) during which one or more kernels ran on the GPU.
# TYPE prescaler_agent_gpu_utilization_ratio gauge
# HELP prescaler_agent_nvml_up 1 if NVML is initialized and the GPUs could be listed in this scrape, 0 if not (no driver, built without cgo, NVML failing or hung).
# TYPE prescaler_agent_nvml_up gauge
# HELP prescaler_agent_scrape_duration_seconds Time this scrape spent reading NVML and the kubelet pod-resources API.
# TYPE prescaler_agent_scrape_duration_seconds gauge
# HELP prescaler_agent_scrape_errors_total Errors that left a scrape incomplete, by source: nvml (a GPU or one of its readings, the device list, a timeout) or pod_resources (the kubelet pod-resources List).
# TYPE prescaler_agent_scrape_errors_total counter
`

// statusLines are the series exported whether NVML is up or not.
func statusLines(up, nvmlErrs, podResourcesErrs int) string {
	return fmt.Sprintf(`
prescaler_agent_nvml_up{node="gpu-node-1"} %d
prescaler_agent_scrape_duration_seconds{node="gpu-node-1"} 0
prescaler_agent_scrape_errors_total{node="gpu-node-1",source="nvml"} %d
prescaler_agent_scrape_errors_total{node="gpu-node-1",source="pod_resources"} %d
`, up, nvmlErrs, podResourcesErrs)
}

func TestCollectorTwoGPUsOneAttributed(t *testing.T) {
	lib := &fakeLibrary{devices: []Device{
		h100(0, "GPU-aaaa", 0.42),
		h100(1, "GPU-bbbb", 0),
	}}
	allocs := fakeAllocations{allocs: []Allocation{
		{Resource: "nvidia.com/gpu", DeviceID: "GPU-aaaa", Owner: Owner{"llm", "vllm-7f9c-x2x4q", "vllm"}},
		{Resource: "example.com/nic", DeviceID: "0000:3b:00.0", Owner: Owner{"llm", "vllm-7f9c-x2x4q", "vllm"}},
	}}
	f := newFixture(t, lib, allocs, 0)
	f.compare(t, headers+`
prescaler_agent_gpu_memory_bandwidth_utilization_ratio{container="vllm",gpu="0",model="NVIDIA H100 80GB HBM3",namespace="llm",node="gpu-node-1",pod="vllm-7f9c-x2x4q",uuid="GPU-aaaa"} 0.25
prescaler_agent_gpu_memory_bandwidth_utilization_ratio{container="",gpu="1",model="NVIDIA H100 80GB HBM3",namespace="",node="gpu-node-1",pod="",uuid="GPU-bbbb"} 0.25
prescaler_agent_gpu_memory_total_bytes{container="vllm",gpu="0",model="NVIDIA H100 80GB HBM3",namespace="llm",node="gpu-node-1",pod="vllm-7f9c-x2x4q",uuid="GPU-aaaa"} 8.589934592e+10
prescaler_agent_gpu_memory_total_bytes{container="",gpu="1",model="NVIDIA H100 80GB HBM3",namespace="",node="gpu-node-1",pod="",uuid="GPU-bbbb"} 8.589934592e+10
prescaler_agent_gpu_memory_used_bytes{container="vllm",gpu="0",model="NVIDIA H100 80GB HBM3",namespace="llm",node="gpu-node-1",pod="vllm-7f9c-x2x4q",uuid="GPU-aaaa"} 4.294967296e+10
prescaler_agent_gpu_memory_used_bytes{container="",gpu="1",model="NVIDIA H100 80GB HBM3",namespace="",node="gpu-node-1",pod="",uuid="GPU-bbbb"} 4.294967296e+10
prescaler_agent_gpu_power_limit_watts{container="vllm",gpu="0",model="NVIDIA H100 80GB HBM3",namespace="llm",node="gpu-node-1",pod="vllm-7f9c-x2x4q",uuid="GPU-aaaa"} 700
prescaler_agent_gpu_power_limit_watts{container="",gpu="1",model="NVIDIA H100 80GB HBM3",namespace="",node="gpu-node-1",pod="",uuid="GPU-bbbb"} 700
prescaler_agent_gpu_power_watts{container="vllm",gpu="0",model="NVIDIA H100 80GB HBM3",namespace="llm",node="gpu-node-1",pod="vllm-7f9c-x2x4q",uuid="GPU-aaaa"} 350.5
prescaler_agent_gpu_power_watts{container="",gpu="1",model="NVIDIA H100 80GB HBM3",namespace="",node="gpu-node-1",pod="",uuid="GPU-bbbb"} 350.5
prescaler_agent_gpu_utilization_ratio{container="vllm",gpu="0",model="NVIDIA H100 80GB HBM3",namespace="llm",node="gpu-node-1",pod="vllm-7f9c-x2x4q",uuid="GPU-aaaa"} 0.42
prescaler_agent_gpu_utilization_ratio{container="",gpu="1",model="NVIDIA H100 80GB HBM3",namespace="",node="gpu-node-1",pod="",uuid="GPU-bbbb"} 0
`+statusLines(1, 0, 0))
	if got := f.logs.String(); strings.Count(got, "\n") != 1 || !strings.Contains(got, `msg="NVML initialized" driver_version=999.99 gpus=2`) {
		t.Errorf("logs: want the one line NVML initialized, got\n%s", got)
	}
}

// TestCollectorNVMLDown: without the driver the agent exports nvml_up 0 and
// no GPU series, logs once, counts no scrape error, retries Init every
// InitRetryInterval and comes up when the driver does.
func TestCollectorNVMLDown(t *testing.T) {
	lib := &fakeLibrary{
		initErr: fmt.Errorf("%w: libnvidia-ml.so.1: cannot open shared object file", ErrNoLibrary),
		devices: []Device{h100(0, "GPU-aaaa", 0.5)},
	}
	f := newFixture(t, lib, nil, 0)
	f.c.Start(context.Background())
	down := headers + statusLines(0, 0, 0)
	for range 3 {
		f.compare(t, down) // all metric names: no GPU series at all
	}
	if inits, _ := lib.counts(); inits != 1 {
		t.Errorf("Init called %d times within the retry interval, want 1", inits)
	}
	const warn = `level=WARN msg="NVML unavailable: no GPU metrics, prescaler_agent_nvml_up is 0; retrying every 30s" err="NVML library not found: libnvidia-ml.so.1: cannot open shared object file"`
	if got := f.logs.String(); f.logs.Count("\n") != 1 || !strings.Contains(got, warn) {
		t.Errorf("logs: want the one line\n%s\ngot\n%s", warn, got)
	}

	f.clock.Advance(DefaultInitRetryInterval)
	f.compare(t, down)
	if inits, _ := lib.counts(); inits != 2 {
		t.Errorf("Init called %d times after the retry interval, want 2", inits)
	}
	if n := f.logs.Count("\n"); n != 1 {
		t.Errorf("the same failure logged again: %d lines\n%s", n, f.logs)
	}

	lib.mu.Lock()
	lib.initErr = nil
	lib.mu.Unlock()
	f.clock.Advance(DefaultInitRetryInterval)
	if got := testutil.ToFloat64(upOnly{f.c}); got != 1 {
		t.Errorf("nvml_up %v once the driver is there, want 1", got)
	}
	if !strings.Contains(f.logs.String(), `msg="NVML initialized"`) {
		t.Errorf("recovery not logged:\n%s", f.logs)
	}
}

// upOnly is the collector reduced to its nvml_up series.
type upOnly struct{ c *Collector }

func (u upOnly) Describe(ch chan<- *prometheus.Desc) { ch <- u.c.up }
func (u upOnly) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric)
	go func() { u.c.Collect(all); close(all) }()
	for m := range all {
		if m.Desc() == u.c.up {
			ch <- m
		}
	}
}

// TestCollectorDeviceErrors: one GPU that cannot be identified and one
// reading that fails count as scrape errors; everything else is exported.
func TestCollectorDeviceErrors(t *testing.T) {
	partial := h100(2, "GPU-cccc", 0.9)
	partial.PowerWatts = nil
	lib := &fakeLibrary{
		devices: []Device{h100(0, "GPU-aaaa", 0.1), {}, partial},
		deviceErrs: map[int]error{
			1: errors.New("GPU 1: nvmlDeviceGetUUID: ERROR_GPU_IS_LOST"),
			2: errors.New("GPU 2 (GPU-cccc): nvmlDeviceGetPowerUsage: ERROR_UNKNOWN"),
		},
	}
	f := newFixture(t, lib, nil, 0)
	for scrape := 1; scrape <= 2; scrape++ {
		f.compare(t, headers+`
prescaler_agent_gpu_power_watts{container="",gpu="0",model="NVIDIA H100 80GB HBM3",namespace="",node="gpu-node-1",pod="",uuid="GPU-aaaa"} 350.5
prescaler_agent_gpu_utilization_ratio{container="",gpu="0",model="NVIDIA H100 80GB HBM3",namespace="",node="gpu-node-1",pod="",uuid="GPU-aaaa"} 0.1
prescaler_agent_gpu_utilization_ratio{container="",gpu="2",model="NVIDIA H100 80GB HBM3",namespace="",node="gpu-node-1",pod="",uuid="GPU-cccc"} 0.9
`+statusLines(1, 2*scrape, 0), "prescaler_agent_gpu_power_watts", "prescaler_agent_gpu_utilization_ratio",
			"prescaler_agent_nvml_up", "prescaler_agent_scrape_errors_total")
	}
	if n := f.logs.Count("reading GPUs failed"); n != 1 {
		t.Errorf("failure logged %d times over two scrapes, want once:\n%s", n, f.logs)
	}

	lib.deviceErrs = nil
	lib.devices[1] = h100(1, "GPU-bbbb", 0)
	if n := testutil.CollectAndCount(f.c, "prescaler_agent_gpu_utilization_ratio"); n != 3 {
		t.Errorf("%d GPUs after recovery, want 3", n)
	}
	if !strings.Contains(f.logs.String(), `msg="reading GPUs works again"`) {
		t.Errorf("recovery not logged:\n%s", f.logs)
	}
}

func TestCollectorDeviceCountFails(t *testing.T) {
	lib := &fakeLibrary{countErr: errors.New("nvmlDeviceGetCount: ERROR_UNKNOWN")}
	f := newFixture(t, lib, nil, 0)
	f.compare(t, headers+statusLines(0, 1, 0))
}

// TestCollectorHungDriver: a read that does not return ends the scrape at the
// timeout, and no second read starts until it returns.
func TestCollectorHungDriver(t *testing.T) {
	lib := &fakeLibrary{devices: []Device{h100(0, "GPU-aaaa", 0.3)}, hang: make(chan struct{})}
	f := newFixture(t, lib, nil, 20*time.Millisecond)
	want := func(up, errs int) string { return headers + statusLines(up, errs, 0) }
	names := []string{"prescaler_agent_nvml_up", "prescaler_agent_scrape_errors_total"}
	f.compare(t, want(0, 1), names...) // timed out
	f.compare(t, want(0, 2), names...) // still running: not started again
	if inits, _ := lib.counts(); inits != 1 {
		t.Errorf("Init called %d times, want 1", inits)
	}
	if err := f.c.Close(); err == nil {
		t.Error("Close during a hung read: want an error")
	}
	if _, shutdowns := lib.counts(); shutdowns != 0 {
		t.Errorf("Shutdown called %d times during a hung read", shutdowns)
	}
	close(lib.hang)
	if !strings.Contains(f.logs.String(), "did not return within 20ms") {
		t.Errorf("timeout not logged:\n%s", f.logs)
	}
}

func TestCollectorClose(t *testing.T) {
	lib := &fakeLibrary{devices: []Device{h100(0, "GPU-aaaa", 0.3)}}
	f := newFixture(t, lib, nil, 0)
	f.c.Start(context.Background())
	for range 2 {
		if err := f.c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, shutdowns := lib.counts(); shutdowns != 1 {
		t.Errorf("Shutdown called %d times, want 1", shutdowns)
	}
	if n := testutil.CollectAndCount(f.c, "prescaler_agent_gpu_utilization_ratio"); n != 0 {
		t.Errorf("%d GPU series after Close", n)
	}
}

func TestCollectorPodResourcesFail(t *testing.T) {
	lib := &fakeLibrary{devices: []Device{h100(0, "GPU-aaaa", 0.3)}}
	allocs := fakeAllocations{err: errors.New("kubelet pod-resources List: rpc error: code = Unavailable")}
	f := newFixture(t, lib, allocs, 0)
	for range 2 {
		f.compare(t, headers+`
prescaler_agent_gpu_utilization_ratio{container="",gpu="0",model="NVIDIA H100 80GB HBM3",namespace="",node="gpu-node-1",pod="",uuid="GPU-aaaa"} 0.3
`, "prescaler_agent_gpu_utilization_ratio")
	}
	if got := testutil.ToFloat64(f.c.scrapeErrors.WithLabelValues(sourcePodResources)); got != 2 {
		t.Errorf("pod_resources errors %v, want 2", got)
	}
	if n := f.logs.Count("listing pod resources from the kubelet failed"); n != 1 {
		t.Errorf("failure logged %d times, want once:\n%s", n, f.logs)
	}
}

// TestCollectorLint runs promlint (promtool check metrics) over a full
// exposition and checks Describe against Collect with a pedantic registry.
func TestCollectorLint(t *testing.T) {
	lib := &fakeLibrary{devices: []Device{h100(0, "GPU-aaaa", 0.3), h100(1, "GPU-bbbb", 0.6)}}
	f := newFixture(t, lib, fakeAllocations{err: errors.New("down")}, 0)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(f.c)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(families) != 9 {
		t.Errorf("%d metric families, want 9", len(families))
	}
	problems, err := promlint.NewWithMetricFamilies(families).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func TestNewCollectorValidates(t *testing.T) {
	if _, err := NewCollector(CollectorOptions{}); err == nil {
		t.Error("no Library: want an error")
	}
	if _, err := NewCollector(CollectorOptions{Library: &fakeLibrary{}, Timeout: -time.Second}); err == nil {
		t.Error("negative Timeout: want an error")
	}
}

func TestHolder(t *testing.T) {
	a := Owner{"llm", "a", "server"}
	b := Owner{"llm", "b", "server"}
	gpu := Device{Index: 1, UUID: "GPU-1111"}
	mig := Device{Index: 2, UUID: "GPU-2222", MIGDeviceUUIDs: []string{"MIG-aaaa", "MIG-bbbb"}}
	for _, tc := range []struct {
		name   string
		allocs []Allocation
		dev    Device
		want   Owner
	}{
		{"whole GPU", []Allocation{{"nvidia.com/gpu", "GPU-1111", a}}, gpu, a},
		{"another GPU", []Allocation{{"nvidia.com/gpu", "GPU-9999", a}}, gpu, Owner{}},
		{"nothing allocated", nil, gpu, Owner{}},
		{"time-sliced, one container", []Allocation{{"nvidia.com/gpu", "GPU-1111::0", a}, {"nvidia.com/gpu", "GPU-1111::3", a}}, gpu, a},
		{"time-sliced, two pods", []Allocation{{"nvidia.com/gpu", "GPU-1111::0", a}, {"nvidia.com/gpu", "GPU-1111::1", b}}, gpu, Owner{}},
		{"two containers of a pod", []Allocation{{"nvidia.com/gpu", "GPU-1111::0", a}, {"nvidia.com/gpu", "GPU-1111::1", Owner{"llm", "a", "sidecar"}}}, gpu, Owner{}},
		{"MIG, one pod", []Allocation{{"nvidia.com/mig-3g.40gb", "MIG-aaaa", a}, {"nvidia.com/mig-3g.40gb", "MIG-bbbb", a}}, mig, a},
		{"MIG, one of two slices used", []Allocation{{"nvidia.com/mig-3g.40gb", "MIG-bbbb", b}}, mig, b},
		{"MIG, two pods", []Allocation{{"nvidia.com/mig-3g.40gb", "MIG-aaaa", a}, {"nvidia.com/mig-3g.40gb", "MIG-bbbb", b}}, mig, Owner{}},
		{"index strategy", []Allocation{{"nvidia.com/gpu", "1", a}}, gpu, a},
		{"index strategy, MIG", []Allocation{{"nvidia.com/mig-1g.10gb", "2:0", b}}, mig, b},
		{"index of another plugin", []Allocation{{"example.com/fpga", "1", a}}, gpu, Owner{}},
		{"renamed resource", []Allocation{{"example.com/h100", "GPU-1111", a}}, gpu, a},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := indexAllocations(tc.allocs).holder(tc.dev); got != tc.want {
				t.Errorf("holder = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestCollectorNoCgo: a binary built without cgo never retries Init.
func TestCollectorNoCgo(t *testing.T) {
	lib := &fakeLibrary{initErr: ErrNoCgo}
	f := newFixture(t, lib, nil, 0)
	f.c.Start(context.Background())
	f.clock.Advance(time.Hour)
	f.compare(t, headers+statusLines(0, 0, 0))
	if inits, _ := lib.counts(); inits != 1 {
		t.Errorf("Init called %d times, want 1", inits)
	}
	if got := f.logs.String(); f.logs.Count("\n") != 1 || strings.Contains(got, "retrying") || !strings.Contains(got, "built without cgo") {
		t.Errorf("logs: want one line without retrying, got\n%s", got)
	}
}
