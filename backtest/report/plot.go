package report

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/prescaler/prescaler/backtest"
)

// PlotOptions choose what the timeline plot shows.
type PlotOptions struct {
	// ReplicaCapacity is the requests per minute one Ready replica serves; it
	// turns ready replicas into capacity on the demand's scale.
	ReplicaCapacity float64
	// Day is the day of the evaluation to plot, 1 for the first; 0 picks
	// the day with the highest demand peak.
	Day int
}

// Image size and resolution: 100 dpi, so a point is 100/72 pixels and the
// 12-point text below is about 17 pixels high.
const (
	plotDPI       = 100
	minutesPerDay = 24 * 60
)

// Okabe–Ito colours, distinguishable with the common colour-vision
// deficiencies, one per policy wherever it appears.
var (
	colorDemand    = color.RGBA{R: 90, G: 90, B: 90, A: 255}
	colorDemandBG  = color.RGBA{R: 215, G: 215, B: 215, A: 255}
	colorReactive  = color.RGBA{R: 213, G: 94, B: 0, A: 255}
	colorPrescaler = color.RGBA{R: 0, G: 114, B: 178, A: 255}
	colorOracle    = color.RGBA{R: 0, G: 158, B: 115, A: 255}
	colorYesterday = color.RGBA{R: 204, G: 121, B: 167, A: 255}
	colorFrontier  = color.RGBA{R: 120, G: 120, B: 120, A: 255}
	colorPerfect   = color.RGBA{R: 86, G: 180, B: 233, A: 255}
)

// EvalDays is the number of days of the evaluation, a partial last day
// included.
func EvalDays(res *backtest.Result) int {
	return (res.EvalMinutes + minutesPerDay - 1) / minutesPerDay
}

// PeakDay is the day of the evaluation (1 for the first) that holds the
// minute of highest demand; the first such day on a tie, 0 without a
// timeline.
func PeakDay(res *backtest.Result) int {
	rows := demandRows(res)
	day, peak := 0, math.Inf(-1)
	for _, r := range rows {
		if r.Demand > peak {
			peak = r.Demand
			day = int(r.UnixMinute-res.EvalStart)/minutesPerDay + 1
		}
	}
	return day
}

// demandRows is any policy's timeline: they all replay the same demand.
func demandRows(res *backtest.Result) []backtest.Row {
	for _, p := range res.Policies {
		if len(p.Timeline) > 0 {
			return p.Timeline
		}
	}
	return nil
}

// WriteTimelinePNG draws one day of the evaluation in three panels: demand
// against the Ready capacity of reactive, prescaler and oracle (demand above
// a policy's line is load it could not serve); the replicas each scheduled,
// with prescaler's floor; and a two-hour close-up of the first panel around
// the day's peak minute, where the start-up delay shows. It returns the day
// drawn.
func WriteTimelinePNG(w io.Writer, res *backtest.Result, o PlotOptions) (int, error) {
	if len(demandRows(res)) == 0 {
		return 0, errors.New("plot: the backtest kept no per-minute rows (run it with Options.Timeline)")
	}
	if !(o.ReplicaCapacity > 0) {
		return 0, fmt.Errorf("plot: replica capacity %v must be positive", o.ReplicaCapacity)
	}
	day, what, err := o.day(res)
	if err != nil {
		return 0, err
	}
	first := res.EvalStart + int64(day-1)*minutesPerDay
	dayStart := time.Unix(first*60, 0).UTC()
	whole := window{start: dayStart, from: first, to: first + minutesPerDay, labelEvery: 180, tickEvery: 60}
	peak := first
	peakDemand := math.Inf(-1)
	for _, r := range demandRows(res) {
		if whole.contains(r.UnixMinute) && r.Demand > peakDemand {
			peak, peakDemand = r.UnixMinute, r.Demand
		}
	}
	// Two hours centred on the peak, shifted to stay inside the day.
	from := min(max(first, peak-60), first+minutesPerDay-120)
	zoom := window{start: dayStart, from: from, to: from + 120, labelEvery: 15, tickEvery: 5}

	capTitle := "Demand and Ready capacity (Ready replicas × %s req/min), %s"
	top, err := capacityPanel(res, o, whole, fmt.Sprintf(capTitle, trimNum(o.ReplicaCapacity), what))
	if err != nil {
		return 0, err
	}
	middle, err := replicasPanel(res, whole)
	if err != nil {
		return 0, err
	}
	bottom, err := capacityPanel(res, o, zoom, fmt.Sprintf("Close-up: two hours around the day's peak minute (%s, %s requests)",
		time.Unix(peak*60, 0).UTC().Format("15:04"), trimNum(peakDemand)))
	if err != nil {
		return 0, err
	}
	bottom.X.Label.Text = fmt.Sprintf("time of day, UTC (%s)", dayStart.Format("Monday 2006-01-02"))

	const width, height = 14 * vg.Inch, 14 * vg.Inch
	img := vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(plotDPI))
	tiles := draw.Tiles{Rows: 3, Cols: 1, PadY: vg.Points(20), PadTop: vg.Points(10), PadBottom: vg.Points(10),
		PadLeft: vg.Points(10), PadRight: vg.Points(24)}
	panels := [][]*plot.Plot{{top}, {middle}, {bottom}}
	canvases := plot.Align(panels, tiles, draw.New(img))
	for i, row := range panels {
		row[0].Draw(canvases[i][0])
	}
	_, err = vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return day, err
}

