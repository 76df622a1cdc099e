package daemon

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/prescaler/prescaler/config"
)

// targetStore holds the values of every per-target series: one slice of
// slots per target, and the target's label pairs once. A client_golang vector
// keeps, for every series, its own copies of the label pairs, its label
// values and a map entry: about 800 bytes a series, 40 MB for the ~50 series
// of each of 1,000 targets, held for the process's life. Here a series costs
// a float64 and its label pairs are built when a scrape writes them, sharing
// the target's.
type targetStore struct {
	mu      sync.Mutex
	slots   int // per target, over every family
	targets map[string]*targetValues
	now     func() time.Time
}

// targetValues are one target's series.
type targetValues struct {
	// labels are the target's pairs (horizontalpodautoscaler, namespace,
	// scaledObject, target), sorted by name as the exposition wants them;
	// never modified, so a scrape may hand them out.
	labels  []*dto.LabelPair
	values  []float64
	set     []bool
	created []int64 // Unix nanoseconds of each series' first value (a counter's created timestamp)
}

func newTargetStore() *targetStore {
	return &targetStore{targets: map[string]*targetValues{}, now: time.Now}
}

// family adds a per-target family with an own label taking one of values
// (own "" and no values: a family with the target's labels alone).
func (s *targetStore) family(kind prometheus.ValueType, name, help, own string, values ...string) *targetFamily {
	labels := slices.Clone(targetLabelNames)
	if own == "" {
		values = []string{""}
	} else {
		labels = append(labels, own)
	}
	f := &targetFamily{store: s, kind: kind, first: s.slots, values: values, own: own,
		desc: prometheus.NewDesc(prometheus.BuildFQName("prescaler", "", name), help, labels, nil)}
	for _, v := range values {
		f.ownPairs = append(f.ownPairs, &dto.LabelPair{Name: &f.own, Value: &v})
	}
	s.slots += len(values)
	return f
}

// lock returns the values of target, whose series name obj, with the store
// locked until unlock. A target seen for the first time gets its labels.
func (s *targetStore) lock(target string, obj config.ObjectRef) *targetValues {
	s.mu.Lock()
	t := s.targets[target]
	if t == nil {
		t = &targetValues{labels: labelPairs(targetLabels(target, obj)),
			values: make([]float64, s.slots), set: make([]bool, s.slots), created: make([]int64, s.slots)}
		s.targets[target] = t
	}
	return t
}

func (s *targetStore) unlock() { s.mu.Unlock() }

// forget removes every series of target (the object it names changes with
// its config: the next record starts them again under the new labels).
func (s *targetStore) forget(target string) {
	s.mu.Lock()
	delete(s.targets, target)
	s.mu.Unlock()
}

// clear removes target's series of the families fs.
func (s *targetStore) clear(target string, fs ...*targetFamily) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.targets[target]
	if t == nil {
		return
	}
	for _, f := range fs {
		for i := range f.values {
			t.set[f.first+i] = false
			t.values[f.first+i] = 0
		}
	}
}

