package prometheus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// fakeGroups answers every namespace's demand, ns-i serving i+1 per
// minute, and counts the requests: singles by query, groups. Its group
// answers carry the key labels of demandQuery's shape, namespace and
// service, as sum by (namespace, service) would.
type fakeGroups struct {
	mu      sync.Mutex
	singles map[string]int
	groups  []string
	fail    error
}

func (f *fakeGroups) value(ns string) float64 {
	var i int
	_, _ = fmt.Sscanf(ns, "ns-%d", &i)
	return float64(i + 1)
}

var nsMatcher = regexp.MustCompile(`namespace=~?"([^"]*)"`)

func (f *fakeGroups) single(query string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.singles == nil {
		f.singles = map[string]int{}
	}
	f.singles[query]++
	return nsMatcher.FindStringSubmatch(query)[1]
}

func (f *fakeGroups) Range(_ context.Context, query string, start, end time.Time, step time.Duration) (Series, error) {
	v := f.value(f.single(query))
	s := nanSeries(start, step, int(end.Sub(start)/step)+1)
	for i := range s.Values {
		s.Values[i] = v
	}
	return s, nil
}

func (f *fakeGroups) Latest(_ context.Context, query string, at time.Time, _ time.Duration) (Sample, error) {
	return Sample{Time: at, Value: f.value(f.single(query))}, nil
}

// namespaces are the values of the group query's namespace=~"a|b" matcher.
func (f *fakeGroups) namespaces(query string) ([]string, error) {
	f.mu.Lock()
	f.groups = append(f.groups, query)
	fail := f.fail
	f.mu.Unlock()
	if fail != nil {
		return nil, fail
	}
	m := regexp.MustCompile(`namespace=~"([^"]*)"`).FindStringSubmatch(query)
	return strings.Split(strings.ReplaceAll(m[1], `\\`, ``), "|"), nil
}

func (f *fakeGroups) RangeGroup(_ context.Context, query string, start, end time.Time, step time.Duration, _ int) ([]LabeledSeries, error) {
	nss, err := f.namespaces(query)
	var out []LabeledSeries
	for _, ns := range nss {
		s := nanSeries(start, step, int(end.Sub(start)/step)+1)
		for i := range s.Values {
			s.Values[i] = f.value(ns)
		}
		out = append(out, LabeledSeries{Labels: model.Metric{"namespace": model.LabelValue(ns), "service": "llm"}, Series: s})
	}
	return out, err
}

func (f *fakeGroups) LatestGroup(_ context.Context, query string, at time.Time, _ time.Duration, _ int) ([]LabeledSample, error) {
	nss, err := f.namespaces(query)
	var out []LabeledSample
	for _, ns := range nss {
		out = append(out, LabeledSample{Labels: model.Metric{"namespace": model.LabelValue(ns), "service": "llm"}, Sample: Sample{Time: at, Value: f.value(ns)}})
	}
	return out, err
}

func (f *fakeGroups) URL() string { return "http://prometheus.test" }

func demandQuery(i int) string {
	return fmt.Sprintf(`sum(rate(requests_total{namespace="ns-%d",service="llm"}[1m])) * 60`, i)
}

// A loop's queries of one shape are one request once the group knows
// them: the first loop meets each query for the first time (one group
// request for the first, the others alone), the next loops read them all
// in one request, and every query gets the answer it would have alone.
// Each loop is a minute: a new demand step and a new instant.
func TestBatcherReadsAShapeInOneRequest(t *testing.T) {
	src := &fakeGroups{}
	now := time.Unix(1_800_000_000, 0)
	b := NewBatcher(src, BatcherOptions{Now: func() time.Time { return now }})
	ctx := context.Background()
	const targets = 20
	for loop := range 3 {
		at := now.Truncate(time.Minute)
		src.groups, src.singles = nil, nil
		for i := range targets {
			s, err := b.Range(ctx, demandQuery(i), at.Add(-2*time.Minute), at, time.Minute)
			if err != nil || s.Len() != 3 || s.Values[2] != float64(i+1) {
				t.Fatalf("loop %d, target %d: %v, %v", loop, i, s, err)
			}
			l, err := b.Latest(ctx, strings.Replace(demandQuery(i), "requests_total", "queue_depth", 1), now, time.Minute)
			if err != nil || l.Value != float64(i+1) {
				t.Fatalf("loop %d, target %d latest: %v, %v", loop, i, l, err)
			}
		}
		wantGroups, wantSingles := 2, 0
		if loop == 0 {
			wantSingles = 2 * (targets - 1)
		}
		if len(src.groups) != wantGroups || len(src.singles) != wantSingles {
			t.Errorf("loop %d: %d group requests and %d single ones, want %d and %d", loop, len(src.groups), len(src.singles), wantGroups, wantSingles)
		}
		now = now.Add(time.Minute)
	}
}

