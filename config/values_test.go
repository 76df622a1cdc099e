package config

import (
	"testing"
	"time"
)

func TestLeadTimeText(t *testing.T) {
	tests := []struct {
		in       string
		want     LeadTime
		wantText string
	}{
		{"auto", LeadTime{Auto: true}, "auto"},
		{"AUTO", LeadTime{Auto: true}, "auto"},
		{"3m", LeadTime{Duration: 3 * time.Minute}, "3m"},
		{"90s", LeadTime{Duration: 90 * time.Second}, "1m30s"},
		{"1d", LeadTime{Duration: day}, "1d"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var got LeadTime
			if err := got.UnmarshalText([]byte(tt.in)); err != nil {
				t.Fatalf("UnmarshalText(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("UnmarshalText(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if text, _ := got.MarshalText(); string(text) != tt.wantText {
				t.Errorf("MarshalText = %q, want %q", text, tt.wantText)
			}
		})
	}
	var l LeadTime
	if err := l.UnmarshalText([]byte("soon")); err == nil {
		t.Error(`UnmarshalText("soon") succeeded, want an error`)
	}
}

func TestReplicaCapacityText(t *testing.T) {
	tests := []struct {
		in       string
		want     ReplicaCapacity
		wantText string
	}{
		{"auto", ReplicaCapacity{Auto: true}, "auto"},
		{"120", ReplicaCapacity{Value: 120}, "120"},
		{"7.5", ReplicaCapacity{Value: 7.5}, "7.5"},
		{"1e3", ReplicaCapacity{Value: 1000}, "1000"},
		{"-5", ReplicaCapacity{Value: -5}, "-5"}, // rejected by Validate, which names the field
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var got ReplicaCapacity
			if err := got.UnmarshalText([]byte(tt.in)); err != nil {
				t.Fatalf("UnmarshalText(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("UnmarshalText(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if text, _ := got.MarshalText(); string(text) != tt.wantText {
				t.Errorf("MarshalText = %q, want %q", text, tt.wantText)
			}
		})
	}
	var r ReplicaCapacity
	if err := r.UnmarshalText([]byte("fast")); err == nil {
		t.Error(`UnmarshalText("fast") succeeded, want an error`)
	}
}

func TestTargetObject(t *testing.T) {
	hpa := Target{Namespace: "default", HPA: "inference-hpa"}
	if got, want := hpa.Object().String(), "HorizontalPodAutoscaler default/inference-hpa"; got != want {
		t.Errorf("Object() = %q, want %q", got, want)
	}
	keda := Target{Namespace: "ml", ScaledObject: "llm"}
	if got, want := keda.Object().String(), "ScaledObject ml/llm"; got != want {
		t.Errorf("Object() = %q, want %q", got, want)
	}
}
