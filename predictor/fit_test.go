package predictor

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/prescaler/prescaler/trace"
)

// simulateAdditive draws n observations from ETS(A,N,A)+AR1 with the given
// parameters, written out from the model equations independently of the
// filter code: y = l + s + e, e = λ e₋₁ + ε, l += α e, s += γ e.
func simulateAdditive(seed uint64, n, period int, alpha, gamma, lambda, sigma float64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 7))
	level := 1000.0
	season := make([]float64, period)
	for j := range season {
		season[j] = 100 * math.Sin(2*math.Pi*float64(j)/float64(period))
	}
	y := make([]float64, n)
	prevErr := 0.0
	for t := range y {
		j := t % period
		e := lambda*prevErr + sigma*rng.NormFloat64()
		y[t] = level + season[j] + e
		level += alpha * e
		season[j] += gamma * e
		prevErr = e
	}
	return y
}

func TestRecoversKnownParameters(t *testing.T) {
	cases := []struct {
		name                 string
		alpha, gamma, lambda float64
		spec                 Spec
	}{
		{"ETS(A,N,A)", 0.3, 0.15, 0, Spec{Season: SeasonAdditive, Period: 12}},
		{"ETS(A,N,A) slow level", 0.05, 0.3, 0, Spec{Season: SeasonAdditive, Period: 12}},
		{"ETS(A,N,A)+AR1", 0.2, 0.1, 0.6, Spec{Season: SeasonAdditive, Period: 12, AR1: true}},
	}
	for _, c := range cases {
		for _, loss := range []Loss{LossSquared, LossAbsolute} {
			t.Run(c.name+"/"+[]string{"absolute", "squared"}[loss], func(t *testing.T) {
				y := simulateAdditive(42, 12*400, 12, c.alpha, c.gamma, c.lambda, 10)
				m, err := FitSpec(y, c.spec, Options{Loss: loss})
				if err != nil {
					t.Fatal(err)
				}
				const tol = 0.06
				if math.Abs(m.Params.Alpha-c.alpha) > tol || math.Abs(m.Params.Gamma-c.gamma) > tol ||
					math.Abs(m.Params.Lambda-c.lambda) > 2*tol {
					t.Errorf("fitted %s, want alpha=%v gamma=%v lambda=%v (±%v)", m.Params, c.alpha, c.gamma, c.lambda, tol)
				}
			})
		}
	}
}

func TestRecoversDampedTrend(t *testing.T) {
	// ETS(A,Ad,N): l += φb + αe, b = φb + βe.
	rng := rand.New(rand.NewPCG(3, 3))
	level, slope := 500.0, 2.0
	alpha, beta, phi := 0.4, 0.1, 0.9
	y := make([]float64, 3000)
	for t := range y {
		e := 5 * rng.NormFloat64()
		y[t] = level + phi*slope + e
		level += phi*slope + alpha*e
		slope = phi*slope + beta*e
	}
	m, err := FitSpec(y, Spec{Trend: TrendDamped}, Options{Loss: LossSquared})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(m.Params.Alpha-alpha) > 0.06 || math.Abs(m.Params.Beta-beta) > 0.06 || math.Abs(m.Params.Phi-phi) > 0.06 {
		t.Errorf("fitted %s, want alpha=%v beta=%v phi=%v", m.Params, alpha, beta, phi)
	}
}

func TestIntervalCoverageOnSimulatedData(t *testing.T) {
	y := simulateAdditive(9, 24*300, 24, 0.2, 0.1, 0.3, 10)
	train, test := y[:24*200], y[24*200:]
	const h = 3
	m, err := Fit(train, Options{Period: 24, Horizon: h})
	if err != nil {
		t.Fatal(err)
	}
	inside, total := 0, 0
	for i := 0; i+h-1 < len(test); i++ {
		fc, err := m.ForecastAt(h, 0.8)
		if err != nil {
			t.Fatal(err)
		}
		if v := test[i+h-1]; fc.Lower <= v && v <= fc.Upper {
			inside++
		}
		total++
		m.Update(test[i])
	}
	if cov := float64(inside) / float64(total); cov < 0.75 || cov > 0.85 {
		t.Errorf("80%% interval coverage %.3f, want 0.75–0.85", cov)
	}
}

func TestSelectsMultiplicativeForScalingSeason(t *testing.T) {
	// The seasonal swing is proportional to a level that doubles: a
	// multiplicative season describes it, an additive one does not.
	rng := rand.New(rand.NewPCG(5, 5))
	const period = 24
	y := make([]float64, period*60)
	for i := range y {
		level := 100 * math.Pow(2, float64(i)/float64(len(y)))
		y[i] = level * (1 + 0.6*math.Sin(2*math.Pi*float64(i%period)/period)) * (1 + 0.02*rng.NormFloat64())
	}
	m, err := Fit(y, Options{Period: period})
	if err != nil {
		t.Fatal(err)
	}
	if m.Spec.Season != SeasonMultiplicative {
		t.Errorf("selected %s, want a multiplicative season", m.Spec)
	}
}