// A query without a shape, and a window too long for a group, are read on
// their own; a group whose request failed reads one by one for a while.
func TestBatcherFallsBackToSingleQueries(t *testing.T) {
	src := &fakeGroups{}
	now := time.Unix(1_800_000_000, 0)
	b := NewBatcher(src, BatcherOptions{Now: func() time.Time { return now }, Forget: time.Minute})
	ctx := context.Background()
	if _, err := b.Latest(ctx, `sum(rate(requests_total{namespace=~"ns-1"}[1m]))`, now, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Range(ctx, demandQuery(1), now.Add(-14*24*time.Hour), now, time.Minute); err != nil {
		t.Fatal(err)
	}
	if len(src.groups) != 0 || len(src.singles) != 2 {
		t.Errorf("%d groups, %d singles: want the unshaped query and the history read alone", len(src.groups), len(src.singles))
	}
	src.fail = errors.New("query processing would load too many samples")
	for i := range 3 {
		if v, err := b.Latest(ctx, demandQuery(i), now, time.Minute); err != nil || v.Value != float64(i+1) {
			t.Fatalf("target %d after a failed group: %v, %v", i, v, err)
		}
	}
	if len(src.groups) != 1 {
		t.Errorf("%d group requests after one failed, want 1 until Forget has passed", len(src.groups))
	}
	src.fail = nil
	now = now.Add(2 * time.Minute)
	if _, err := b.Latest(ctx, demandQuery(0), now, time.Minute); err != nil || len(src.groups) != 2 {
		t.Errorf("after Forget: %d group requests (err %v), want the group tried again", len(src.groups), err)
	}
}

// A member with no series in the group's answer gets Range's no-data
// answer: the NaN series and ErrNoData.
func TestBatcherMemberWithoutData(t *testing.T) {
	now := time.Unix(1_800_000_000, 0).Truncate(time.Minute)
	src := &emptyMember{fakeGroups: &fakeGroups{}, missing: "ns-2"}
	b := NewBatcher(src, BatcherOptions{Now: func() time.Time { return now }})
	ctx := context.Background()
	for i := range 3 { // the group learns its members
		_, _ = b.Range(ctx, demandQuery(i), now.Add(-time.Minute), now, time.Minute)
	}
	now = now.Add(time.Minute)
	for i := range 3 {
		s, err := b.Range(ctx, demandQuery(i), now.Add(-time.Minute), now, time.Minute)
		if i == 2 {
			if !errors.Is(err, ErrNoData) || s.Len() != 2 || !math.IsNaN(s.Values[0]) {
				t.Errorf("member without data: %v, %v", s, err)
			}
			continue
		}
		if err != nil || s.Values[1] != float64(i+1) {
			t.Errorf("member %d: %v, %v", i, s, err)
		}
	}
}

type emptyMember struct {
	*fakeGroups
	missing string
}

func (e *emptyMember) RangeGroup(ctx context.Context, query string, start, end time.Time, step time.Duration, n int) ([]LabeledSeries, error) {
	all, err := e.fakeGroups.RangeGroup(ctx, query, start, end, step, n)
	var out []LabeledSeries
	for _, s := range all {
		if string(s.Labels["namespace"]) != e.missing {
			out = append(out, s)
		}
	}
	return out, err
}

// The start-up backfill (a history, read alone) makes the queries known to
// their group, so the first short window after it is one request.
func TestBatcherHistoryReadsJoinTheGroup(t *testing.T) {
	src := &fakeGroups{}
	now := time.Unix(1_800_000_000, 0).Truncate(time.Minute)
	b := NewBatcher(src, BatcherOptions{Now: func() time.Time { return now }})
	ctx := context.Background()
	for i := range 5 {
		if _, err := b.Range(ctx, demandQuery(i), now.Add(-14*24*time.Hour), now, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(time.Minute)
	for i := range 5 {
		if s, err := b.Range(ctx, demandQuery(i), now, now, time.Minute); err != nil || s.Values[0] != float64(i+1) {
			t.Fatalf("target %d: %v, %v", i, s, err)
		}
	}
	if len(src.groups) != 1 || len(src.singles) != 5 {
		t.Errorf("%d group requests and %d single ones, want 1 after the 5 history reads", len(src.groups), len(src.singles))
	}
}

// Targets a few steps behind the others ask for longer windows with the
// same end: they share the grouped request (it reads ShareSteps back), and
// each gets its own window. A window longer than ShareSteps is a call of
// its own.
func TestBatcherSharesWindowsOfDifferentStarts(t *testing.T) {
	src := &fakeGroups{}
	now := time.Unix(1_800_000_000, 0)
	b := NewBatcher(src, BatcherOptions{Now: func() time.Time { return now }, ShareSteps: 5})
	ctx := context.Background()
	at := now.Truncate(time.Minute)
	const targets = 10
	for i := range targets { // the group learns its members
		_, _ = b.Range(ctx, demandQuery(i), at.Add(-time.Minute), at, time.Minute)
	}
	now = now.Add(time.Minute)
	at = now.Truncate(time.Minute)
	src.groups, src.singles = nil, nil
	for i := range targets {
		steps := 1 + i%5 // 1 to 5 steps: all within ShareSteps
		start := at.Add(-time.Duration(steps-1) * time.Minute)
		s, err := b.Range(ctx, demandQuery(i), start, at, time.Minute)
		if err != nil || s.Len() != steps || !s.Start.Equal(start) || s.Values[steps-1] != float64(i+1) {
			t.Fatalf("target %d, %d steps: %v, %v", i, steps, s, err)
		}
	}
	if len(src.groups) != 1 || len(src.singles) != 0 {
		t.Errorf("%d group requests and %d single ones, want 1 and 0", len(src.groups), len(src.singles))
	}
	s, err := b.Range(ctx, demandQuery(0), at.Add(-7*time.Minute), at, time.Minute)
	if err != nil || s.Len() != 8 {
		t.Fatalf("8 steps: %v, %v", s, err)
	}
	if len(src.groups) != 2 {
		t.Errorf("a window longer than ShareSteps sent %d group requests in all, want 2", len(src.groups))
	}
}
