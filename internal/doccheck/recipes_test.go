package doccheck

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"sigs.k8s.io/yaml"

	"github.com/prescaler/prescaler/config"
)

// recipesDoc holds the recipes for LLM serving: whole configuration files
// and the Kubernetes objects they run beside.
const recipesDoc = "docs/recipes.md"

// The marks of a YAML block: an HTML comment, invisible on the rendered
// page, on the line right before the ```yaml fence says what the block holds
// and how TestRecipes checks it. Every ```yaml block of the page carries one.
const (
	// markConfig: a whole prescaler configuration file. It must load with the
	// daemon's loader, validation included, and draw no warning.
	markConfig = "<!-- prescaler-config -->"
	// markManifest: one Kubernetes object, with apiVersion, kind and
	// metadata.name; an autoscaling/v2 HPA must decode, strictly, into the
	// API's type.
	markManifest = "<!-- kubernetes-manifest -->"
	// markYAML: another program's configuration (a Prometheus adapter rule):
	// it must parse as YAML.
	markYAML = "<!-- yaml -->"
)

// yamlBlock is one ```yaml block of a Markdown page.
type yamlBlock struct {
	mark string // the line before the fence, trimmed
	text string
	line int // of the opening fence, from 1
}

// yamlBlocks returns the ```yaml blocks of doc in order, each with the line
// that precedes its fence. Fences of other languages are skipped whole.
func yamlBlocks(doc string) ([]yamlBlock, error) {
	var (
		blocks   []yamlBlock
		current  *yamlBlock
		fenced   bool
		previous string
		n        int
	)
	for line := range strings.Lines(doc) {
		n++
		line = strings.TrimRight(line, "\r\n")
		trimmed := strings.TrimSpace(line)
		switch {
		case !fenced && strings.HasPrefix(trimmed, "```"):
			fenced = true
			if strings.TrimPrefix(trimmed, "```") == "yaml" {
				current = &yamlBlock{mark: strings.TrimSpace(previous), line: n}
			}
		case fenced && trimmed == "```":
			fenced = false
			if current != nil {
				blocks = append(blocks, *current)
				current = nil
			}
		case current != nil:
			current.text += line + "\n"
		}
		previous = line
	}
	if fenced {
		return nil, fmt.Errorf("a code block is not closed")
	}
	return blocks, nil
}

// checkConfig loads a configuration block as `prescaler check-config` does.
func checkConfig(text string) (*config.Config, error) {
	cfg, err := config.Parse([]byte(text))
	if err != nil {
		return nil, err
	}
	if w := cfg.Warnings(); len(w) > 0 {
		return nil, fmt.Errorf("check-config warns: %s", strings.Join(w, "; "))
	}
	return cfg, nil
}

// manifest is what TestRecipes reads of a Kubernetes object.
type manifest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

// checkManifest parses a manifest block and returns the object it names.
func checkManifest(text string) (config.ObjectRef, error) {
	var m manifest
	if err := yaml.Unmarshal([]byte(text), &m); err != nil {
		return config.ObjectRef{}, err
	}
	if m.APIVersion == "" || m.Kind == "" || m.Metadata.Name == "" {
		return config.ObjectRef{}, fmt.Errorf("apiVersion %q, kind %q, metadata.name %q: all three must be set",
			m.APIVersion, m.Kind, m.Metadata.Name)
	}
	if m.Kind == config.KindHPA && m.APIVersion == autoscalingv2.SchemeGroupVersion.String() {
		var hpa autoscalingv2.HorizontalPodAutoscaler
		if err := yaml.UnmarshalStrict([]byte(text), &hpa); err != nil {
			return config.ObjectRef{}, fmt.Errorf("not an autoscaling/v2 HorizontalPodAutoscaler: %w", err)
		}
	}
	return config.ObjectRef{Kind: m.Kind, Namespace: m.Metadata.Namespace, Name: m.Metadata.Name}, nil
}

