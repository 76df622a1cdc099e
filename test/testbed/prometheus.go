package testbed

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Sample is one point of a series.
type Sample struct {
	Time  time.Time
	Value float64
}

// Series is a time series to backfill into Prometheus.
type Series struct {
	// Name is the metric name.
	Name string
	// Labels are the series' labels (without __name__).
	Labels map[string]string
	// Samples in any order; they are written sorted by time.
	Samples []Sample
}

// SeriesFunc returns a series sampled every step over [start, end) from f;
// samples where f returns NaN are left out (a gap).
func SeriesFunc(name string, labels map[string]string, start, end time.Time, step time.Duration, f func(time.Time) float64) Series {
	s := Series{Name: name, Labels: labels}
	if step <= 0 {
		return s
	}
	for t := start; t.Before(end); t = t.Add(step) {
		if v := f(t); !math.IsNaN(v) {
			s.Samples = append(s.Samples, Sample{Time: t, Value: v})
		}
	}
	return s
}

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

func (s Series) validate() error {
	if !metricNameRE.MatchString(s.Name) {
		return fmt.Errorf("invalid metric name %q", s.Name)
	}
	for k := range s.Labels {
		if !labelNameRE.MatchString(k) || strings.HasPrefix(k, "__") {
			return fmt.Errorf("series %s: invalid label name %q", s.Name, k)
		}
	}
	return nil
}

// WriteOpenMetrics writes series in the OpenMetrics text format that
// `promtool tsdb create-blocks-from openmetrics` reads: samples with
// timestamps in seconds, each metric family contiguous, ending in "# EOF".
// Series are grouped by name (input order kept otherwise) and each series'
// samples sorted by time.
func WriteOpenMetrics(w io.Writer, series []Series) error {
	for i, s := range series {
		if err := s.validate(); err != nil {
			return fmt.Errorf("series %d: %w", i, err)
		}
	}
	ordered := slices.Clone(series)
	slices.SortStableFunc(ordered, func(a, b Series) int { return strings.Compare(a.Name, b.Name) })
	bw := bufio.NewWriter(w)
	for _, s := range ordered {
		labels := formatLabels(s.Labels)
		samples := slices.Clone(s.Samples)
		slices.SortStableFunc(samples, func(a, b Sample) int { return a.Time.Compare(b.Time) })
		for _, p := range samples {
			ms := p.Time.UnixMilli()
			fmt.Fprintf(bw, "%s%s %s %d.%03d\n", s.Name, labels,
				strconv.FormatFloat(p.Value, 'g', -1, 64), ms/1000, ms%1000)
		}
	}
	if _, err := bw.WriteString("# EOF\n"); err != nil {
		return err
	}
	return bw.Flush()
}

func formatLabels(labels map[string]string) string {
	if len(labels) == 0 {
		return ""
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteByte('{')
	esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `%s="%s"`, k, esc.Replace(labels[k]))
	}
	b.WriteByte('}')
	return b.String()
}

// prometheusConfig renders prometheus.yml: Prometheus scrapes itself (job
// "prometheus") and ScrapeTargets (job "testbed").
func prometheusConfig(o PrometheusOptions, port int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  evaluation_interval: %s\n", promDuration(o.ScrapeInterval), promDuration(o.ScrapeInterval))
	fmt.Fprintf(&b, "scrape_configs:\n- job_name: prometheus\n  static_configs:\n  - targets: ['127.0.0.1:%d']\n", port)
	if len(o.ScrapeTargets) > 0 {
		b.WriteString("- job_name: testbed\n  static_configs:\n  - targets:\n")
		for _, t := range o.ScrapeTargets {
			fmt.Fprintf(&b, "    - %q\n", t)
		}
	}
	return b.String()
}

