package nvml

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Library is what the agent needs from NVML. The [Collector] calls it from
// one goroutine at a time.
type Library interface {
	// Init loads and initializes NVML and returns the driver version. It
	// may be called again after an error.
	Init() (driverVersion string, err error)
	// Shutdown releases NVML after a successful Init.
	Shutdown() error
	// DeviceCount is the number of GPUs NVML sees.
	DeviceCount() (int, error)
	// Device reads GPU index (0 ≤ index < DeviceCount). With an error, a
	// Device without UUID could not be identified and is skipped; a Device
	// with a UUID is exported, the error naming the readings that failed.
	Device(index int) (Device, error)
}

// Owner is the container a device is allocated to.
type Owner struct {
	Namespace, Pod, Container string
}

// Allocation is one device the kubelet has allocated to a container.
type Allocation struct {
	// Resource is the extended resource name, e.g. nvidia.com/gpu or
	// nvidia.com/mig-1g.10gb.
	Resource string
	// DeviceID is the device plugin's ID for the device: a GPU UUID
	// ("GPU-…"), a MIG device UUID ("MIG-…"), a time-sliced replica
	// ("GPU-…::3"), or with the plugin's index strategy an NVML index ("0",
	// or "0:1" for a MIG device).
	DeviceID string
	Owner
}

// AllocationLister says which containers hold which devices.
type AllocationLister interface {
	ListAllocations(ctx context.Context) ([]Allocation, error)
}

// Metric and label names.
const (
	metricPrefix = "prescaler_agent_"

	labelNode      = "node"
	labelGPU       = "gpu"
	labelUUID      = "uuid"
	labelModel     = "model"
	labelNamespace = "namespace"
	labelPod       = "pod"
	labelContainer = "container"
	labelSource    = "source"

	sourceNVML         = "nvml"
	sourcePodResources = "pod_resources"
)

// Defaults of [CollectorOptions].
const (
	DefaultTimeout           = 5 * time.Second
	DefaultInitRetryInterval = 30 * time.Second
)

// CollectorOptions configure a [Collector].
type CollectorOptions struct {
	// NodeName is the value of the node label on every series.
	NodeName string
	// Library reads the GPUs. Required.
	Library Library
	// Allocations attributes GPUs to containers; nil leaves the namespace,
	// pod and container labels empty.
	Allocations AllocationLister
	// Timeout bounds one scrape (DefaultTimeout when zero). Keep it below
	// Prometheus' scrape_timeout.
	Timeout time.Duration
	// InitRetryInterval is how often a scrape retries NVML's Init after it
	// failed (DefaultInitRetryInterval when zero).
	InitRetryInterval time.Duration
	// Logger receives one line per change of state (NVML down or up, reads
	// failing or recovered), never one per scrape. Nil discards.
	Logger *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Collector is a prometheus.Collector that reads every GPU on each scrape.
//
// It reads on scrape, as node_exporter does, rather than caching a
// background refresh: NVML's utilization is already an average over the
// driver's sample period and the handful of values read per GPU are cheap
// driver queries, so every scrape gets current values, nothing is read when
// nobody scrapes, and there is no second clock whose phase against the
// scrape interval aliases utilization. What a cache would buy — a scrape that
// cannot block on a hung driver — comes from the timeout instead: the NVML
// read runs on its own goroutine, the scrape stops waiting after Timeout and
// exports nvml_up 0, and while that read has not returned no other is
// started, so a GPU that fell off the bus costs one stuck goroutine, not one
// per scrape.
type Collector struct {
	o CollectorOptions

	up, scrapeDuration                      *prometheus.Desc
	utilization, memoryBandwidthUtilization *prometheus.Desc
	memoryUsed, memoryTotal                 *prometheus.Desc
	power, powerLimit                       *prometheus.Desc
	scrapeErrors                            *prometheus.CounterVec

	mu     sync.Mutex // guards the fields below
	busy   bool       // an NVML read is running; it owns worker
	closed bool
	worker workerState
	// Conditions logged when they change.
	readProblem, listProblem problem
}

// workerState belongs to whichever goroutine runs the NVML read; the busy
// flag hands it over.
type workerState struct {
	initialized bool
	initTried   bool
	initNever   bool // Init cannot ever succeed in this binary
	lastInit    time.Time
	initProblem problem
}

// NewCollector returns a Collector; it does not touch NVML before [Collector.Start]
// or the first scrape.
func NewCollector(o CollectorOptions) (*Collector, error) {
	if o.Library == nil {
		return nil, errors.New("nvml collector: Library is required")
	}
	if o.Timeout < 0 || o.InitRetryInterval < 0 {
		return nil, fmt.Errorf("nvml collector: negative Timeout %s or InitRetryInterval %s", o.Timeout, o.InitRetryInterval)
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.InitRetryInterval == 0 {
		o.InitRetryInterval = DefaultInitRetryInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	node := prometheus.Labels{labelNode: o.NodeName}
	gpu := []string{labelGPU, labelUUID, labelModel, labelNamespace, labelPod, labelContainer}
	desc := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc(metricPrefix+name, help, labels, node)
	}
	c := &Collector{
		o: o,
		up: desc("nvml_up",
			"1 if NVML is initialized and the GPUs could be listed in this scrape, 0 if not (no driver, built without cgo, NVML failing or hung).", nil),
		scrapeDuration: desc("scrape_duration_seconds",
			"Time this scrape spent reading NVML and the kubelet pod-resources API.", nil),
		utilization: desc("gpu_utilization_ratio",
			"Fraction of the last NVML sample period (1/6 s to 1 s) during which one or more kernels ran on the GPU.", gpu),
		memoryBandwidthUtilization: desc("gpu_memory_bandwidth_utilization_ratio",
			"Fraction of the last NVML sample period during which GPU device memory was read or written.", gpu),
		memoryUsed: desc("gpu_memory_used_bytes",
			"GPU device memory reserved or allocated, in bytes.", gpu),
		memoryTotal: desc("gpu_memory_total_bytes",
			"GPU device memory in total, in bytes.", gpu),
		power: desc("gpu_power_watts",
			"GPU board power draw, in watts.", gpu),
		powerLimit: desc("gpu_power_limit_watts",
			"GPU board power limit the driver enforces, in watts.", gpu),
		scrapeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        metricPrefix + "scrape_errors_total",
			Help:        "Errors that left a scrape incomplete, by source: nvml (a GPU or one of its readings, the device list, a timeout) or pod_resources (the kubelet pod-resources List).",
			ConstLabels: node,
		}, []string{labelSource}),
	}
	// Both sources are exported from the start, at 0.
	c.scrapeErrors.WithLabelValues(sourceNVML)
	c.scrapeErrors.WithLabelValues(sourcePodResources)
	return c, nil
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.up, c.scrapeDuration, c.utilization, c.memoryBandwidthUtilization,
		c.memoryUsed, c.memoryTotal, c.power, c.powerLimit,
	} {
		ch <- d
	}
	c.scrapeErrors.Describe(ch)
}

