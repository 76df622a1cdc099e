package deploy

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/prescaler/prescaler/config"
)

var updateSchema = flag.Bool("update-schema", false, "rewrite the chart's values.schema.json config part from config.JSONSchema")

// The chart's schema for its config value is the config package's own
// (config.JSONSchema, made from the Go types), so a key added to the config
// is accepted by the chart and a misspelt one refused at helm install.
func TestChartConfigSchemaIsTheConfigs(t *testing.T) {
	path := filepath.Join(chartDir, "values.schema.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	want := asJSON(t, configValueSchema())
	props := schema["properties"].(map[string]any)
	if reflect.DeepEqual(props["config"], want) {
		return
	}
	if !*updateSchema {
		t.Fatalf("%s's properties.config is not config.JSONSchema(): run go test ./deploy -run %s -update-schema", path, t.Name())
	}
	props["config"] = want
	out, err := json.MarshalIndent(schema, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(out, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// configValueSchema is config.JSONSchema as a part of the values schema.
func configValueSchema() map[string]any {
	s := config.JSONSchema()
	delete(s, "$schema")
	s["description"] = "prescaler's configuration file (docs/config.md): its keys and types here; ranges and relations are checked by prescaler at start and at every reload"
	return s
}

// asJSON is v as encoding/json decodes it (numbers float64, lists []any).
func asJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