// day is the day to draw and how the title describes it.
func (o PlotOptions) day(res *backtest.Result) (int, string, error) {
	days := EvalDays(res)
	if o.Day == 0 {
		d := PeakDay(res)
		return d, fmt.Sprintf("day %d of %d, the day with the highest demand peak", d, days), nil
	}
	if o.Day < 0 || o.Day > days {
		return 0, "", fmt.Errorf("plot: day %d is outside the evaluation's %d days", o.Day, days)
	}
	return o.Day, fmt.Sprintf("day %d of %d", o.Day, days), nil
}

// window is a span of minutes drawn against the time of day: x is hours
// since start, labelled every labelEvery minutes and ticked every tickEvery.
type window struct {
	start                 time.Time
	from, to              int64 // unix minutes, to excluded
	labelEvery, tickEvery int
}

func (w window) contains(minute int64) bool { return minute >= w.from && minute < w.to }

func (w window) x(minute int64) float64 {
	return float64(minute-w.start.Unix()/60) / 60
}

// ticker labels the clock time every labelEvery minutes.
func (w window) ticker() plot.Ticker {
	return plot.TickerFunc(func(lo, hi float64) []plot.Tick {
		var ticks []plot.Tick
		for m := int(math.Ceil(lo*60/float64(w.tickEvery))) * w.tickEvery; float64(m) <= hi*60+1e-9; m += w.tickEvery {
			t := plot.Tick{Value: float64(m) / 60}
			if m%w.labelEvery == 0 {
				t.Label = w.start.Add(time.Duration(m) * time.Minute).Format("15:04")
			}
			ticks = append(ticks, t)
		}
		return ticks
	})
}

// panel is a plot over the window's time axis.
func (w window) panel(title, yLabel string) *plot.Plot {
	p := newPlot(title)
	p.Y.Label.Text = yLabel
	p.X.Min, p.X.Max = w.x(w.from), w.x(w.to)
	p.Y.Min = 0
	p.X.Tick.Marker = w.ticker()
	p.Legend.Top, p.Legend.Left = true, true
	return p
}

// timelinePolicies are the policies the timeline plot draws, in drawing order.
var timelinePolicies = []struct {
	policy string
	color  color.Color
	dashes []vg.Length
}{
	{backtest.Reactive, colorReactive, nil},
	{backtest.Prescaler, colorPrescaler, nil},
	{backtest.Oracle, colorOracle, []vg.Length{vg.Points(6), vg.Points(3)}},
}

// policyLabel names a policy in a legend, with its HPA target if it has one.
func policyLabel(p *backtest.PolicyResult) string {
	if p.TargetUtilization > 0 {
		return fmt.Sprintf("%s (HPA target %.2f)", p.Policy, p.TargetUtilization)
	}
	return p.Policy
}

// series is one column of a policy's timeline within the window.
func (w window) series(rows []backtest.Row, value func(backtest.Row) float64) plotter.XYs {
	var xys plotter.XYs
	for _, r := range rows {
		if w.contains(r.UnixMinute) {
			xys = append(xys, plotter.XY{X: w.x(r.UnixMinute), Y: value(r)})
		}
	}
	return xys
}

