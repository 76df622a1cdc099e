package config

import (
	"strings"
	"testing"
)

func discoveryForTest(t *testing.T) *Config {
	t.Helper()
	isolateEnv(t)
	cfg, err := Parse([]byte(`
discovery:
  enabled: true
  namespaces: [team-a]
  target:
    mode: shadow
    replicaCapacity: 100
    fallbackReplicaCapacity: 80
    queries:
      demand: 'sum(rate(requests_total{namespace="{{.Namespace}}",deployment="{{.Workload}}"}[1m])) * 60'
      queueDepth: 'sum(queue{namespace="{{.Namespace}}",hpa="{{.Name}}"})'
`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestDiscoveryAloneIsAValidConfig(t *testing.T) {
	cfg := discoveryForTest(t)
	if len(cfg.Targets) != 0 || !cfg.Discovery.Allows("team-a") || cfg.Discovery.Allows("default") {
		t.Fatalf("targets %v, namespaces %v", cfg.Targets, cfg.Discovery.Namespaces)
	}
	// The template target keeps every default the file leaves out.
	if got := cfg.Discovery.Target.Forecast.Quantile; got != DefaultTarget().Forecast.Quantile {
		t.Errorf("template quantile %v, want the default", got)
	}
}

func TestTargetForFillsTheTemplateAndTheAnnotations(t *testing.T) {
	cfg := discoveryForTest(t)
	obj := AnnotatedObject{Kind: KindHPA, Namespace: "team-a", Name: "llm-hpa", Workload: "llm",
		Annotations: map[string]string{AnnotationEnabled: "true", AnnotationMode: "active", AnnotationQuantile: "0.95",
			AnnotationOverloadBudget: "10m", AnnotationReplicaCapacity: "auto", AnnotationLeadTime: "3m"}}
	if !obj.OptedIn() {
		t.Fatal("not opted in")
	}
	got, err := cfg.Discovery.TargetFor(obj)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "team-a-llm-hpa" || got.Object() != obj.Ref() || got.Mode != ModeActive {
		t.Errorf("name %q object %v mode %s", got.Name, got.Object(), got.Mode)
	}
	if want := `sum(rate(requests_total{namespace="team-a",deployment="llm"}[1m])) * 60`; got.Queries.Demand != want {
		t.Errorf("demand %q, want %q", got.Queries.Demand, want)
	}
	if want := `sum(queue{namespace="team-a",hpa="llm-hpa"})`; got.Queries.QueueDepth != want {
		t.Errorf("queue depth %q, want %q", got.Queries.QueueDepth, want)
	}
	if got.Forecast.Quantile != 0.95 || got.SLO.OverloadBudget.String() != "10m" || !got.ReplicaCapacity.Auto ||
		got.LeadTime.Auto || got.LeadTime.String() != "3m" {
		t.Errorf("overrides not applied: %+v %+v %+v %+v", got.Forecast, got.SLO, got.ReplicaCapacity, got.LeadTime)
	}
	// Without overrides the template's own values hold; a ScaledObject
	// gets its own key.
	plain, err := cfg.Discovery.TargetFor(AnnotatedObject{Kind: KindScaledObject, Namespace: "team-a", Name: "so", Workload: "w",
		Annotations: map[string]string{AnnotationEnabled: "true"}})
	if err != nil {
		t.Fatal(err)
	}
	if plain.Mode != ModeShadow || plain.ScaledObject != "so" || plain.HPA != "" || plain.ReplicaCapacity.Value != 100 {
		t.Errorf("plain target %+v", plain)
	}
}

func TestTargetForNamesTheBadAnnotation(t *testing.T) {
	cfg := discoveryForTest(t)
	for key, value := range map[string]string{
		AnnotationMode: "dryrun", AnnotationQuantile: "1.5", AnnotationOverloadBudget: "ten minutes",
		AnnotationReplicaCapacity: "lots", AnnotationLeadTime: "soon",
	} {
		_, err := cfg.Discovery.TargetFor(AnnotatedObject{Kind: KindHPA, Namespace: "team-a", Name: "h", Workload: "w",
			Annotations: map[string]string{AnnotationEnabled: "true", key: value}})
		if err == nil || !strings.Contains(err.Error(), "annotation "+key) || !strings.Contains(err.Error(), value) ||
			!strings.Contains(err.Error(), "HorizontalPodAutoscaler team-a/h") {
			t.Errorf("%s=%q: err %v, want one naming the object, the annotation and the value", key, value, err)
		}
	}
	long := strings.Repeat("x", 60)
	if _, err := cfg.Discovery.TargetFor(AnnotatedObject{Kind: KindHPA, Namespace: "team-a", Name: long, Workload: "w"}); err == nil ||
		!strings.Contains(err.Error(), "target.name") {
		t.Errorf("a name longer than a label: err %v", err)
	}
}

func TestDiscoveryConfigErrors(t *testing.T) {
	isolateEnv(t)
	for doc, want := range map[string]string{
		`discovery: {enabled: true, target: {replicaCapacity: 1, queries: {demand: x}}}`:                                "discovery.namespaces: must list",
		`discovery: {enabled: true, namespaces: [A], target: {replicaCapacity: 1, queries: {demand: x}}}`:               "discovery.namespaces[0]",
		`discovery: {enabled: true, namespaces: [a], target: {hpa: h, replicaCapacity: 1, queries: {demand: x}}}`:       "discovery.target.hpa",
		`discovery: {enabled: true, namespaces: [a], target: {replicaCapacity: 1, queries: {demand: '{{.Nmespace}}'}}}`: "discovery.target.queries.demand",
		`discovery: {enabled: true, namespaces: [a], target: {replicaCapacity: 1, queries: {demand: x}, mode: dryrun}}`: "discovery.target.mode",
		`discovery: {enabled: true, namespaces: [a], target: {queries: {demand: x}}}`:                                   "discovery.target.replicaCapacity",
		`discovery: {enabled: false}`: "targets: at least one target is required",
	} {
		_, err := Parse([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n err %v\n want %q", doc, err, want)
		}
	}
}

func TestWithDiscoveredAddsOptedInObjectsAndSaysWhyNot(t *testing.T) {
	isolateEnv(t)
	cfg, err := Parse([]byte(`
targets:
  - {name: central, namespace: team-a, hpa: central, replicaCapacity: 10, queries: {demand: x}}
discovery:
  enabled: true
  namespaces: [team-a]
  target: {replicaCapacity: 100, queries: {demand: 'd{ns="{{.Namespace}}"}'}}
`))
	if err != nil {
		t.Fatal(err)
	}
	on := map[string]string{AnnotationEnabled: "true"}
	objects := []AnnotatedObject{
		{Kind: KindHPA, Namespace: "team-a", Name: "llm", Workload: "llm", Annotations: on},
		{Kind: KindHPA, Namespace: "team-a", Name: "quiet", Workload: "q"},                                                                               // not opted in
		{Kind: KindHPA, Namespace: "team-b", Name: "llm", Workload: "llm", Annotations: on},                                                              // namespace not allowed
		{Kind: KindHPA, Namespace: "team-a", Name: "central", Workload: "c", Annotations: on},                                                            // the file's
		{Kind: KindHPA, Namespace: "team-a", Name: "bad", Workload: "b", Annotations: map[string]string{AnnotationEnabled: "true", AnnotationMode: "x"}}, // bad annotation
	}
	got, ignored := cfg.WithDiscovered(objects)
	if len(cfg.Targets) != 1 {
		t.Fatalf("the file's config was modified: %d targets", len(cfg.Targets))
	}
	if len(got.Targets) != 2 || got.Targets[0].Name != "central" || got.Targets[1].Name != "team-a-llm" ||
		got.Targets[1].Queries.Demand != `d{ns="team-a"}` {
		t.Fatalf("targets %+v", got.Targets)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("the merged config does not validate: %v", err)
	}
	want := map[string]string{
		"team-b/llm":     "namespace team-b is not in discovery.namespaces",
		"team-a/central": "the config file's target central manages it",
		"team-a/bad":     "annotation prescaler.io/mode",
	}
	if len(ignored) != len(want) {
		t.Fatalf("ignored %+v, want %d", ignored, len(want))
	}
	for _, ig := range ignored {
		key := ig.Object.Namespace + "/" + ig.Object.Name
		if !strings.Contains(ig.Why, want[key]) || want[key] == "" {
			t.Errorf("%s ignored because %q, want %q", key, ig.Why, want[key])
		}
	}
}
