package config

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzParse: whatever the bytes, Parse either returns an error or a config
// that passes Validate and that YAML prints as a document Parse reads back
// to the same config. It never panics and never accepts a value it had to
// wrap around.
func FuzzParse(f *testing.F) {
	isolateEnv(f)
	for _, seed := range []string{
		minimalYAML,
		string(Example()),
		"interval: 15250w106751d71h34m34s\n" + minimalYAML,
		minimalYAML + "    bounds: {minReplicas: 4294967298, maxReplicas: 4294967306}\n",
		minimalYAML + "    forecast: {history: 300000d, step: 1.5m, season: 1d}\n",
		minimalYAML + "    leadTime: auto\n    replicaCapacity: auto\n    fallbackReplicaCapacity: 1e308\n",
		minimalYAML + "---\ninterval: 5s\n",
		"prometheus: {url: \"http://u:p@prom:9090\"}\n" + minimalYAML,
		"targets: [{name: a, namespace: b, hpa: c, queries: {demand: d}, replicaCapacity: -1e999}]\n",
		"interval: 1e-9h\n", "interval: [1]\n", "- a\n", "a: &x [*x]\n", "{", "",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that Validate refuses: %v", err)
		}
		text, err := cfg.YAML()
		if err != nil {
			t.Fatalf("YAML: %v", err)
		}
		back, err := Parse(text)
		if err != nil {
			t.Fatalf("Parse(YAML()): %v\n%s", err, text)
		}
		if !reflect.DeepEqual(back, cfg) {
			t.Fatalf("round trip changed the config:\n%s", text)
		}
	})
}