// capacityPanel draws demand (a grey area) and each policy's Ready capacity.
func capacityPanel(res *backtest.Result, o PlotOptions, w window, title string) (*plot.Plot, error) {
	p := w.panel(title, "requests per minute")
	p.Y.Tick.Marker = denseTicks{}
	dl, err := plotter.NewLine(w.series(demandRows(res), func(r backtest.Row) float64 { return r.Demand }))
	if err != nil {
		return nil, err
	}
	dl.Color, dl.Width, dl.FillColor = colorDemand, vg.Points(0.8), colorDemandBG
	p.Add(dl)
	p.Legend.Add("demand", dl)
	for _, s := range timelinePolicies {
		r := res.Policy(s.policy)
		if r == nil || len(r.Timeline) == 0 {
			continue
		}
		l, err := stepLine(w.series(r.Timeline, func(r backtest.Row) float64 { return float64(r.Ready) * o.ReplicaCapacity }),
			s.color, 2, s.dashes)
		if err != nil {
			return nil, err
		}
		p.Add(l)
		p.Legend.Add(policyLabel(r)+" Ready capacity", l)
	}
	p.Y.Max *= 1.3 // head room for the legend
	return p, nil
}

// replicasPanel draws each policy's scheduled replicas and prescaler's floor.
func replicasPanel(res *backtest.Result, w window) (*plot.Plot, error) {
	p := w.panel("Replicas scheduled (Ready or starting) and prescaler's floor (the minReplicas it writes)", "replicas")
	p.Y.Tick.Marker = integerTicks{}
	for _, s := range timelinePolicies {
		r := res.Policy(s.policy)
		if r == nil || len(r.Timeline) == 0 {
			continue
		}
		l, err := stepLine(w.series(r.Timeline, func(r backtest.Row) float64 { return float64(r.Replicas) }), s.color, 2, s.dashes)
		if err != nil {
			return nil, err
		}
		p.Add(l)
		p.Legend.Add(policyLabel(r), l)
		if s.policy == backtest.Prescaler {
			f, err := stepLine(w.series(r.Timeline, func(r backtest.Row) float64 { return float64(r.Floor) }),
				s.color, 1.2, []vg.Length{vg.Points(2), vg.Points(2)})
			if err != nil {
				return nil, err
			}
			p.Add(f)
			p.Legend.Add("prescaler floor (minReplicas)", f)
		}
	}
	p.Y.Max *= 1.3
	return p, nil
}