// TestRecipes loads every block of the recipes page: each configuration
// with the daemon's own loader, each manifest as its Kubernetes object.
// Every HPA or ScaledObject shown is one a configuration of the page
// manages, so renaming one side alone fails here.
func TestRecipes(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(moduleRoot, recipesDoc))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := yamlBlocks(string(data))
	if err != nil {
		t.Fatalf("%s: %v", recipesDoc, err)
	}
	managed := map[config.ObjectRef]bool{}
	var shown []config.ObjectRef
	counts := map[string]int{}
	for _, b := range blocks {
		where := fmt.Sprintf("%s:%d", recipesDoc, b.line)
		counts[b.mark]++
		switch b.mark {
		case markConfig:
			cfg, err := checkConfig(b.text)
			if err != nil {
				t.Errorf("%s: the configuration does not load: %v", where, err)
				continue
			}
			for _, tc := range cfg.Targets {
				managed[tc.Object()] = true
			}
		case markManifest:
			ref, err := checkManifest(b.text)
			if err != nil {
				t.Errorf("%s: %v", where, err)
				continue
			}
			if ref.Kind == config.KindHPA || ref.Kind == config.KindScaledObject {
				shown = append(shown, ref)
			}
		case markYAML:
			var v any
			if err := yaml.Unmarshal([]byte(b.text), &v); err != nil {
				t.Errorf("%s: not YAML: %v", where, err)
			}
		default:
			t.Errorf("%s: a yaml block without one of the marks %s, %s or %s on the line before it (found %q)",
				where, markConfig, markManifest, markYAML, b.mark)
		}
	}
	for _, mark := range []string{markConfig, markManifest} {
		if counts[mark] == 0 {
			t.Errorf("%s has no block marked %s", recipesDoc, mark)
		}
	}
	for _, ref := range shown {
		if !managed[ref] {
			t.Errorf("%s shows %s, which no configuration on the page manages", recipesDoc, ref)
		}
	}
	t.Logf("%d configurations, %d manifests, %d other YAML blocks", counts[markConfig], counts[markManifest], counts[markYAML])
}

// TestRecipesNameWhatTheCodeHas holds the recipes page to the code like the
// reference docs: the metrics, the decision reasons and the commands it
// names exist.
func TestRecipesNameWhatTheCodeHas(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(moduleRoot, recipesDoc))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	registered := registeredMetrics(t)
	for _, m := range MetricNames(doc) {
		if !slices.Contains(registered, m) {
			t.Errorf("%s names %s, which prescaler does not register", recipesDoc, m)
		}
	}
	reasons := constants(t, "scaler", "Reason")
	for _, r := range LabelValues(doc, decisionMetric, "reason") {
		if !slices.Contains(reasons, r) {
			t.Errorf("%s selects reason=%q, which the decision never gives", recipesDoc, r)
		}
	}
	for _, p := range checkFlags(map[string]string{recipesDoc: doc}, commandFlags()) {
		t.Error(p)
	}
}

// TestRecipeBlocks checks the block reader on a small page.
func TestRecipeBlocks(t *testing.T) {
	page := "# Title\n\n" +
		markConfig + "\n```yaml\ntargets: []\n```\n\n" +
		"```promql\nsum(x)\n```\n\n" +
		"Text.\n```yaml\na: 1\nb: 2\n```\n" +
		markManifest + "\n  ```yaml\n  kind: X\n  ```\n"
	got, err := yamlBlocks(page)
	if err != nil {
		t.Fatal(err)
	}
	want := []yamlBlock{
		{mark: markConfig, text: "targets: []\n", line: 4},
		{mark: "Text.", text: "a: 1\nb: 2\n", line: 13},
		{mark: markManifest, text: "  kind: X\n", line: 18},
	}
	if !slices.Equal(got, want) {
		t.Errorf("blocks\n%+v\nwant\n%+v", got, want)
	}
	if _, err := yamlBlocks("```yaml\na: 1\n"); err == nil {
		t.Error("an unclosed block is not reported")
	}

	if _, err := checkConfig("targets:\n  - name: a\n    namespace: default\n    hpa: h\n    queries: {demand: x}\n    replicaCapacity: 10\n"); err != nil {
		t.Errorf("a minimal configuration: %v", err)
	}
	for name, text := range map[string]string{
		"invalid":  "targets:\n  - name: a\n    namespace: default\n    hpa: h\n    queries: {demand: x}\n    replicaCapacity: 0\n",
		"warning":  "targets:\n  - name: a\n    namespace: default\n    hpa: h\n    queries: {demand: x}\n    replicaCapacity: 10\n    fallbackReplicaCapacity: 5\n",
		"misspelt": "targets:\n  - name: a\n    namespace: default\n    hpa: h\n    queries: {demand: x}\n    replicaCapacity: 10\n    leadtime: 3m\n",
	} {
		if _, err := checkConfig(text); err == nil {
			t.Errorf("a configuration %s: accepted", name)
		}
	}

	hpa := "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: h, namespace: ns}\n" +
		"spec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: d}\n  maxReplicas: 3\n"
	if ref, err := checkManifest(hpa); err != nil || ref != (config.ObjectRef{Kind: config.KindHPA, Namespace: "ns", Name: "h"}) {
		t.Errorf("an HPA: %v, %v", ref, err)
	}
	for name, text := range map[string]string{
		"without a kind":      "apiVersion: v1\nmetadata: {name: x}\n",
		"with a misspelt key": strings.Replace(hpa, "maxReplicas", "maxReplica", 1),
		"not YAML":            "kind: [\n",
	} {
		if _, err := checkManifest(text); err == nil {
			t.Errorf("a manifest %s: accepted", name)
		}
	}
}