func TestShortHistoryFallsBackToNonSeasonal(t *testing.T) {
	y := simulateAdditive(1, 30, 24, 0.3, 0.1, 0, 5)
	m, err := Fit(y, Options{Period: 24})
	if err != nil {
		t.Fatal(err)
	}
	if m.Spec.Season != SeasonNone {
		t.Errorf("spec %s with 30 steps and period 24, want non-seasonal", m.Spec)
	}
	if !hasNote(m, "non-seasonal model") {
		t.Errorf("notes %q do not say the model is non-seasonal", m.Notes)
	}
}

func TestZerosRuleOutMultiplicativeSeason(t *testing.T) {
	y := simulateAdditive(2, 24*20, 24, 0.2, 0.1, 0, 5)
	y[100] = 0
	m, err := Fit(y, Options{Period: 24})
	if err != nil {
		t.Fatal(err)
	}
	if m.Spec.Season != SeasonAdditive || !hasNote(m, "multiplicative season skipped") {
		t.Errorf("spec %s notes %q: want additive with a note on zeros", m.Spec, m.Notes)
	}
}

func TestMissingValuesAreFilledAndCounted(t *testing.T) {
	y := simulateAdditive(4, 24*20, 24, 0.2, 0.1, 0, 5)
	for _, i := range []int{0, 50, 51, 52, 300, len(y) - 1} {
		y[i] = math.NaN()
	}
	m, err := Fit(y, Options{Period: 24})
	if err != nil {
		t.Fatal(err)
	}
	if m.Filled != 6 {
		t.Errorf("Filled = %d, want 6", m.Filled)
	}
	m.Update(math.NaN())
	if m.Filled != 7 {
		t.Errorf("Filled after a missing update = %d, want 7", m.Filled)
	}
	if p := m.Point(1); math.IsNaN(p) {
		t.Error("forecast is NaN after missing values")
	}
}

func TestOutageKeepsProfile(t *testing.T) {
	// Three weeks of hourly synthetic demand; day 15 and 16 are an outage.
	opts := trace.DefaultSynthOptions()
	opts.Days, opts.BurstsPerDay = 21, 0
	minutes, err := trace.Synthesize(opts)
	if err != nil {
		t.Fatal(err)
	}
	hourly, _ := minutes.Aggregate(60)
	clean := hourly.Values
	broken := append([]float64(nil), clean...)
	for i := 15 * 24; i < 17*24; i++ {
		broken[i] = 0
	}
	// Fit on the first two weeks, then feed days 15–21 one hour at a time and
	// compare one-step errors on the last four days, from the second hour of
	// returning traffic (the first was forecast during the outage, as zero).
	errorsAfter := func(y []float64, hasOutage bool) (mae float64, outageSeen bool) {
		m, err := Fit(y[:14*24], Options{Period: 24})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for i := 14 * 24; i < len(y); i++ {
			if i > 17*24 {
				mae += math.Abs(m.Point(1) - y[i])
				n++
			}
			if hasOutage && i >= 15*24+2 && i < 17*24 {
				fc, _ := m.ForecastAt(1, 0.8)
				outageSeen = outageSeen || fc.Outage
				if fc.Mean != 0 || fc.Upper <= 0 {
					t.Fatalf("during the outage forecast %+v, want mean 0 and the normal upper bound", fc)
				}
			}
			m.Update(y[i])
		}
		return mae / float64(n), outageSeen
	}
	base, _ := errorsAfter(clean, false)
	after, seen := errorsAfter(broken, true)
	if !seen {
		t.Error("a two-day run of zeros was not reported as an outage")
	}
	if after > 1.1*base {
		t.Errorf("MAE after the outage %.1f, without it %.1f: the outage damaged the model", after, base)
	}
}

func TestForecastsNeverNegative(t *testing.T) {
	y := make([]float64, 200)
	for i := range y {
		y[i] = math.Max(0, 1000-6*float64(i)) // falls to zero and stays
	}
	y[len(y)-1] = 1
	m, err := Fit(y, Options{Trends: []Trend{TrendAdditive}, Horizon: 5})
	if err != nil {
		t.Fatal(err)
	}
	for h := 1; h <= 50; h++ {
		fc, err := m.ForecastAt(h, 0.95)
		if err != nil {
			t.Fatal(err)
		}
		if fc.Mean < 0 || fc.Lower < 0 || fc.Upper < fc.Lower {
			t.Fatalf("h=%d forecast %+v", h, fc)
		}
	}
}

