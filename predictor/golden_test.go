package predictor

import (
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/prescaler/prescaler/internal/testtraces"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden is what a fit on a real trace slice produces; it pins the model
// choice, the parameters and the forecasts, so any change in the numerics is
// a visible diff in review.
type golden struct {
	Model     string       `json:"model"`
	Params    Params       `json:"params"`
	AICc      float64      `json:"aicc"`
	Notes     []string     `json:"notes,omitempty"`
	Forecasts []goldenStep `json:"forecasts"`
}

type goldenStep struct {
	H     int     `json:"h"`
	Mean  float64 `json:"mean"`
	Lower float64 `json:"lower"`
	Upper float64 `json:"upper"`
	// Peak90 is PeakQuantile(h, 0.9), the 0.9-quantile of the peak over
	// steps 1…h.
	Peak90 float64 `json:"peak90"`
}

func TestGoldenForecasts(t *testing.T) {
	cases := []struct {
		name  string
		trace string
		step  int
		from  int // first step of the slice
		days  int
		opts  Options
	}{
		{"nasa-5m-14d", testtraces.NASA, 5, 0, 14, Options{Period: 288, Horizon: 6, Clip: 5}},
		// Ends inside the July 28 – Aug 1 hole: the forecast must follow the outage.
		{"nasa-5m-outage", testtraces.NASA, 5, 14 * 288, 14, Options{Period: 288, Horizon: 6, Clip: 5}},
		{"servegen-5m-7d", testtraces.ServeGen, 5, 0, 7, Options{Period: 288, Horizon: 6, Clip: 5}},
		{"nasa-60m-double", testtraces.NASA, 60, 0, 28, Options{Period: 24, Period2: 168, Horizon: 6, Clip: 5}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			series := testtraces.Load(t, c.trace, c.step)
			perDay := 1440 / c.step
			y := series.Values[c.from : c.from+c.days*perDay]
			m, err := Fit(y, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			got := golden{Model: m.Spec.String(), Params: m.Params, AICc: m.AICc, Notes: m.Notes}
			for h := 1; h <= c.opts.Horizon; h++ {
				fc, err := m.ForecastAt(h, 0.8)
				if err != nil {
					t.Fatal(err)
				}
				peak, err := m.PeakQuantile(h, 0.9)
				if err != nil {
					t.Fatal(err)
				}
				got.Forecasts = append(got.Forecasts, goldenStep{H: h, Mean: fc.Mean, Lower: fc.Lower, Upper: fc.Upper, Peak90: peak})
			}
			compareGolden(t, filepath.Join("testdata", c.name+".golden.json"), got)
		})
	}
}

func compareGolden(t *testing.T, path string, got golden) {
	t.Helper()
	if *update {
		data, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	var want golden
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	if got.Model != want.Model {
		t.Fatalf("model %s, golden %s", got.Model, want.Model)
	}
	// Same machine, same input: bit for bit. A tolerance of 1e-9 absorbs
	// only fused multiply-add differences between CPU architectures.
	const tol = 1e-9
	check := func(name string, g, w float64) {
		if !near(g, w, tol) {
			t.Errorf("%s = %.12g, golden %.12g", name, g, w)
		}
	}
	check("alpha", got.Params.Alpha, want.Params.Alpha)
	check("beta", got.Params.Beta, want.Params.Beta)
	check("gamma", got.Params.Gamma, want.Params.Gamma)
	check("gamma2", got.Params.Gamma2, want.Params.Gamma2)
	check("phi", got.Params.Phi, want.Params.Phi)
	check("lambda", got.Params.Lambda, want.Params.Lambda)
	check("aicc", got.AICc, want.AICc)
	if len(got.Forecasts) != len(want.Forecasts) {
		t.Fatalf("%d forecasts, golden %d", len(got.Forecasts), len(want.Forecasts))
	}
	for i, g := range got.Forecasts {
		w := want.Forecasts[i]
		check("mean", g.Mean, w.Mean)
		check("lower", g.Lower, w.Lower)
		check("upper", g.Upper, w.Upper)
		check("peak90", g.Peak90, w.Peak90)
		if math.IsNaN(g.Mean) {
			t.Errorf("h=%d mean is NaN", g.H)
		}
	}
}
