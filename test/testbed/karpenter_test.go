package testbed

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	yaml "go.yaml.in/yaml/v3"
)

// Karpenter has its own cache folder: adding it leaves the testbed's key
// (and so every existing cache) as it was.
func TestKarpenterCacheKeyIsSeparate(t *testing.T) {
	tools, err := findToolsDir()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	core, _, err := planBuild(ctx, BuildOptions{ToolsDir: tools, CacheDir: "/cache"})
	if err != nil {
		t.Fatal(err)
	}
	karp, _, err := planModules(ctx, BuildOptions{ToolsDir: tools, CacheDir: "/cache"}, []toolModule{karpenterTool.module})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(core.Key, "karpenter") {
		t.Errorf("testbed key %q names Karpenter; it must not be built by default", core.Key)
	}
	if !strings.HasPrefix(karp.Key, "karpenter-1.") || karp.Dir != filepath.Join("/cache", karp.Key, "bin") {
		t.Errorf("Karpenter key %q, folder %q; want karpenter-<version>_... under /cache", karp.Key, karp.Dir)
	}
}

func TestCheckKarpenterDir(t *testing.T) {
	dir := t.TempDir()
	err := karpenterTool.check(dir)
	if err == nil || !strings.Contains(err.Error(), "missing karpenter,") || !strings.Contains(err.Error(), "karpenter.sh_nodepools.yaml") {
		t.Errorf("empty folder: err = %v, want the binary and the CRDs named", err)
	}
	if err := os.WriteFile(filepath.Join(dir, string(Karpenter)), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, karpenterTool.configDir), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range karpenterTool.configFiles {
		if err := os.WriteFile(filepath.Join(dir, karpenterTool.configDir, filepath.Base(f)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := karpenterTool.check(dir); err != nil {
		t.Errorf("complete folder: %v", err)
	}
}

// The Karpenter tests follow their own variable and name their own make
// target; the rules are the KEDA tests' (TestDecideKEDA).
func TestDecideKarpenter(t *testing.T) {
	notBuilt := errors.New("missing karpenter")
	for _, tc := range []struct {
		mode    string
		missing error
		want    toolVerdict
		wantWhy string
	}{
		{mode: "", missing: notBuilt, want: skipTest,
			wantWhy: "Karpenter is not built (missing karpenter): run `make testbed-karpenter` (or `go run ./test/testbed/cmd/testbed build -with karpenter`), or set PRESCALER_TESTBED_KARPENTER=on"},
		{mode: "require", missing: notBuilt, want: failTest, wantWhy: "PRESCALER_TESTBED_KARPENTER=require, but Karpenter is not built"},
		{mode: "require", want: runTest},
		{mode: "on", missing: notBuilt, want: buildFirst},
		{mode: "off", want: skipTest, wantWhy: "PRESCALER_TESTBED_KARPENTER=off: tests of Karpenter are turned off"},
	} {
		got, why := karpenterTool.decide(tc.mode, false, func() error { return tc.missing })
		if got != tc.want || !strings.Contains(why, tc.wantWhy) {
			t.Errorf("mode %q: verdict %d (%q), want %d with %q", tc.mode, got, why, tc.want, tc.wantWhy)
		}
	}
}

// The instance types file has the shape of the kwok provider's own
// kwok/cloudprovider/instance_types.json.
func TestInstanceTypesJSON(t *testing.T) {
	data, err := instanceTypesJSON([]InstanceType{GPUInstanceType("gpu-4x", 4)})
	if err != nil {
		t.Fatal(err)
	}
	var got []struct {
		Name      string `json:"name"`
		Offerings []struct {
			Price        float64
			Available    bool
			Requirements []struct {
				Key      string   `json:"key"`
				Operator string   `json:"operator"`
				Values   []string `json:"values"`
			}
		} `json:"offerings"`
		Architecture     string            `json:"architecture"`
		OperatingSystems []string          `json:"operatingSystems"`
		Resources        map[string]string `json:"resources"`
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Offerings) != 1 {
		t.Fatalf("instance types:\n%s", data)
	}
	it, off := got[0], got[0].Offerings[0]
	reqs := map[string]string{}
	for _, r := range off.Requirements {
		if r.Operator != "In" || len(r.Values) != 1 {
			t.Errorf("requirement %+v: want In one value", r)
		}
		reqs[r.Key] = strings.Join(r.Values, ",")
	}
	if it.Name != "gpu-4x" || it.Architecture != "amd64" || strings.Join(it.OperatingSystems, ",") != "linux" ||
		it.Resources["nvidia.com/gpu"] != "4" || it.Resources["cpu"] != "32" || it.Resources["memory"] != "256Gi" ||
		off.Price != 4 || !off.Available ||
		reqs["karpenter.sh/capacity-type"] != "on-demand" || reqs["topology.kubernetes.io/zone"] != karpenterZone {
		t.Errorf("instance types:\n%s", data)
	}
}

func TestKarpenterOptionsValidate(t *testing.T) {
	gpu := GPUInstanceType("gpu-4x", 4)
	for _, tc := range []struct {
		name    string
		opts    KarpenterOptions
		wantErr string
	}{
		{name: "defaults", opts: KarpenterOptions{}.withDefaults()},
		{name: "negative delay", opts: KarpenterOptions{NodeReadyDelay: -time.Second}, wantErr: "NodeReadyDelay must not be negative"},
		{name: "repeated name", opts: KarpenterOptions{InstanceTypes: []InstanceType{gpu, gpu}}, wantErr: `InstanceTypes[1].Name "gpu-4x" is repeated`},
		{name: "no resources", opts: KarpenterOptions{InstanceTypes: []InstanceType{{Name: "x"}}}, wantErr: "InstanceTypes[0] (x) has no Resources"},
	} {
		err := Options{Karpenter: &tc.opts}.Validate()
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.wantErr)
		}
	}
	if d := (KarpenterOptions{}).withDefaults(); len(d.InstanceTypes) != 1 || d.InstanceTypes[0].Name != "gpu-4x" {
		t.Errorf("default instance types %+v, want gpu-4x alone", d.InstanceTypes)
	}
}

func TestNodePoolObject(t *testing.T) {
	np := nodePool(NodePoolSpec{Name: "gpu", GPULimit: 8, ConsolidateAfter: 1500 * time.Millisecond})
	get := func(path ...string) any {
		v, _, err := unstructured.NestedFieldNoCopy(np.Object, path...)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		path []string
		want any
	}{
		{[]string{"spec", "limits", "nvidia.com/gpu"}, "8"},
		{[]string{"spec", "disruption", "consolidationPolicy"}, "WhenEmpty"},
		{[]string{"spec", "disruption", "consolidateAfter"}, "2s"},
		{[]string{"spec", "template", "spec", "nodeClassRef", "kind"}, "KWOKNodeClass"},
		{[]string{"spec", "template", "spec", "nodeClassRef", "name"}, "gpu"},
	} {
		if got := get(c.path...); got != c.want {
			t.Errorf("%s = %v, want %v", strings.Join(c.path, "."), got, c.want)
		}
	}
	never := nodePool(NodePoolSpec{Name: "gpu"})
	if v, _, _ := unstructured.NestedString(never.Object, "spec", "disruption", "consolidateAfter"); v != "Never" {
		t.Errorf("no ConsolidateAfter: consolidateAfter = %q, want Never", v)
	}
	if _, found, _ := unstructured.NestedMap(never.Object, "spec", "limits"); found {
		t.Error("no GPULimit: spec.limits is set")
	}
}

// The delayed node-initialize stage is the fast one plus a delay until the
// creation of one of Karpenter's nodes plus the delay; the other stage files
// are passed through.
func TestWithDelayedNodeReady(t *testing.T) {
	dir := t.TempDir()
	initialize := filepath.Join(dir, nodeInitializeStageFile)
	heartbeat := filepath.Join(dir, "node-heartbeat-node-heartbeat.yaml")
	stage := "apiVersion: kwok.x-k8s.io/v1alpha1\nkind: Stage\nmetadata:\n  name: node-initialize\n" +
		"spec:\n  resourceRef: {apiGroup: v1, kind: Node}\n  next:\n    statusTemplate: |\n      phase: Running\n"
	if err := os.WriteFile(initialize, []byte(stage), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := withDelayedNodeReady([]string{initialize, heartbeat}, dir, 19500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] == initialize || got[1] != heartbeat {
		t.Fatalf("stage files %v: want the initialize stage replaced and the heartbeat stage kept", got)
	}
	data, err := os.ReadFile(got[0])
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Metadata struct{ Name string }
		Spec     struct {
			Delay struct {
				DurationMilliseconds int `yaml:"durationMilliseconds"`
				DurationFrom         struct {
					JQ struct{ Expression string } `yaml:"jq"`
				} `yaml:"durationFrom"`
			}
			Next struct {
				StatusTemplate string `yaml:"statusTemplate"`
			}
		}
	}
	if err := yaml.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	want := `if .metadata.labels["karpenter.sh/nodepool"] then (.metadata.creationTimestamp | fromdate) + 20 | todate else empty end`
	if out.Metadata.Name != "node-initialize" || out.Spec.Delay.DurationMilliseconds != 0 ||
		out.Spec.Delay.DurationFrom.JQ.Expression != want || out.Spec.Next.StatusTemplate != "phase: Running\n" {
		t.Errorf("delayed stage:\n%s\nwant the expression %s", data, want)
	}
}
