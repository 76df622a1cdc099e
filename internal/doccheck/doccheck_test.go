package doccheck

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/prescaler/prescaler/cmd/prescaler/app"
	promsrc "github.com/prescaler/prescaler/collector/prometheus"
	"github.com/prescaler/prescaler/daemon"
)

// moduleRoot is the repository root, seen from this package's folder.
const moduleRoot = "../.."

// The docs held to the code, and the two that list the code's names.
const (
	configDoc     = "docs/config.md"
	decisionDoc   = "docs/how-it-decides.md"
	operationsDoc = "docs/operations.md"
)

// agentMetrics are the node agent's own metrics: served by `prescaler agent`,
// not by the daemon, and documented in docs/agent.md.
const agentMetrics = "prescaler_agent_"

func readDocs(t *testing.T) map[string]string {
	t.Helper()
	docs := map[string]string{}
	for _, name := range []string{configDoc, decisionDoc, operationsDoc} {
		data, err := os.ReadFile(filepath.Join(moduleRoot, name))
		if err != nil {
			t.Fatal(err)
		}
		docs[name] = string(data)
	}
	return docs
}

// TestDocsAgreeWithTheCode holds the three docs to the code: metrics,
// decision reasons, Event reasons and command-line flags.
func TestDocsAgreeWithTheCode(t *testing.T) {
	docs := readDocs(t)
	metrics := registeredMetrics(t)
	if len(metrics) < 30 {
		t.Fatalf("found only %d registered metrics: %v", len(metrics), metrics)
	}
	decisionReasons := constants(t, "scaler", "Reason")
	if len(decisionReasons) < 5 {
		t.Fatalf("found only %d decision reasons: %v", len(decisionReasons), decisionReasons)
	}
	events := append(constants(t, "writer", ""), constants(t, "daemon", "")...)
	if len(events) < 8 {
		t.Fatalf("found only %d Event reasons: %v", len(events), events)
	}
	checks := map[string][]string{
		"metrics":          checkMetrics(docs, metrics),
		"decision reasons": checkDecisionReasons(docs, decisionReasons),
		"Event reasons":    checkEventReasons(docs[operationsDoc], events),
		"flags":            checkFlags(docs, commandFlags()),
	}
	for what, problems := range checks {
		for _, p := range problems {
			t.Errorf("%s: %s", what, p)
		}
	}
}

// checkMetrics: every metric a doc names is registered, and operations.md
// documents every registered metric.
func checkMetrics(docs map[string]string, registered []string) []string {
	var problems []string
	for _, name := range sortedKeys(docs) {
		for _, m := range MetricNames(docs[name]) {
			if !strings.HasPrefix(m, agentMetrics) && !slices.Contains(registered, m) {
				problems = append(problems, fmt.Sprintf("%s names %s, which prescaler does not register", name, m))
			}
		}
	}
	documented := MetricNames(docs[operationsDoc])
	for _, m := range registered {
		if !slices.Contains(documented, m) {
			problems = append(problems, fmt.Sprintf("%s does not document %s", operationsDoc, m))
		}
	}
	return problems
}

// decisionMetric is the metric whose reason label holds the decision's reason.
const decisionMetric = "prescaler_decision_reason"

// checkDecisionReasons: how-it-decides.md names every reason of the decision
// core (as `reason`), and every reason="…" a doc selects on decisionMetric
// is one.
func checkDecisionReasons(docs map[string]string, reasons []string) []string {
	var problems []string
	for _, r := range reasons {
		if !strings.Contains(docs[decisionDoc], "`"+r+"`") {
			problems = append(problems, fmt.Sprintf("%s does not explain the reason `%s`", decisionDoc, r))
		}
	}
	for _, name := range sortedKeys(docs) {
		for _, v := range LabelValues(docs[name], decisionMetric, "reason") {
			if !slices.Contains(reasons, v) {
				problems = append(problems, fmt.Sprintf("%s selects reason=%q, which the decision never gives", name, v))
			}
		}
	}
	return problems
}

// checkEventReasons: the Events table of operations.md lists exactly the
// reasons the writer and the daemon record Events with.
func checkEventReasons(operations string, reasons []string) []string {
	var problems []string
	listed := TableNames(operations, "Events")
	for _, r := range reasons {
		if !slices.Contains(listed, r) {
			problems = append(problems, fmt.Sprintf("the Events table of %s does not list %s", operationsDoc, r))
		}
	}
	for _, r := range listed {
		if !slices.Contains(reasons, r) {
			problems = append(problems, fmt.Sprintf("the Events table of %s lists %s, which no Event carries", operationsDoc, r))
		}
	}
	return problems
}