func TestBadInputNamesTheValue(t *testing.T) {
	cases := []struct {
		name string
		y    []float64
		opts Options
		want string
	}{
		{"negative", []float64{1, 2, -3, 4, 5}, Options{}, "y[2] = -3 is negative"},
		{"infinite", []float64{1, math.Inf(1), 3, 4, 5}, Options{}, "y[1] = +Inf is not finite"},
		{"all missing", []float64{math.NaN(), math.NaN()}, Options{}, "no finite observation"},
		{"too short", []float64{1, 2}, Options{}, "2 observations, need at least 4"},
		{"period one", []float64{1, 2, 3, 4, 5}, Options{Period: 1}, "period 1 must be 0 (none) or at least 2"},
		{"period2 not a multiple", make([]float64, 100), Options{Period: 4, Period2: 10}, "period2 10 must be a multiple of period 4"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Fit(c.y, c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestQuantileArguments(t *testing.T) {
	m, err := Fit(simulateAdditive(1, 100, 10, 0.2, 0.1, 0, 3), Options{Period: 10, Horizon: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []float64{0, 1, -0.1, math.NaN()} {
		if _, err := m.Quantile(1, q); err == nil {
			t.Errorf("Quantile(1, %v) gave no error", q)
		}
	}
	if _, err := m.Quantile(0, 0.5); err == nil {
		t.Error("Quantile(0, 0.5) gave no error")
	}
	q50, _ := m.Quantile(1, 0.5)
	q90, _ := m.Quantile(1, 0.9)
	q99, _ := m.Quantile(4, 0.9) // beyond the calibrated horizon: wider
	if !(q50 < q90 && q90 < q99) {
		t.Errorf("quantiles not increasing: q50=%v q90=%v q90(h=4)=%v", q50, q90, q99)
	}
}

func TestDeterministic(t *testing.T) {
	y := simulateAdditive(11, 24*30, 24, 0.2, 0.1, 0.3, 10)
	a, errA := Fit(y, Options{Period: 24, Horizon: 4, Clip: 5})
	b, errB := Fit(y, Options{Period: 24, Horizon: 4, Clip: 5})
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if a.Params != b.Params || math.Float64bits(a.AICc) != math.Float64bits(b.AICc) {
		t.Fatalf("two fits differ: %s / %s", a, b)
	}
	for h := 1; h <= 4; h++ {
		fa, _ := a.ForecastAt(h, 0.8)
		fb, _ := b.ForecastAt(h, 0.8)
		if fa != fb {
			t.Errorf("h=%d forecasts differ: %+v / %+v", h, fa, fb)
		}
	}
}

func TestUpdateDoesNotAllocate(t *testing.T) {
	y := simulateAdditive(12, 24*30, 24, 0.2, 0.1, 0.3, 10)
	m, err := Fit(y, Options{Period: 24, Period2: 168, Horizon: 2})
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	if allocs := testing.AllocsPerRun(1000, func() { m.Update(y[i%len(y)]); i++ }); allocs != 0 {
		t.Errorf("Update allocates %v times per call", allocs)
	}
}

func TestDoubleSeasonLearnsTheWeekend(t *testing.T) {
	opts := trace.DefaultSynthOptions()
	opts.Days, opts.WeekendFactor, opts.BurstsPerDay, opts.TrendPerDay = 28, 0.5, 0, 0
	minutes, err := trace.Synthesize(opts)
	if err != nil {
		t.Fatal(err)
	}
	hourly, _ := minutes.Aggregate(60)
	// Fit on three weeks ending on a Friday midnight; forecast the weekend.
	y := hourly.Values[:19*24]
	m, err := Fit(y, Options{Period: 24, Period2: 168, Horizon: 1})
	if err != nil {
		t.Fatal(err)
	}
	if m.Spec.Period2 != 168 {
		t.Fatalf("spec %s, want a weekly second season", m.Spec)
	}
	weekday := hourly.Values[18*24+12] // Friday noon, observed
	saturday := m.Point(24 + 12)       // Saturday noon, forecast
	if saturday > 0.7*weekday {
		t.Errorf("Saturday noon forecast %.0f vs Friday noon %.0f: the weekend dip was not learned", saturday, weekday)
	}
}

func hasNote(m *Model, substr string) bool {
	for _, n := range m.Notes {
		if strings.Contains(n, substr) {
			return true
		}
	}
	return false
}

func TestProfileSmoothingFollowsTheData(t *testing.T) {
	const period, cycles = 288, 8
	rng := rand.New(rand.NewPCG(8, 8))
	smoothNoisy := make([]float64, period*cycles)
	sharpClean := make([]float64, period*cycles)
	for i := range smoothNoisy {
		phase := float64(i%period) / period
		smoothNoisy[i] = 50*math.Sin(2*math.Pi*phase) + 40*rng.NormFloat64()
		if i%period%2 == 0 { // alternates every step: any smoothing hurts
			sharpClean[i] = 30
		} else {
			sharpClean[i] = -30
		}
	}
	if half := profileSmoothing(smoothNoisy, period, 0); half == 0 {
		t.Error("a smooth profile under heavy noise was not smoothed")
	}
	if half := profileSmoothing(sharpClean, period, 0); half != 0 {
		t.Errorf("a sharp, noiseless profile was smoothed over ±%d steps", half)
	}
}
