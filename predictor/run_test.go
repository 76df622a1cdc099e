package predictor

import (
	"math"
	"testing"

	"github.com/prescaler/prescaler/internal/testtraces"
)

// runSlow is run through observe alone: the reference for TestRunMatchesObserve.
func (s *state) runSlow(spec Spec, p Params, y []float64, clip float64, loss Loss) (total float64, used int) {
	for _, v := range y {
		if e, ok := s.observe(spec, p, v, clip); ok {
			total += loss.of(e)
			used++
		}
	}
	return total, used
}

// The fitting loop's fast path must give exactly what observe gives.
func TestRunMatchesObserve(t *testing.T) {
	nasa := testtraces.Load(t, testtraces.NASA, 5).Values[20*288 : 34*288] // holds the hole and zeros
	withGaps := append([]float64(nil), nasa[:4*288]...)
	for i := 7; i < len(withGaps); i += 97 {
		withGaps[i] = math.NaN()
	}
	p := Params{Alpha: 0.3, Beta: 0.05, Gamma: 0.1, Gamma2: 0.05, Phi: 0.9, Lambda: 0.4}
	for _, spec := range []Spec{
		{},
		{Trend: TrendDamped, AR1: true},
		{Season: SeasonAdditive, Period: 288, AR1: true},
		{Trend: TrendDamped, Season: SeasonAdditive, Period: 288, Period2: 576, AR1: true},
		{Season: SeasonMultiplicative, Period: 288},
		{Trend: TrendAdditive, Season: SeasonMultiplicative, Period: 288, Period2: 576, AR1: true},
	} {
		for _, y := range [][]float64{nasa, withGaps} {
			for _, clip := range []float64{0, 5} {
				for _, loss := range []Loss{LossAbsolute, LossSquared} {
					start := initialState(y, spec)
					fast, slow := start.clone(), start.clone()
					ft, fu := fast.run(spec, p, y, clip, loss)
					st, su := slow.runSlow(spec, p, y, clip, loss)
					if math.Float64bits(ft) != math.Float64bits(st) || fu != su {
						t.Errorf("%s clip %v loss %d: run = %v, %d; observe = %v, %d", spec, clip, loss, ft, fu, st, su)
					}
					if fast.level != slow.level || fast.trend != slow.trend || fast.scale != slow.scale ||
						fast.lastErr != slow.lastErr || fast.phase != slow.phase || fast.zeros != slow.zeros {
						t.Errorf("%s clip %v: final states differ:\n%+v\n%+v", spec, clip, fast, slow)
					}
				}
			}
		}
	}
}