// labelPairs are l's pairs sorted by name.
func labelPairs(l prometheus.Labels) []*dto.LabelPair {
	out := make([]*dto.LabelPair, 0, len(l))
	for name, value := range l {
		out = append(out, &dto.LabelPair{Name: &name, Value: &value})
	}
	slices.SortFunc(out, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out
}

// targetFamily is one per-target metric family: a prometheus.Collector of
// its series in every target of the store.
type targetFamily struct {
	store    *targetStore
	desc     *prometheus.Desc
	kind     prometheus.ValueType // GaugeValue or CounterValue
	first    int                  // its first slot in a target's values
	own      string               // its own label's name, "" without one
	values   []string             // its own label's values ([""] without one)
	ownPairs []*dto.LabelPair
}

// slot is the index of the series of the own label value v; it panics on a
// value the family was not declared with, as a vector does on a wrong
// label count.
func (f *targetFamily) slot(v string) int {
	i := slices.Index(f.values, v)
	if i < 0 {
		panic(fmt.Sprintf("%s: %q is not a value of label %q", f.desc, v, f.own))
	}
	return f.first + i
}

// set sets the series of t (locked by the store) and own label value v.
func (f *targetFamily) set(t *targetValues, v string, value float64) {
	k := f.slot(v)
	f.start(t, k)
	t.values[k] = value
}

// add adds to a counter series of t (locked by the store); it panics on a
// negative value, as a counter does.
func (f *targetFamily) add(t *targetValues, v string, value float64) {
	if value < 0 {
		panic(fmt.Sprintf("%s: counter cannot decrease (%g)", f.desc, value))
	}
	k := f.slot(v)
	f.start(t, k)
	t.values[k] += value
}

func (f *targetFamily) start(t *targetValues, k int) {
	if !t.set[k] {
		t.set[k], t.created[k] = true, f.store.now().UnixNano()
	}
}

// Describe implements prometheus.Collector.
func (f *targetFamily) Describe(ch chan<- *prometheus.Desc) { ch <- f.desc }

// Collect implements prometheus.Collector: the family's series of every
// target, with the values they have now.
func (f *targetFamily) Collect(ch chan<- prometheus.Metric) {
	f.store.mu.Lock()
	defer f.store.mu.Unlock()
	for _, t := range f.store.targets {
		for i := range f.values {
			if k := f.first + i; t.set[k] {
				ch <- f.metric(t, i)
			}
		}
	}
}

// metric is the series of t and the family's i-th own value, as it is now.
func (f *targetFamily) metric(t *targetValues, i int) prometheus.Metric {
	labels := t.labels
	if f.own != "" {
		labels = make([]*dto.LabelPair, 0, len(t.labels)+1)
		labels = append(labels, t.labels...)
		at, _ := slices.BinarySearchFunc(labels, f.own, func(p *dto.LabelPair, name string) int {
			return strings.Compare(p.GetName(), name)
		})
		labels = slices.Insert(labels, at, f.ownPairs[i])
	}
	k := f.first + i
	return &series{desc: f.desc, kind: f.kind, labels: labels, value: t.values[k], created: t.created[k]}
}

// WithLabelValues returns a collector of the one series with these label
// values (targetLabelNames' values, then the own label's): its value, or
// 0 where it has none, as a vector's WithLabelValues would create it. Tests
// read values through it with testutil.ToFloat64.
func (f *targetFamily) WithLabelValues(lvs ...string) prometheus.Collector {
	own := ""
	if f.own != "" {
		own = lvs[len(lvs)-1]
	}
	m := &series{desc: f.desc, kind: f.kind, labels: labelPairsOf(f, lvs)}
	f.store.mu.Lock()
	defer f.store.mu.Unlock()
	if t := f.store.targets[lvs[0]]; t != nil {
		if k := f.slot(own); t.set[k] {
			m.value = t.values[k]
		}
	}
	return m
}

// labelPairsOf pairs f's label names with the values lvs.
func labelPairsOf(f *targetFamily, lvs []string) []*dto.LabelPair {
	l := prometheus.Labels{}
	for i, name := range targetLabelNames {
		l[name] = lvs[i]
	}
	if f.own != "" {
		l[f.own] = lvs[len(lvs)-1]
	}
	return labelPairs(l)
}

// series is one series as a scrape writes it. Its labels are shared with
// the store and not to be modified.
type series struct {
	desc    *prometheus.Desc
	kind    prometheus.ValueType
	labels  []*dto.LabelPair
	value   float64
	created int64
}

func (s *series) Desc() *prometheus.Desc { return s.desc }

func (s *series) Write(out *dto.Metric) error {
	out.Label = s.labels
	v := s.value
	if s.kind == prometheus.CounterValue {
		out.Counter = &dto.Counter{Value: &v}
		if s.created != 0 {
			out.Counter.CreatedTimestamp = timestamppb.New(time.Unix(0, s.created))
		}
		return nil
	}
	out.Gauge = &dto.Gauge{Value: &v}
	return nil
}

// A series is also the collector WithLabelValues returns.
func (s *series) Describe(ch chan<- *prometheus.Desc) { ch <- s.desc }
func (s *series) Collect(ch chan<- prometheus.Metric) { ch <- s }
