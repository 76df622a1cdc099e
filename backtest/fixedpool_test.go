package backtest

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// A fixed pool (NodeDelay 0) gives the numbers it gave before nodes could
// be provisioned, bit for bit: testdata/fixed_pool.golden.json was written
// by the engine before that change, and floats round-trip exactly through
// JSON. Rewrite it (-update) only for a change meant to move these numbers.
func TestFixedPoolIsUnchanged(t *testing.T) {
	o := smallOptions(synthetic(t, 9))
	o.FrontierUtilizations = []float64{0.7}
	r, err := Run(o)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Summary{}
	for _, p := range r.Policies {
		got[p.Policy] = p.Summary
	}
	for _, p := range r.FrontierRuns {
		got[fmt.Sprintf("frontier u=%.2f", p.TargetUtilization)] = p.Summary
	}
	path := filepath.Join("testdata", "fixed_pool.golden.json")
	if *update {
		b, err := json.MarshalIndent(got, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Summary{}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("%d policies, golden %d", len(got), len(want))
	}
	for name, w := range want {
		if g := got[name]; g != w {
			t.Errorf("%s: %+v\n  golden %+v", name, g, w)
		}
	}
}