// Collect implements prometheus.Collector: it reads the GPUs and, at the same
// time, the kubelet's allocations, both within Timeout.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	start := c.o.Now()
	ctx, cancel := context.WithTimeout(context.Background(), c.o.Timeout)
	defer cancel()

	var allocs []Allocation
	var listErr error
	listed := make(chan struct{})
	if c.o.Allocations != nil {
		go func() {
			defer close(listed)
			allocs, listErr = c.o.Allocations.ListAllocations(ctx)
		}()
	} else {
		close(listed)
	}
	r := c.sample(ctx)
	<-listed
	if listErr != nil {
		allocs = nil
	}
	c.observe(r, listErr)

	owners := indexAllocations(allocs)
	for _, d := range r.devices {
		c.collectDevice(ch, d, owners.holder(d))
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, boolValue(r.up))
	c.scrapeErrors.Collect(ch)
	ch <- prometheus.MustNewConstMetric(c.scrapeDuration, prometheus.GaugeValue, c.o.Now().Sub(start).Seconds())
}

func (c *Collector) collectDevice(ch chan<- prometheus.Metric, d Device, o Owner) {
	labels := []string{strconv.Itoa(d.Index), d.UUID, d.Model, o.Namespace, o.Pod, o.Container}
	for _, g := range []struct {
		desc  *prometheus.Desc
		value *float64
	}{
		{c.utilization, d.Utilization},
		{c.memoryBandwidthUtilization, d.MemoryBandwidthUtilization},
		{c.memoryUsed, d.MemoryUsedBytes},
		{c.memoryTotal, d.MemoryTotalBytes},
		{c.power, d.PowerWatts},
		{c.powerLimit, d.PowerLimitWatts},
	} {
		if g.value != nil {
			ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, *g.value, labels...)
		}
	}
}

// Start reads NVML once, so that the log says at start whether NVML is up
// rather than at the first scrape.
func (c *Collector) Start(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	c.observe(c.sample(ctx), nil)
}

// Close shuts NVML down. It skips nvmlShutdown while an NVML read is still
// running (a hung driver), since the library is not safe for concurrent use.
func (c *Collector) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if c.busy {
		return errors.New("an NVML read is still running: NVML not shut down")
	}
	if !c.worker.initialized {
		return nil
	}
	c.worker.initialized = false
	return c.o.Library.Shutdown()
}

// reading is the outcome of one NVML read.
type reading struct {
	up      bool
	devices []Device
	errs    []error // each counts as one scrape error
}

var errStillRunning = errors.New("the previous NVML read has not returned (GPU lost or driver hung?)")

// sample runs one NVML read on its own goroutine and waits for it until ctx
// is done; at most one read runs at a time.
func (c *Collector) sample(ctx context.Context) reading {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return reading{}
	}
	if c.busy {
		c.mu.Unlock()
		return reading{errs: []error{errStillRunning}}
	}
	c.busy = true
	c.mu.Unlock()

	done := make(chan reading, 1)
	go func() {
		r := c.read(&c.worker)
		c.mu.Lock()
		c.busy = false
		c.mu.Unlock()
		done <- r
	}()
	select {
	case r := <-done:
		return r
	case <-ctx.Done():
		return reading{errs: []error{fmt.Errorf("NVML read did not return within %s: %w", c.o.Timeout, ctx.Err())}}
	}
}

