package testbed

import (
	"fmt"
	"os"
	"path/filepath"

	yaml "go.yaml.in/yaml/v3"
)

// Annotations read by the delayed pod-ready stage (Options.DelayedPodReady).
// They are the names kwok's own "general" pod stages use, so a pod spec
// written for them means the same here.
const (
	// PodReadyDelayAnnotation holds how long after it is bound a pod becomes
	// Ready, as a Go duration ("90s"); an RFC 3339 time is read as "until then".
	PodReadyDelayAnnotation = "pod-ready.stage.kwok.x-k8s.io/delay"
	// PodReadyJitterAnnotation, when longer than the delay, makes the delay
	// uniform between the two.
	PodReadyJitterAnnotation = "pod-ready.stage.kwok.x-k8s.io/jitter-delay"
)

// podReadyStageFile is the kwok "fast" pod-ready stage in a bin folder.
const podReadyStageFile = "pod-fast-pod-ready.yaml"

// withDelayedPodReady returns the stage files with the fast pod-ready stage
// replaced by a copy, written into dir, that waits for the delay its pod's
// annotations ask for. A pod without the annotations waits 0s, so only pods
// that ask for a delay behave differently from the fast stage.
//
// Why a rewritten copy rather than kwok's "general" stage: the general pod
// stages change every other transition too (creation, deletion, each with a
// default delay of 1-6s), and kwok picks at random among stages that match the
// same pod, so adding one beside the fast stage would not be deterministic.
func withDelayedPodReady(stages []string, dir string) ([]string, error) {
	return replaceStage(stages, podReadyStageFile, filepath.Join(dir, "pod-ready-delayed.yaml"), delayStage)
}

// replaceStage returns the stage files with the one named base replaced by
// a copy, rewritten by rewrite, at path.
func replaceStage(stages []string, base, path string, rewrite func([]byte) ([]byte, error)) ([]string, error) {
	out := make([]string, 0, len(stages))
	replaced := false
	for _, s := range stages {
		if filepath.Base(s) != base {
			out = append(out, s)
			continue
		}
		data, err := os.ReadFile(s)
		if err != nil {
			return nil, err
		}
		rewritten, err := rewrite(data)
		if err != nil {
			return nil, fmt.Errorf("kwok stage %s: %w", s, err)
		}
		if err := os.WriteFile(path, rewritten, 0o644); err != nil {
			return nil, err
		}
		out = append(out, path)
		replaced = true
	}
	if !replaced {
		return nil, fmt.Errorf("no %s among the kwok stages to rewrite", base)
	}
	return out, nil
}

// delayStage adds spec.delay to a kwok Stage: a default of 0 ms, overridden
// by the pod's delay annotation, with the jitter annotation as the upper end.
func delayStage(data []byte) ([]byte, error) {
	annotation := func(name string) map[string]any {
		return map[string]any{"expressionFrom": fmt.Sprintf(".metadata.annotations[%q]", name)}
	}
	return setStageDelay(data, map[string]any{
		"durationMilliseconds": 0,
		"durationFrom":         annotation(PodReadyDelayAnnotation),
		"jitterDurationFrom":   annotation(PodReadyJitterAnnotation),
	})
}

// setStageDelay sets a kwok Stage's spec.delay.
func setStageDelay(data []byte, delay map[string]any) ([]byte, error) {
	var stage map[string]any
	if err := yaml.Unmarshal(data, &stage); err != nil {
		return nil, err
	}
	spec, ok := stage["spec"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("no spec mapping")
	}
	spec["delay"] = delay
	return yaml.Marshal(stage)
}
