package testbed

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

// The delayed pod-ready stage is the fast one plus a delay read from the
// pod's annotations; every other stage file is passed through.
func TestWithDelayedPodReady(t *testing.T) {
	dir := t.TempDir()
	ready := filepath.Join(dir, podReadyStageFile)
	other := filepath.Join(dir, "pod-fast-pod-delete.yaml")
	stage := "apiVersion: kwok.x-k8s.io/v1alpha1\nkind: Stage\nmetadata:\n  name: pod-ready\n" +
		"spec:\n  resourceRef: {apiGroup: v1, kind: Pod}\n  next:\n    statusTemplate: |\n      phase: Running\n"
	if err := os.WriteFile(ready, []byte(stage), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := withDelayedPodReady([]string{other, ready}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != other || got[1] == ready {
		t.Fatalf("stage files %v: want the delete stage kept and the ready stage replaced", got)
	}
	data, err := os.ReadFile(got[1])
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Metadata struct{ Name string }
		Spec     struct {
			Delay struct {
				DurationMilliseconds int `yaml:"durationMilliseconds"`
				DurationFrom         struct {
					ExpressionFrom string `yaml:"expressionFrom"`
				} `yaml:"durationFrom"`
				JitterDurationFrom struct {
					ExpressionFrom string `yaml:"expressionFrom"`
				} `yaml:"jitterDurationFrom"`
			}
			Next struct {
				StatusTemplate string `yaml:"statusTemplate"`
			}
		}
	}
	if err := yaml.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	d := out.Spec.Delay
	if out.Metadata.Name != "pod-ready" || d.DurationMilliseconds != 0 ||
		d.DurationFrom.ExpressionFrom != `.metadata.annotations["pod-ready.stage.kwok.x-k8s.io/delay"]` ||
		!strings.Contains(d.JitterDurationFrom.ExpressionFrom, PodReadyJitterAnnotation) ||
		out.Spec.Next.StatusTemplate != "phase: Running\n" {
		t.Errorf("delayed stage:\n%s", data)
	}
	if _, err := withDelayedPodReady([]string{other}, dir); err == nil {
		t.Error("no error without a pod-ready stage")
	}
}
