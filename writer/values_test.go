package writer

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/prescaler/prescaler/scaler"
)

// js decodes a JSON object, the form values are kept in.
func js(t *testing.T, s string) map[string]any {
	t.Helper()
	if s == "" {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return m
}

func TestUserValues(t *testing.T) {
	const (
		userBehavior = `"behavior":{"scaleDown":{"stabilizationWindowSeconds":600,"selectPolicy":"Max","policies":[{"type":"Percent","value":100,"periodSeconds":15}]}}`
		// prescaler stretched the user's scale-down window to 900s.
		wroteBehavior = `"behavior":{"scaleDown":{"stabilizationWindowSeconds":900,"selectPolicy":"Max","policies":[{"type":"Percent","value":100,"periodSeconds":15}]}}`
		// a complete behavior written over a user's unset one.
		rampBehavior = `"behavior":{"scaleUp":{"stabilizationWindowSeconds":0,"selectPolicy":"Max","policies":[{"type":"Pods","value":9,"periodSeconds":15}]},"scaleDown":{"selectPolicy":"Max","policies":[{"type":"Percent","value":100,"periodSeconds":15}]}}`
	)
	tests := []struct {
		name                          string
		live, original, written, want string
		// userSet: keys another field manager co-owns with prescaler.
		userSet []string
	}{
		{
			name: "not managed yet: the live values are the user's",
			live: `{"minReplicas":2,` + userBehavior + `}`,
			want: `{"minReplicas":2,` + userBehavior + `}`,
		},
		{
			name:     "prescaler's values intact: the original stands",
			live:     `{"minReplicas":5,` + wroteBehavior + `}`,
			original: `{"minReplicas":2,` + userBehavior + `}`,
			written:  `{"minReplicas":5,` + wroteBehavior + `}`,
			want:     `{"minReplicas":2,` + userBehavior + `}`,
		},
		{
			name:     "minReplicas edited by hand: the new user floor",
			live:     `{"minReplicas":3,` + wroteBehavior + `}`,
			original: `{"minReplicas":2,` + userBehavior + `}`,
			written:  `{"minReplicas":5,` + wroteBehavior + `}`,
			want:     `{"minReplicas":3,` + userBehavior + `}`,
		},
		{
			name:     "minReplicas edited down by hand is a lower user floor",
			live:     `{"minReplicas":1}`,
			original: `{"minReplicas":2}`,
			written:  `{"minReplicas":5}`,
			want:     `{"minReplicas":1}`,
		},
		{
			name:     "one behavior field edited: only that field is the user's new value",
			live:     `{"minReplicas":5,"behavior":{"scaleDown":{"stabilizationWindowSeconds":700,"selectPolicy":"Max","policies":[{"type":"Percent","value":100,"periodSeconds":15}]}}}`,
			original: `{"minReplicas":2,` + userBehavior + `}`,
			written:  `{"minReplicas":5,` + wroteBehavior + `}`,
			want:     `{"minReplicas":2,"behavior":{"scaleDown":{"stabilizationWindowSeconds":700,"selectPolicy":"Max","policies":[{"type":"Percent","value":100,"periodSeconds":15}]}}}`,
		},
		{
			name:     "a field prescaler never writes (tolerance) is the user's as it stands",
			live:     `{"minReplicas":5,"behavior":{"scaleDown":{"stabilizationWindowSeconds":900,"selectPolicy":"Max","policies":[{"type":"Percent","value":100,"periodSeconds":15}],"tolerance":"50m"}}}`,
			original: `{"minReplicas":2,` + userBehavior + `}`,
			written:  `{"minReplicas":5,` + wroteBehavior + `}`,
			want:     `{"minReplicas":2,"behavior":{"scaleDown":{"stabilizationWindowSeconds":600,"selectPolicy":"Max","policies":[{"type":"Percent","value":100,"periodSeconds":15}],"tolerance":"50m"}}}`,
		},
		{
			name:     "behavior unset by the user stays unset under prescaler's complete behavior",
			live:     `{"minReplicas":5,` + rampBehavior + `}`,
			original: `{"minReplicas":1}`,
			written:  `{"minReplicas":5,` + rampBehavior + `}`,
			want:     `{"minReplicas":1}`,
		},
		{
			name:     "a field the user deleted is gone from the user's values",
			live:     `{"minReplicas":5,"behavior":{"scaleDown":{"selectPolicy":"Max","policies":[{"type":"Percent","value":100,"periodSeconds":15}]}}}`,
			original: `{"minReplicas":2,` + userBehavior + `}`,
			written:  `{"minReplicas":5,` + wroteBehavior + `}`,
			want:     `{"minReplicas":2,"behavior":{"scaleDown":{"selectPolicy":"Max","policies":[{"type":"Percent","value":100,"periodSeconds":15}]}}}`,
		},
		{
			name:     "a behavior the user added while prescaler wrote none is the user's",
			live:     `{"minReplicas":5,` + userBehavior + `}`,
			original: `{"minReplicas":2}`,
			written:  `{"minReplicas":5}`,
			want:     `{"minReplicas":2,` + userBehavior + `}`,
		},
		{
			name:     "minReplicas set by another manager to prescaler's own value: the user's",
			live:     `{"minReplicas":5,` + wroteBehavior + `}`,
			original: `{"minReplicas":2,` + userBehavior + `}`,
			written:  `{"minReplicas":5,` + wroteBehavior + `}`,
			userSet:  []string{keyMin},
			want:     `{"minReplicas":5,` + userBehavior + `}`,
		},
		{
			name:    "not managed yet: the live values whoever owns them",
			live:    `{"minReplicas":2}`,
			userSet: []string{keyMin},
			want:    `{"minReplicas":2}`,
		},
		{
			name:     "KEDA minReplicaCount unset by the user",
			live:     `{"minReplicas":4}`,
			original: `{}`,
			written:  `{"minReplicas":4}`,
			want:     `{}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var original, written values
			if tt.original != "" {
				original = js(t, tt.original)
			}
			if tt.written != "" {
				written = js(t, tt.written)
			}
			got := userValues(js(t, tt.live), original, written, tt.userSet...)
			if want := values(js(t, tt.want)); !reflect.DeepEqual(got, want) {
				t.Errorf("userValues =\n%s\nwant\n%s", got.annotation(), want.annotation())
			}
		})
	}
}

func TestAnnotationRoundTrip(t *testing.T) {
	for _, s := range []string{
		`{"minReplicas":2,"behavior":null}`,
		`{"minReplicas":null,"behavior":null}`,
		`{"minReplicas":3,"behavior":{"scaleDown":{"policies":[{"periodSeconds":15,"type":"Percent","value":100}],"stabilizationWindowSeconds":600,"tolerance":"50m"}}}`,
	} {
		v, err := parseAnnotation(s)
		if err != nil {
			t.Fatalf("parseAnnotation(%s): %v", s, err)
		}
		if got := v.annotation(); got != s {
			t.Errorf("round trip of %s gave %s", s, got)
		}
	}
	if _, err := parseAnnotation(`{"minReplicas":`); err == nil {
		t.Error("parseAnnotation accepted truncated JSON")
	}
}

func TestWrittenBehaviorIsComplete(t *testing.T) {
	if writtenBehavior(nil) != nil {
		t.Fatal("an unset behavior must be written as none")
	}
	b := &scaler.Behavior{ScaleUp: &scaler.Rules{
		StabilizationWindowSeconds: new(int32(0)),
		Policies:                   []scaler.Policy{{Type: scaler.PodsPolicy, Value: 9, PeriodSeconds: 15}},
	}}
	got := writtenBehavior(b)
	want := js(t, `{
		"scaleUp":{"stabilizationWindowSeconds":0,"selectPolicy":"Max","policies":[{"type":"Pods","value":9,"periodSeconds":15}]},
		"scaleDown":{"selectPolicy":"Max","policies":[{"type":"Percent","value":100,"periodSeconds":15}]}}`)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("writtenBehavior = %v\nwant %v", got, want)
	}
	// Round trip through the scaler's model.
	api, err := apiBehavior(got)
	if err != nil {
		t.Fatal(err)
	}
	if back := writtenBehavior(scalerBehavior(api)); !reflect.DeepEqual(back, got) {
		t.Errorf("round trip = %v, want %v", back, got)
	}
}

func TestMatches(t *testing.T) {
	live := js(t, `{"minReplicas":5,"behavior":{"scaleDown":{"stabilizationWindowSeconds":900,"tolerance":"50m"}}}`)
	for _, tt := range []struct {
		written string
		want    bool
	}{
		{`{"minReplicas":5}`, true},
		{`{"minReplicas":5,"behavior":{"scaleDown":{"stabilizationWindowSeconds":900}}}`, true},
		{`{"minReplicas":4}`, false},
		{`{"minReplicas":5,"behavior":{"scaleDown":{"stabilizationWindowSeconds":600}}}`, false},
		{`{"minReplicas":5,"behavior":{"scaleUp":{"stabilizationWindowSeconds":0}}}`, false},
	} {
		if got := matches(live, js(t, tt.written)); got != tt.want {
			t.Errorf("matches(live, %s) = %v, want %v", tt.written, got, tt.want)
		}
	}
}