// promDuration formats d in Prometheus' duration syntax (whole milliseconds).
func promDuration(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// BackfillPrometheus writes series (and/or an OpenMetrics file) into
// Prometheus' TSDB as blocks. Prometheus loads blocks only at start-up, so a
// running Prometheus is stopped for the backfill and started again; queries
// fail meanwhile. Options.Prometheus.History is the way to backfill before
// the first start.
func (e *Env) BackfillPrometheus(ctx context.Context, series []Series, openMetricsFile string) error {
	if e.PrometheusURL == "" {
		return errors.New("testbed: Prometheus is disabled")
	}
	for i, s := range series {
		if err := s.validate(); err != nil {
			return fmt.Errorf("testbed: series %d: %w", i, err)
		}
	}
	e.promMu.Lock()
	defer e.promMu.Unlock()
	p := e.procs[Prometheus]
	wasRunning := p.running()
	p.stop(10 * time.Second)
	if err := e.backfillLocked(ctx, series, openMetricsFile); err != nil {
		return err
	}
	if !wasRunning {
		return nil
	}
	if err := p.start(); err != nil {
		return err
	}
	return p.waitReady(ctx, e.opts.StartTimeout)
}

// backfillLocked runs promtool on the series and the file while Prometheus is
// stopped. The caller holds promMu (or Prometheus has not started yet).
func (e *Env) backfillLocked(ctx context.Context, series []Series, openMetricsFile string) error {
	var files []string
	if len(series) > 0 {
		e.backfills++
		path := filepath.Join(e.Dir, "prometheus", fmt.Sprintf("backfill-%d.om.txt", e.backfills))
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		err = WriteOpenMetrics(f, series)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("testbed: writing %s: %w", path, err)
		}
		files = append(files, path)
	}
	if openMetricsFile != "" {
		files = append(files, openMetricsFile)
	}
	for _, f := range files {
		start := time.Now()
		// 24h blocks: a month of history is 30 blocks, not 360.
		cmd := exec.CommandContext(ctx, e.promTool, "tsdb", "create-blocks-from", "openmetrics",
			"--max-block-duration=24h", f, e.promDataDir)
		cmd.SysProcAttr = sysProcAttr()
		cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
		out, err := cmd.CombinedOutput()
		logPath := filepath.Join(e.Dir, "logs", "promtool.log")
		if lf, lerr := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); lerr == nil {
			fmt.Fprintf(lf, "=== promtool tsdb create-blocks-from openmetrics %s\n%s", f, out)
			_ = lf.Close()
		}
		if err != nil {
			return fmt.Errorf("testbed: backfilling %s: %w\n%s", f, err, out)
		}
		e.opts.Logf("testbed: backfilled %s into Prometheus in %s", filepath.Base(f), time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// PromSample is one element of an instant-vector query result.
type PromSample struct {
	Metric map[string]string
	Time   time.Time
	Value  float64
}

// PromQuery evaluates an instant PromQL query at time at and returns the
// vector (a scalar result comes back as one sample without labels).
func (e *Env) PromQuery(ctx context.Context, query string, at time.Time) ([]PromSample, error) {
	if e.PrometheusURL == "" {
		return nil, errors.New("testbed: Prometheus is disabled")
	}
	form := url.Values{"query": {query}, "time": {strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.PrometheusURL+"/api/v1/query", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("prometheus query %q: %w", query, err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("prometheus query %q: %s: %w", query, resp.Status, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("prometheus query %q: %s: %s", query, resp.Status, body.Error)
	}
	switch body.Data.ResultType {
	case "vector":
		var vec []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(body.Data.Result, &vec); err != nil {
			return nil, err
		}
		out := make([]PromSample, 0, len(vec))
		for _, v := range vec {
			s, err := promPoint(v.Value)
			if err != nil {
				return nil, err
			}
			s.Metric = v.Metric
			out = append(out, s)
		}
		return out, nil
	case "scalar":
		var v [2]any
		if err := json.Unmarshal(body.Data.Result, &v); err != nil {
			return nil, err
		}
		s, err := promPoint(v)
		if err != nil {
			return nil, err
		}
		return []PromSample{s}, nil
	default:
		return nil, fmt.Errorf("prometheus query %q: result type %s is not supported", query, body.Data.ResultType)
	}
}

func promPoint(v [2]any) (PromSample, error) {
	ts, ok1 := v[0].(float64)
	vs, ok2 := v[1].(string)
	if !ok1 || !ok2 {
		return PromSample{}, fmt.Errorf("malformed sample %v", v)
	}
	f, err := strconv.ParseFloat(vs, 64)
	if err != nil {
		return PromSample{}, err
	}
	return PromSample{Time: time.UnixMilli(int64(math.Round(ts * 1000))), Value: f}, nil
}