// WriteFrontierPNG draws overloaded minutes against GPU-hours: every
// reactive frontier run labelled with its target utilization, the Pareto
// frontier joining the best of them, and the main policies on top. The
// overload axis is logarithmic in 1+minutes, so that 0 (the oracle) and
// thousands (a saturated HPA) both fit.
func WriteFrontierPNG(w io.Writer, res *backtest.Result) error {
	if len(res.FrontierRuns) == 0 {
		return errors.New("plot: the backtest has no frontier runs")
	}
	p := newPlot(fmt.Sprintf("Overloaded minutes against GPU-hours over %s of evaluation:\n"+
		"the HPA alone at each target utilization (grey) and the floor policies",
		daysText(res.EvalMinutes)))
	p.X.Label.Text = "GPU-hours"
	p.Y.Label.Text = "overloaded minutes (log scale)"
	p.Y.Tick.Marker = overloadTicks{}
	p.X.Tick.Marker = denseTicks{}
	p.Legend.Top = true

	var runs plotter.XYLabels
	maxY := 0.0
	for _, r := range res.FrontierRuns {
		y := overloadY(float64(r.Summary.OverloadedMinutes))
		runs.XYs = append(runs.XYs, plotter.XY{X: r.Summary.GPUHours, Y: y})
		runs.Labels = append(runs.Labels, fmt.Sprintf("%.2f", r.TargetUtilization))
		maxY = max(maxY, y)
	}
	// The comparison interpolates the frontier linearly in minutes
	// (backtest.OverloadAt); drawn point to point on the log axis the
	// segments would bow the other way, so each is drawn through 32
	// interpolated points, and a policy below the line is one that beats
	// the frontier in the table too.
	var pareto plotter.XYs
	for i, f := range res.Frontier {
		if i > 0 {
			prev := res.Frontier[i-1]
			for k := 1; k < 32; k++ {
				frac := float64(k) / 32
				pareto = append(pareto, plotter.XY{X: prev.GPUHours + frac*(f.GPUHours-prev.GPUHours),
					Y: overloadY(prev.OverloadedMinutes + frac*(f.OverloadedMinutes-prev.OverloadedMinutes))})
			}
		}
		pareto = append(pareto, plotter.XY{X: f.GPUHours, Y: overloadY(f.OverloadedMinutes)})
	}
	if len(pareto) > 1 {
		l, err := plotter.NewLine(pareto)
		if err != nil {
			return err
		}
		l.Color, l.Width = colorFrontier, vg.Points(1.5)
		p.Add(l)
		p.Legend.Add("Pareto frontier of the reactive HPA (linear between runs)", l)
	}
	if err := addGrid(p, res, &maxY); err != nil {
		return err
	}
	sc, err := plotter.NewScatter(runs)
	if err != nil {
		return err
	}
	sc.GlyphStyle = draw.GlyphStyle{Color: colorFrontier, Radius: vg.Points(4), Shape: draw.RingGlyph{}}
	p.Add(sc)
	p.Legend.Add("reactive HPA run (label: target utilization)", sc)
	labels, err := plotter.NewLabels(runs)
	if err != nil {
		return err
	}
	for i := range labels.TextStyle {
		labels.TextStyle[i].Font.Size = vg.Points(11)
		labels.TextStyle[i].Color = colorFrontier
		labels.TextStyle[i].YAlign = draw.YCenter
	}
	labels.Offset = vg.Point{X: vg.Points(7)}
	p.Add(labels)

	for _, s := range []struct {
		policy string
		color  color.Color
		shape  draw.GlyphDrawer
	}{
		{backtest.Reactive, colorReactive, draw.CircleGlyph{}},
		{backtest.Prescaler, colorPrescaler, draw.PyramidGlyph{}},
		{backtest.Perfect, colorPerfect, draw.TriangleGlyph{}},
		{backtest.Yesterday, colorYesterday, draw.BoxGlyph{}},
		{backtest.Oracle, colorOracle, diamondGlyph{}},
	} {
		r := res.Policy(s.policy)
		if r == nil {
			continue
		}
		y := overloadY(float64(r.Summary.OverloadedMinutes))
		maxY = max(maxY, y)
		pt, err := plotter.NewScatter(plotter.XYs{{X: r.Summary.GPUHours, Y: y}})
		if err != nil {
			return err
		}
		pt.GlyphStyle = draw.GlyphStyle{Color: s.color, Radius: vg.Points(7), Shape: s.shape}
		p.Add(pt)
		label := fmt.Sprintf("%s: %s GPU-h, %d overloaded min", s.policy, trimNum(math.Round(r.Summary.GPUHours)), r.Summary.OverloadedMinutes)
		if r.TargetUtilization > 0 && s.policy == backtest.Reactive {
			label = fmt.Sprintf("reactive (HPA target %.2f): %s GPU-h, %d overloaded min", r.TargetUtilization,
				trimNum(math.Round(r.Summary.GPUHours)), r.Summary.OverloadedMinutes)
		}
		p.Legend.Add(label, pt)
	}
	p.Y.Min = 0
	p.Y.Max = math.Max(maxY, overloadY(9)) * 1.4 // head room for the legend
	pad := (p.X.Max - p.X.Min) * 0.05
	p.X.Min, p.X.Max = math.Max(0, p.X.Min-pad), p.X.Max+pad

	img := vgimg.NewWith(vgimg.UseWH(12*vg.Inch, 8*vg.Inch), vgimg.UseDPI(plotDPI))
	dc := draw.New(img)
	p.Draw(draw.Crop(dc, vg.Points(10), -vg.Points(24), vg.Points(10), -vg.Points(10)))
	_, err = vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}

// newPlot is a plot with type sizes readable at the image's resolution.
func newPlot(title string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(15)
	p.Title.Padding = vg.Points(8)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font.Size = vg.Points(13)
		a.Tick.Label.Font.Size = vg.Points(12)
	}
	p.Legend.TextStyle.Font = font.From(plot.DefaultFont, vg.Points(12))
	p.Legend.ThumbnailWidth = vg.Points(30)
	p.Legend.Padding = vg.Points(3)
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(8), -vg.Points(6)
	p.Add(plotter.NewGrid())
	return p
}

func stepLine(xys plotter.XYs, c color.Color, width float64, dashes []vg.Length) (*plotter.Line, error) {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return nil, err
	}
	l.StepStyle = plotter.PostStep
	l.Color, l.Width, l.Dashes = c, vg.Points(width), dashes
	return l, nil
}

// overloadY places overloaded minutes on the frontier plot's y axis:
// log(1+minutes), a logarithmic scale on which 0 has a place. The data are
// transformed rather than the axis given a custom Normalizer, because gonum
// places the axis label by normalizing the data's midpoint, which pushes the
// plot down on a non-linear scale.
func overloadY(minutes float64) float64 { return math.Log1p(math.Max(minutes, 0)) }

