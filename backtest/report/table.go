package report

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prescaler/prescaler/backtest"
)

// WriteTable writes the human summary of a backtest: the evaluation period
// and setup, one row per policy, the reactive frontier, each floor policy
// against the frontier at equal GPU-hours, and prescaler's floor reasons.
func WriteTable(w io.Writer, res *backtest.Result) error {
	ew := &errWriter{w: w}
	writeSetup(ew, res)
	ew.printf("\n")
	writePolicies(ew, res)
	ew.printf("\n")
	writeFrontier(ew, res)
	writeGrid(ew, res)
	writeTuning(ew, res)
	ew.printf("\n")
	writeComparisons(ew, res)
	writeReasons(ew, res)
	return ew.err
}

// errWriter keeps the first write error so the table code reads straight.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

// table is a tabwriter whose numeric cells are right-aligned; the first
// column (a name) is padded by hand so that it stays left-aligned. Right
// alignment puts the 2-space column padding on the left, which indents every
// table by two spaces under its heading.
type table struct {
	ew    *errWriter
	rows  [][]string
	first int
}

func (t *table) add(cells ...string) {
	t.first = max(t.first, len([]rune(cells[0])))
	t.rows = append(t.rows, cells)
}

func (t *table) flush() {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, r := range t.rows {
		name := r[0] + strings.Repeat(" ", t.first-len([]rune(r[0])))
		fmt.Fprintf(tw, "%s\t%s\t\n", name, strings.Join(r[1:], "\t"))
	}
	_ = tw.Flush() // writes to a bytes.Buffer do not fail
	// An empty last cell leaves trailing blanks.
	for line := range strings.Lines(buf.String()) {
		t.ew.printf("%s\n", strings.TrimRight(line, " \n"))
	}
}

// setupKeys are the options shown above the tables, in this order, with
// their labels; a key missing from Result.Options is skipped.
var setupKeys = []struct{ key, label string }{
	{"replica_capacity", "replica capacity (req/min)"},
	{"startup", "start-up"},
	{"startup_jitter", "jitter"},
	{"gpus", "GPUs"},
	{"gpus_per_replica", "GPUs/replica"},
	{"node_delay", "node delay"},
	{"gpus_per_node", "GPUs/node"},
	{"pool_limit_gpus", "pool limit GPUs"},
	{"min_nodes", "min nodes"},
	{"consolidate_after", "consolidate after"},
	{"min_replicas", "min replicas"},
	{"max_replicas", "max replicas"},
	{"hpa_target_utilization", "HPA target"},
	{"queue_target", "queue target"},
	{"quantile", "quantile"},
	{"step", "step"},
	{"season", "season"},
	{"season2", "season2"},
	{"warmup", "warmup"},
	{"seed", "seed"},
}