// checkFlags: every subcommand a doc runs exists and takes the flags the
// doc gives it; a flag named on its own belongs to some subcommand. flags
// maps each subcommand ("" for prescaler itself) to the flags it takes.
func checkFlags(docs map[string]string, flags map[string][]string) []string {
	var problems []string
	for _, name := range sortedKeys(docs) {
		for _, u := range Uses(docs[name]) {
			where := fmt.Sprintf("%s:%d", name, u.Line)
			own, ok := flags[u.Command]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("%s runs `prescaler %s`, which is no subcommand", where, u.Command))
			case u.Flag == "":
			case u.Command == "" && !slices.ContainsFunc(sortedKeys(flags), func(c string) bool { return slices.Contains(flags[c], u.Flag) }):
				problems = append(problems, fmt.Sprintf("%s names --%s, which no subcommand takes", where, u.Flag))
			case u.Command != "" && !slices.Contains(own, u.Flag):
				problems = append(problems, fmt.Sprintf("%s gives --%s to `prescaler %s`, which does not take it", where, u.Flag, u.Command))
			}
		}
	}
	return problems
}

// TestChecksCatchDisagreement feeds each check a small doc that disagrees
// with a small code, and one that agrees: the checks must tell them apart.
func TestChecksCatchDisagreement(t *testing.T) {
	registered := []string{"prescaler_decision_reason", "prescaler_demand_invalid_steps_total", "prescaler_floor_replicas", "prescaler_loop_duration_seconds"}
	good := map[string]string{
		operationsDoc: "| `prescaler_floor_replicas` | gauge |\n| `prescaler_loop_duration_seconds` | histogram |\n" +
			"| `prescaler_decision_reason{reason}` | gauge |\n| `prescaler_demand_invalid_steps_total{reason}` | counter |\n" +
			"rate(prescaler_loop_duration_seconds_count[5m]) and prescaler_agent_nvml_up\n" +
			"## Events\n\n| reason | when |\n|---|---|\n| `FloorRaised`, `FloorLowered` | a write |\n\n## Logs\n\n| `NotAReason` | x |\n" +
			"Run `prescaler restore --all`, or `--log-level debug`; `kubectl apply --server-side` is kubectl's.\n",
		decisionDoc: "The floor is capped (`max_replicas`) or bounded (`user_min`); see prescaler_decision_reason{reason=\"user_min\"}" +
			" and prescaler_demand_invalid_steps_total{reason=\"negative\"}, another metric's reason.\n",
		configDoc: "```\n$ prescaler check-config --config FILE [--print]\nkubectl -n prescaler get configmap prescaler | prescaler check-config \\\n  --config -\n```\n",
	}
	reasons := []string{"user_min", "max_replicas"}
	events := []string{"FloorRaised", "FloorLowered"}
	flags := map[string][]string{"": {"help"}, "restore": {"all", "config", "log-level"}, "check-config": {"config", "print"}}
	for what, problems := range map[string][]string{
		"metrics":          checkMetrics(good, registered),
		"decision reasons": checkDecisionReasons(good, reasons),
		"Event reasons":    checkEventReasons(good[operationsDoc], events),
		"flags":            checkFlags(good, flags),
	} {
		if len(problems) > 0 {
			t.Errorf("%s: an agreeing doc is reported: %q", what, problems)
		}
	}

	cases := []struct {
		name     string
		problems []string
		want     []string
	}{
		{"a registered metric left out of operations.md",
			checkMetrics(good, append(slices.Clone(registered), "prescaler_released_objects_total")),
			[]string{"docs/operations.md does not document prescaler_released_objects_total"}},
		{"a doc naming a metric the code does not register",
			checkMetrics(map[string]string{operationsDoc: good[operationsDoc] + "prescaler_floor_replica\n"}, registered),
			[]string{"docs/operations.md names prescaler_floor_replica, which prescaler does not register"}},
		{"a reason how-it-decides.md does not explain",
			checkDecisionReasons(good, append(slices.Clone(reasons), "ramp_limit")),
			[]string{"docs/how-it-decides.md does not explain the reason `ramp_limit`"}},
		{"a selector on a reason the decision never gives",
			checkDecisionReasons(map[string]string{decisionDoc: good[decisionDoc] + `prescaler_decision_reason{target="a",reason="capacity"}`}, reasons),
			[]string{`docs/how-it-decides.md selects reason="capacity", which the decision never gives`}},
		{"an Event reason missing from the table, and one listed that no Event carries",
			checkEventReasons(good[operationsDoc], []string{"FloorRaised", "Restored"}),
			[]string{"the Events table of docs/operations.md does not list Restored",
				"the Events table of docs/operations.md lists FloorLowered, which no Event carries"}},
		{"a removed flag, a flag of another subcommand, and a subcommand that does not exist",
			checkFlags(map[string]string{operationsDoc: "`prescaler restore --every` and `prescaler restore --print`, `--nope`, then `prescaler tune`.\n"}, flags),
			[]string{"docs/operations.md:1 gives --every to `prescaler restore`, which does not take it",
				"docs/operations.md:1 gives --print to `prescaler restore`, which does not take it",
				"docs/operations.md:1 names --nope, which no subcommand takes",
				"docs/operations.md:1 runs `prescaler tune`, which is no subcommand"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !slices.Equal(tc.problems, tc.want) {
				t.Errorf("problems\n%q\nwant\n%q", tc.problems, tc.want)
			}
		})
	}
}