// overloadTicks labels 0 and the 1–3–10 sequence of minutes on the
// transformed axis.
type overloadTicks struct{}

func (overloadTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for _, v := range []float64{0, 1, 3} {
		if y := overloadY(v); y >= lo && y <= hi {
			ticks = append(ticks, plot.Tick{Value: y, Label: trimNum(v)})
		}
	}
	for decade := 10.0; overloadY(decade) <= hi; decade *= 10 {
		for _, m := range []float64{1, 3} {
			if y := overloadY(m * decade); y >= lo && y <= hi {
				ticks = append(ticks, plot.Tick{Value: y, Label: trimNum(m * decade)})
			}
		}
	}
	return ticks
}

func daysText(minutes int) string {
	d := float64(minutes) / minutesPerDay
	if d == math.Trunc(d) {
		if d == 1 {
			return "1 day"
		}
		return fmt.Sprintf("%.0f days", d)
	}
	return fmt.Sprintf("%.1f days", d)
}

// trimNum prints v with up to two decimals and no trailing zeros.
func trimNum(v float64) string {
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}

// denseTicks labels about eight round values across the axis (gonum's
// default labels three or four), with a minor tick between labels.
type denseTicks struct{}

func (denseTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) {
		return plot.DefaultTicks{}.Ticks(lo, hi)
	}
	raw := (hi - lo) / 8
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var ticks []plot.Tick
	for v := math.Ceil(lo/step*2) * step / 2; v <= hi; v += step / 2 {
		t := plot.Tick{Value: v}
		if math.Abs(math.Remainder(v, step)) < step*1e-9 {
			t.Label = tickText(v)
		}
		ticks = append(ticks, t)
	}
	return ticks
}

// tickText writes large round values in thousands ("600k") so that the
// labels stay short.
func tickText(v float64) string {
	if math.Abs(v) >= 10000 && math.Mod(v, 1000) == 0 {
		return trimNum(v/1000) + "k"
	}
	return trimNum(v)
}

// integerTicks are denseTicks without fractions, for counts such as
// replicas.
type integerTicks struct{}

func (integerTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := denseTicks{}.Ticks(lo, hi)
	var out []plot.Tick
	for _, t := range ticks {
		if t.Value != math.Trunc(t.Value) {
			continue // no half replicas
		}
		out = append(out, t)
	}
	return out
}

// diamondGlyph is a filled diamond, the one filled shape gonum lacks.
type diamondGlyph struct{}

func (diamondGlyph) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	r := sty.Radius * 1.3
	var p vg.Path
	p.Move(vg.Point{X: pt.X, Y: pt.Y + r})
	p.Line(vg.Point{X: pt.X + r, Y: pt.Y})
	p.Line(vg.Point{X: pt.X, Y: pt.Y - r})
	p.Line(vg.Point{X: pt.X - r, Y: pt.Y})
	p.Close()
	c.Fill(p)
}

// addGrid draws prescaler's own runs (HPA target × headroom) and their
// Pareto frontier, when the backtest has a grid.
func addGrid(p *plot.Plot, res *backtest.Result, maxY *float64) error {
	if len(res.GridRuns) == 0 {
		return nil
	}
	var runs, pareto plotter.XYs
	for _, r := range res.GridRuns {
		y := overloadY(float64(r.Summary.OverloadedMinutes))
		runs = append(runs, plotter.XY{X: r.Summary.GPUHours, Y: y})
		*maxY = max(*maxY, y)
	}
	for _, f := range res.GridFrontier {
		pareto = append(pareto, plotter.XY{X: f.GPUHours, Y: overloadY(f.OverloadedMinutes)})
	}
	if len(pareto) > 1 {
		l, err := plotter.NewLine(pareto)
		if err != nil {
			return err
		}
		l.Color, l.Width, l.Dashes = colorPrescaler, vg.Points(1.5), []vg.Length{vg.Points(6), vg.Points(3)}
		p.Add(l)
		p.Legend.Add("Pareto frontier of prescaler (HPA target × headroom)", l)
	}
	sc, err := plotter.NewScatter(runs)
	if err != nil {
		return err
	}
	sc.GlyphStyle = draw.GlyphStyle{Color: colorPrescaler, Radius: vg.Points(3), Shape: draw.CrossGlyph{}}
	p.Add(sc)
	p.Legend.Add("prescaler run at one HPA target and headroom", sc)
	return nil
}