func writeSetup(ew *errWriter, res *backtest.Result) {
	start := time.Unix(res.EvalStart*60, 0).UTC()
	end := start.Add(time.Duration(res.EvalMinutes) * time.Minute)
	ew.printf("backtest: %d minutes (%.1f days) from %s to %s UTC\n", res.EvalMinutes,
		float64(res.EvalMinutes)/(24*60), start.Format("2006-01-02 15:04"), end.Format("2006-01-02 15:04"))
	var parts []string
	for _, k := range setupKeys {
		v, ok := res.Options[k.key]
		if !ok || k.key == "season2" && v == "0s" {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s", k.label, optionText(v)))
	}
	// Wrap at about 100 columns.
	line := "setup:"
	for _, p := range parts {
		if len(line)+len(p)+2 > 100 {
			ew.printf("%s\n", strings.TrimSuffix(line, ","))
			line = "      "
		}
		line += " " + p + ","
	}
	ew.printf("%s\n", strings.TrimSuffix(line, ","))
}

func writePolicies(ew *errWriter, res *backtest.Result) {
	oracle := 0.0
	if o := res.Policy(backtest.Oracle); o != nil {
		oracle = o.Summary.GPUHours
	}
	if res.ElasticNodes {
		writeElasticPolicies(ew, res, oracle)
		return
	}
	t := table{ew: ew}
	t.add("policy", "overloaded min", "late %", "p99 wait", "GPU-hours", "GPU-h/oracle", "scale events", "pending-pod min")
	for _, p := range res.Policies {
		s := p.Summary
		t.add(p.Policy, fmt.Sprint(s.OverloadedMinutes), num(s.LatePercent, 2), Wait(s.P99Wait), num(s.GPUHours, 1),
			num(ratio(s.GPUHours, oracle), 2), fmt.Sprint(s.ScaleEvents), num(s.PendingPodMinutes, 1))
	}
	t.flush()
}

// writeElasticPolicies is the policy table of an elastic pool: the nodes'
// GPU-hours, which the comparisons use, and the pods' and placeholders'
// beside them.
func writeElasticPolicies(ew *errWriter, res *backtest.Result, oracle float64) {
	t := table{ew: ew}
	t.add("policy", "overloaded min", "late %", "p99 wait", "node GPU-h", "node GPU-h/oracle", "pod GPU-h", "placeholder GPU-h",
		"nodes launched", "preempted", "pending-pod min")
	for _, p := range res.Policies {
		s := p.Summary
		t.add(p.Policy, fmt.Sprint(s.OverloadedMinutes), num(s.LatePercent, 2), Wait(s.P99Wait), num(s.GPUHours, 1),
			num(ratio(s.GPUHours, oracle), 2), num(s.PodGPUHours, 1), num(s.PlaceholderGPUHours, 1),
			fmt.Sprint(s.NodesLaunched), fmt.Sprint(s.Preemptions), num(s.PendingPodMinutes, 1))
	}
	t.flush()
	ew.printf("node GPU-h: the nodes' GPUs from their request to their removal, what an elastic pool costs (every GPU-hours below is this);\n" +
		"pod GPU-h and placeholder GPU-h: held by the Deployment's pods and by placeholder pods, both part of the nodes'\n")
}

func writeFrontier(ew *errWriter, res *backtest.Result) {
	ew.printf("reactive frontier: the HPA alone at each target utilization (* = on the Pareto frontier)\n")
	runs := slices.Clone(res.FrontierRuns)
	slices.SortStableFunc(runs, func(a, b backtest.PolicyResult) int {
		return cmpFloat(a.TargetUtilization, b.TargetUtilization)
	})
	t := table{ew: ew}
	t.add("target", "GPU-hours", "overloaded min", "late %", "p99 wait", "Pareto")
	for _, r := range runs {
		s := r.Summary
		mark := ""
		if onFrontier(res.Frontier, r) {
			mark = "*"
		}
		t.add(fmt.Sprintf("%.2f", r.TargetUtilization), num(s.GPUHours, 1), fmt.Sprint(s.OverloadedMinutes),
			num(s.LatePercent, 2), Wait(s.P99Wait), mark)
	}
	t.flush()
}

// onFrontier reports whether a frontier run is one of the Pareto points. The
// points are copies of the runs' own numbers, so equality is exact.
func onFrontier(frontier []backtest.FrontierPoint, r backtest.PolicyResult) bool {
	for _, p := range frontier {
		if p.GPUHours == r.Summary.GPUHours && p.OverloadedMinutes == float64(r.Summary.OverloadedMinutes) {
			return true
		}
	}
	return false
}

func writeComparisons(ew *errWriter, res *backtest.Result) {
	if len(res.Comparisons) == 0 {
		return
	}
	ew.printf("at equal GPU-hours: overloaded minutes against the reactive frontier (ratio < 1: fewer than the HPA alone)\n")
	t := table{ew: ew}
	t.add("policy", "GPU-hours", "overloaded min", "frontier at same GPU-h", "ratio", "GPU-h/oracle")
	for _, c := range res.Comparisons {
		p := res.Policy(c.Policy)
		if p == nil {
			continue
		}
		frontier, r := comparisonCells(c)
		t.add(c.Policy, num(p.Summary.GPUHours, 1), fmt.Sprint(p.Summary.OverloadedMinutes), frontier, r,
			num(c.GPUHoursVsOracle, 2))
	}
	t.flush()
	if lo, hi, ok := frontierRange(res.Frontier); ok {
		ew.printf("  (the frontier spans %s to %s GPU-hours; outside it no reactive run costs the same)\n", num(lo, 1), num(hi, 1))
	}
}

// comparisonCells are a comparison's "frontier at the same GPU-hours" and
// "ratio" cells, saying why when there is no number.
func comparisonCells(c backtest.Comparison) (frontier, ratio string) {
	switch {
	case !c.OK:
		return "outside range", "n/a"
	case c.ReactiveOverload > 0:
		return num(c.ReactiveOverload, 1), num(c.OverloadRatio, 2)
	}
	return num(c.ReactiveOverload, 1), "n/a (frontier 0)"
}

func frontierRange(f []backtest.FrontierPoint) (lo, hi float64, ok bool) {
	if len(f) == 0 {
		return 0, 0, false
	}
	return f[0].GPUHours, f[len(f)-1].GPUHours, true
}

func writeReasons(ew *errWriter, res *backtest.Result) {
	p := res.Policy(backtest.Prescaler)
	if p == nil || len(p.Reasons) == 0 {
		return
	}
	total := 0
	for _, r := range p.Reasons {
		total += r.Minutes
	}
	parts := make([]string, len(p.Reasons))
	for i, r := range p.Reasons {
		parts[i] = fmt.Sprintf("%s %d (%.1f%%)", r.Reason, r.Minutes, 100*float64(r.Minutes)/float64(total))
	}
	ew.printf("\nprescaler floor reasons, minutes: %s\n", strings.Join(parts, ", "))
}

// optionText writes an option value; durations, which Result.Options holds
// as Go duration strings ("168h0m0s"), are written in days where they are
// whole days and without zero units ("7d", "3m", "1m30s").
func optionText(v any) string {
	s, ok := v.(string)
	if !ok {
		return fmt.Sprint(v)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return s
	}
	return Duration(d)
}

// Duration writes d compactly: whole days as "7d", otherwise Go's form less
// its zero units ("3m" rather than "3m0s").
func Duration(d time.Duration) string {
	const day = 24 * time.Hour
	if d > 0 && d%day == 0 {
		return fmt.Sprintf("%dd", d/day)
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Wait formats a queue wait compactly: milliseconds below a second, tenths
// of a second below a minute, whole seconds above.
func Wait(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

// num formats a float with a fixed number of decimals; NaN and ±Inf, which
// a ratio against a zero can give, print as "n/a".
func num(v float64, decimals int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	return fmt.Sprintf("%.*f", decimals, v)
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// writeGrid prints prescaler's own frontier: every grid run against the
// reactive frontier at equal GPU-hours, and the cheapest setting that
// overloads no more than the HPA alone.
func writeGrid(ew *errWriter, res *backtest.Result) {
	if len(res.GridRuns) == 0 {
		return
	}
	ew.printf("prescaler's own frontier: prescaler at each HPA target × headroom (* = on its Pareto frontier; ratio: overloaded minutes / the reactive frontier's at equal GPU-hours)\n")
	t := table{ew: ew}
	t.add("HPA target", "quantile", "floor util", "GPU-hours", "overloaded min", "late %", "reactive at same GPU-h", "ratio", "Pareto")
	for i, r := range res.GridRuns {
		s, c := r.Summary, res.GridComparisons[i]
		frontier, ratio := comparisonCells(c)
		mark := ""
		if onFrontier(res.GridFrontier, r) {
			mark = "*"
		}
		t.add(fmt.Sprintf("%.2f", r.TargetUtilization), fmt.Sprintf("%.2f", r.Headroom.Quantile), fmt.Sprintf("%.2f", r.Headroom.Utilization),
			num(s.GPUHours, 1), fmt.Sprint(s.OverloadedMinutes), num(s.LatePercent, 2), frontier, ratio, mark)
	}
	t.flush()
	if c := res.Cheapest; c != nil {
		ew.printf("cheapest setting with no more overloaded minutes than the HPA alone (%d at %s GPU-h): %s, %s GPU-h (%s×), %d overloaded min\n",
			c.BaselineOverloadedMinutes, num(c.BaselineGPUHours, 1), c.Label, num(c.GPUHours, 1), num(c.GPUHoursRatio, 2), c.OverloadedMinutes)
	} else {
		ew.printf("no grid setting overloads no more than the HPA alone at the main target\n")
	}
	ew.printf("\n")
}

// writeTuning prints the tuned run's daily choices: what each replay of the
// days before chose, and what the day then saw against the budget.
func writeTuning(ew *errWriter, res *backtest.Result) {
	if len(res.Tuning) == 0 {
		return
	}
	ew.printf("tuned run: before each day, the cheapest headroom that met the budget over a replay of the days before it\n")
	// The budget is a mean over days before; a day's own overloaded minutes
	// scatter around it. The HPA alone's record against the same budgets is
	// the baseline "days within budget" is read against.
	hpaDaily := reactiveDaily(res)
	t := table{ew: ew}
	t.add("day", "quantile", "floor util", "replay GPU-h", "replay overloaded/day", "budget/day", "met in replay", "overloaded that day", "within budget", "HPA alone that day")
	within, hpaWithin := 0, 0
	for _, d := range res.Tuning {
		c := d.Choice
		ok := float64(d.Overloaded) <= c.Budget
		if ok {
			within++
		}
		hpa := "-"
		if d.Day-1 < len(hpaDaily) {
			hpa = fmt.Sprint(hpaDaily[d.Day-1])
			if float64(hpaDaily[d.Day-1]) <= c.Budget {
				hpaWithin++
			}
		}
		t.add(fmt.Sprint(d.Day), fmt.Sprintf("%.2f", c.Chosen.Headroom.Quantile), fmt.Sprintf("%.2f", c.Chosen.Headroom.Utilization),
			num(c.Chosen.GPUHours, 1), num(c.Chosen.OverloadedPerDay, 1), num(c.Budget, 1), yesNo(c.Met),
			fmt.Sprint(d.Overloaded), yesNo(ok), hpa)
	}
	t.flush()
	ew.printf("days within budget: %d of %d", within, len(res.Tuning))
	if len(hpaDaily) >= len(res.Tuning) {
		ew.printf(" (the HPA alone at %.2f: %d of %d)", reactiveTarget(res), hpaWithin, len(res.Tuning))
	}
	ew.printf("\n")
	if a := res.Tuning[len(res.Tuning)-1].Choice.Advice; a != nil {
		ew.printf("advice from the last replay: %s\n", a)
	}
}

// reactiveDaily is the main reactive run's overloaded minutes per evaluated
// day (nil without one).
func reactiveDaily(res *backtest.Result) []int {
	for _, p := range res.Policies {
		if p.Policy == backtest.Reactive {
			return p.DailyOverloaded
		}
	}
	return nil
}

// reactiveTarget is the main reactive run's target utilization.
func reactiveTarget(res *backtest.Result) float64 {
	for _, p := range res.Policies {
		if p.Policy == backtest.Reactive {
			return p.TargetUtilization
		}
	}
	return 0
}

func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}
