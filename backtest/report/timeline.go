package report

import (
	"bufio"
	"errors"
	"io"
	"math"
	"strconv"

	"github.com/prescaler/prescaler/backtest"
)

// TimelineHeader is the first line of the timeline CSV; an elastic pool's
// adds the nodes (Ready or launching) and the placeholder pods.
const (
	TimelineHeader        = "policy,unix_minute,demand,forecast,floor,desired,replicas,ready"
	ElasticTimelineHeader = TimelineHeader + ",nodes,placeholders"
)

// WriteTimeline writes the per-minute rows of every main policy as a long
// CSV: policy after policy, minute after minute. A forecast that does not
// exist (every policy but prescaler, and prescaler before its first model)
// is an empty field.
func WriteTimeline(w io.Writer, res *backtest.Result) error {
	rows := 0
	for _, p := range res.Policies {
		rows += len(p.Timeline)
	}
	if rows == 0 {
		return errors.New("timeline: the backtest kept no per-minute rows (run it with Options.Timeline)")
	}
	bw := bufio.NewWriter(w)
	header, counts := TimelineHeader, func(r backtest.Row) []int32 { return []int32{r.Floor, r.Desired, r.Replicas, r.Ready} }
	if res.ElasticNodes {
		header = ElasticTimelineHeader
		counts = func(r backtest.Row) []int32 {
			return []int32{r.Floor, r.Desired, r.Replicas, r.Ready, r.Nodes, r.Placeholders}
		}
	}
	bw.WriteString(header + "\n")
	var line []byte
	for _, p := range res.Policies {
		for _, r := range p.Timeline {
			line = append(line[:0], r.Policy...)
			line = append(line, ',')
			line = strconv.AppendInt(line, r.UnixMinute, 10)
			line = append(line, ',')
			line = appendFloat(line, r.Demand, -1)
			line = append(line, ',')
			line = appendFloat(line, r.Forecast, 3)
			for _, v := range counts(r) {
				line = append(line, ',')
				line = strconv.AppendInt(line, int64(v), 10)
			}
			line = append(line, '\n')
			bw.Write(line)
		}
	}
	return bw.Flush() // bufio keeps the first write error and returns it here
}

// appendFloat writes v with the given decimals (-1: the shortest form that
// reads back exactly), or nothing for NaN.
func appendFloat(b []byte, v float64, decimals int) []byte {
	if math.IsNaN(v) {
		return b
	}
	return strconv.AppendFloat(b, v, 'f', decimals, 64)
}