func TestMetricNames(t *testing.T) {
	doc := "`prescaler_floor_replicas` and histogram_quantile(0.9, prescaler_loop_duration_seconds_bucket), " +
		"prescaler_loop_duration_seconds_sum; prefixed `prescaler_`; PrescalerLoopStalled; prescaler_floor_replicas again"
	want := []string{"prescaler_floor_replicas", "prescaler_loop_duration_seconds"}
	if got := MetricNames(doc); !slices.Equal(got, want) {
		t.Errorf("MetricNames = %q, want %q", got, want)
	}
}

func TestLabelValues(t *testing.T) {
	doc := `prescaler_decision_reason{reason="gpu_capacity"} and prescaler_decision_reason{target="a", reason=~"fallback"}; ` +
		`prescaler_decision_reason_other{reason="no"}, prescaler_write_errors_total{reason="no"}, prescaler_decision_reason{reasons="no"}`
	want := []string{"fallback", "gpu_capacity"}
	if got := LabelValues(doc, "prescaler_decision_reason", "reason"); !slices.Equal(got, want) {
		t.Errorf("LabelValues = %q, want %q", got, want)
	}
}

func TestTableNames(t *testing.T) {
	doc := "# Title\n\n## Events\n\nOn the HPA:\n\n| reason | type |\n|---|---|\n| `A`, `B` | Normal |\n| `C` | Warning, `not-first-column` |\n\n" +
		"### Detail\n\n| `D` | sub-section of Events |\n\n## Logs\n\n| `E` | another section |\n"
	want := []string{"A", "B", "C", "D"}
	if got := TableNames(doc, "Events"); !slices.Equal(got, want) {
		t.Errorf("TableNames = %q, want %q", got, want)
	}
	if got := TableNames(doc, "Missing"); got != nil {
		t.Errorf("TableNames of a missing section = %q", got)
	}
}

func TestUses(t *testing.T) {
	doc := "Run `prescaler backtest --troughs` or prescaler run --not-code; `--log-format text`; `kubectl apply --server-side`.\n" +
		"```yaml\n# Check a file with:  prescaler check-config --config example.yaml\n```\n" +
		"```\nkubectl -n prescaler get configmap prescaler -o yaml | prescaler check-config --config -\n" +
		"prescaler run \\\n  --kubeconfig=k.yaml \\\n  --namespace x\n$ prescaler --help\n```\n"
	want := []Use{
		{Command: "backtest", Line: 1}, {Command: "backtest", Flag: "troughs", Line: 1}, {Flag: "log-format", Line: 1},
		{Command: "check-config", Line: 3}, {Command: "check-config", Flag: "config", Line: 3},
		{Command: "check-config", Line: 6}, {Command: "check-config", Flag: "config", Line: 6},
		{Command: "run", Line: 7}, {Command: "run", Flag: "kubeconfig", Line: 7}, {Command: "run", Flag: "namespace", Line: 7},
		{Flag: "help", Line: 10},
	}
	if got := Uses(doc); !slices.Equal(got, want) {
		t.Errorf("Uses =\n%+v\nwant\n%+v", got, want)
	}
}

// registeredMetrics returns the names of the metrics prescaler registers:
// the daemon's and the Prometheus collector's, read from their collectors'
// descriptions (the daemon names most of its gauges through a helper), and
// every metric declared with literal names in the module's code (the
// command's own: leader, build info, config reloads). The node agent's are
// left out.
func registeredMetrics(t *testing.T) []string {
	t.Helper()
	reg := &describer{}
	daemon.NewMetrics(reg)
	if _, err := promsrc.NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if len(reg.unnamed) > 0 {
		t.Fatalf("descriptions without a name: %v", reg.unnamed)
	}
	names := append(reg.names, literalMetricNames(t)...)
	names = slices.DeleteFunc(names, func(n string) bool { return strings.HasPrefix(n, agentMetrics) })
	slices.Sort(names)
	return slices.Compact(names)
}