// read initializes NVML if needed (at most once per InitRetryInterval) and
// reads every GPU. It runs on the goroutine that owns w.
func (c *Collector) read(w *workerState) reading {
	lib := c.o.Library
	justInitialized, driver := false, ""
	if !w.initialized {
		now := c.o.Now()
		if w.initNever || w.initTried && now.Sub(w.lastInit) < c.o.InitRetryInterval {
			return reading{}
		}
		w.initTried, w.lastInit = true, now
		var err error
		if driver, err = lib.Init(); err != nil {
			// NVML being absent is a state, reported by nvml_up, not a
			// scrape error: a node without a driver would count forever.
			msg := "NVML unavailable: no GPU metrics, prescaler_agent_nvml_up is 0; retrying every " + c.o.InitRetryInterval.String()
			if errors.Is(err, ErrNoCgo) {
				w.initNever = true
				msg = "NVML unavailable: no GPU metrics, prescaler_agent_nvml_up is 0"
			}
			w.initProblem.update(c.o.Logger, err, msg, "")
			return reading{}
		}
		w.initialized, justInitialized = true, true
		w.initProblem.reset()
	}
	n, err := lib.DeviceCount()
	if err != nil {
		return reading{errs: []error{err}}
	}
	if justInitialized {
		c.o.Logger.Info("NVML initialized", "driver_version", driver, "gpus", n)
	}
	r := reading{up: true, devices: make([]Device, 0, n)}
	for i := range n {
		d, err := lib.Device(i)
		if err != nil {
			r.errs = append(r.errs, err)
		}
		if d.UUID != "" {
			r.devices = append(r.devices, d)
		}
	}
	return r
}

// observe counts a scrape's errors and logs the conditions that changed.
func (c *Collector) observe(r reading, listErr error) {
	if n := len(r.errs); n > 0 {
		c.scrapeErrors.WithLabelValues(sourceNVML).Add(float64(n))
	}
	if listErr != nil {
		c.scrapeErrors.WithLabelValues(sourcePodResources).Inc()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readProblem.update(c.o.Logger, errors.Join(r.errs...),
		"reading GPUs failed; GPUs that could be read are still exported", "reading GPUs works again")
	c.listProblem.update(c.o.Logger, listErr,
		"listing pod resources from the kubelet failed: GPU series carry no pod labels", "listing pod resources works again")
}

// problem logs a failing condition when it starts or its message changes,
// and once when it clears: one line per change, not one per scrape.
type problem struct{ msg string }

func (p *problem) update(logger *slog.Logger, err error, failing, cleared string) {
	switch {
	case err == nil && p.msg != "":
		p.msg = ""
		if cleared != "" {
			logger.Info(cleared)
		}
	case err != nil && err.Error() != p.msg:
		p.msg = err.Error()
		logger.Warn(failing, "err", p.msg)
	}
}

func (p *problem) reset() { p.msg = "" }

// ownerIndex finds the container that holds a GPU.
type ownerIndex struct {
	byID    map[string][]Owner // GPU or MIG device UUID
	byIndex map[int][]Owner    // NVML index (the device plugin's index strategy)
}

// indexAllocations indexes the kubelet's allocations by device. Time-sliced
// replicas ("GPU-…::3") count as their GPU. Index-strategy IDs ("0", "0:1")
// are only taken from nvidia.com/ resources, since other device plugins may
// use small numbers too; UUIDs are unique and taken from any resource.
func indexAllocations(allocs []Allocation) ownerIndex {
	x := ownerIndex{byID: map[string][]Owner{}, byIndex: map[int][]Owner{}}
	for _, a := range allocs {
		id, _, _ := strings.Cut(a.DeviceID, "::")
		if strings.HasPrefix(a.Resource, "nvidia.com/") {
			gpu, _, _ := strings.Cut(id, ":")
			if i, err := strconv.Atoi(gpu); err == nil && i >= 0 {
				x.byIndex[i] = append(x.byIndex[i], a.Owner)
				continue
			}
		}
		x.byID[id] = append(x.byID[id], a.Owner)
	}
	return x
}

// holder is the container that holds d, whole or through its MIG devices,
// or the zero Owner when none or several do: a GPU shared between
// containers (time-slicing, MIG) has no single owner its utilization could
// be charged to.
func (x ownerIndex) holder(d Device) Owner {
	var found Owner
	several := false
	add := func(owners []Owner) {
		for _, o := range owners {
			switch {
			case found == (Owner{}):
				found = o
			case o != found:
				several = true
			}
		}
	}
	add(x.byID[d.UUID])
	add(x.byIndex[d.Index])
	for _, mig := range d.MIGDeviceUUIDs {
		add(x.byID[mig])
	}
	if several {
		return Owner{}
	}
	return found
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