// describer is a prometheus.Registerer that keeps the names its collectors
// describe. A metric vector with no series yet gathers nothing, but it
// describes itself.
type describer struct {
	names, unnamed []string
}

var describedName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (d *describer) Register(c prometheus.Collector) error {
	descs := make(chan *prometheus.Desc)
	go func() {
		c.Describe(descs)
		close(descs)
	}()
	for desc := range descs {
		if m := describedName.FindStringSubmatch(desc.String()); m != nil {
			d.names = append(d.names, m[1])
		} else {
			d.unnamed = append(d.unnamed, desc.String())
		}
	}
	return nil
}

func (d *describer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = d.Register(c)
	}
}

func (d *describer) Unregister(prometheus.Collector) bool { return false }

// literalMetricNames finds, in every non-test Go file of the module, the
// client_golang options literals (GaugeOpts, CounterOpts, HistogramOpts,
// SummaryOpts) whose Namespace, Subsystem and Name are string literals, and
// returns the names they give. test/ (the testbed and the tools modules) is
// not prescaler.
func literalMetricNames(t *testing.T) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(moduleRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != moduleRoot && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || path == filepath.Join(moduleRoot, "test")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		file, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if name, ok := literalMetricName(n); ok {
				names = append(names, name)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func literalMetricName(n ast.Node) (string, bool) {
	lit, ok := n.(*ast.CompositeLit)
	if !ok {
		return "", false
	}
	sel, ok := lit.Type.(*ast.SelectorExpr)
	if !ok || !slices.Contains([]string{"GaugeOpts", "CounterOpts", "HistogramOpts", "SummaryOpts"}, sel.Sel.Name) {
		return "", false
	}
	parts := map[string]string{}
	for _, elt := range lit.Elts {
		kv, ok := elt.(*ast.KeyValueExpr)
		key, isIdent := kv.Key.(*ast.Ident)
		if !ok || !isIdent || !slices.Contains([]string{"Namespace", "Subsystem", "Name"}, key.Name) {
			continue
		}
		value, ok := stringLiteral(kv.Value)
		if !ok {
			return "", false // named at run time: the describer sees it
		}
		parts[key.Name] = value
	}
	if parts["Name"] == "" {
		return "", false
	}
	return prometheus.BuildFQName(parts["Namespace"], parts["Subsystem"], parts["Name"]), true
}

func stringLiteral(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// constants returns the values of the exported constants named Reason… in
// the package in dir (relative to the module root), of type typeName ("" for
// untyped ones): the decision reasons of scaler, the Event reasons of writer
// and daemon.
func constants(t *testing.T, dir, typeName string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(moduleRoot, dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var values []string
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range file.Decls {
			values = append(values, reasonConstants(decl, typeName)...)
		}
	}
	slices.Sort(values)
	return values
}

func reasonConstants(decl ast.Decl, typeName string) []string {
	gen, ok := decl.(*ast.GenDecl)
	if !ok || gen.Tok != token.CONST {
		return nil
	}
	var values []string
	for _, spec := range gen.Specs {
		vs := spec.(*ast.ValueSpec)
		typ, _ := vs.Type.(*ast.Ident)
		if (typeName == "") != (vs.Type == nil) || (typeName != "" && (typ == nil || typ.Name != typeName)) {
			continue
		}
		for i, name := range vs.Names {
			if !strings.HasPrefix(name.Name, "Reason") || i >= len(vs.Values) {
				continue
			}
			if v, ok := stringLiteral(vs.Values[i]); ok {
				values = append(values, v)
			}
		}
	}
	return values
}

// commandFlags maps each subcommand of prescaler's command tree ("" for the
// root) to the flags it takes, its parents' persistent flags and cobra's
// help included.
func commandFlags() map[string][]string {
	root := app.NewRootCommand(io.Discard, io.Discard)
	root.InitDefaultHelpFlag()
	out := map[string][]string{"": flagNames(root)}
	for _, c := range root.Commands() {
		c.InitDefaultHelpFlag()
		out[c.Name()] = flagNames(c)
	}
	return out
}

func flagNames(c *cobra.Command) []string {
	var names []string
	add := func(f *pflag.Flag) { names = append(names, f.Name) }
	c.Flags().VisitAll(add)
	c.InheritedFlags().VisitAll(add)
	return names
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
