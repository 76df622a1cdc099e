package trace_test

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/prescaler/prescaler/trace"
)

// FuzzRead: whatever the bytes, Read either returns an error that names the
// line (or says the file is empty) or a series of missing values and counts
// in [0, MaxRequestsPerMinute] that Write turns back into a file Read reads
// to the same series.
func FuzzRead(f *testing.F) {
	const h = trace.Header + "\n"
	for _, seed := range []string{
		h + "29016000,12\n29016001,0\n29016002,3.25\n",
		"\ufeff" + h + "5,1\n\n8,2\n",
		h + "5,\n6,nan\n7,NaN\n8,4\n",
		h + "5,1\r\n6,2\r\n",
		h + "-3,1\n-1,2\n",
		h + "5,1e308\n", h + "5,Inf\n", h + "5,-1\n", h + "5,1e999\n", h + "5,1000000000000\n",
		h + "0,1\n527041,2\n", h + "-9223372036854775807,1\n9223372036854775807,2\n",
		h + "5, 7 \n 6 ,8\n", h + "5,1,2\n", h + "5\n", "minute,requests\n1,2\n", "", h,
		h + "5,0x1p-2\n6,1_000\n7,+4\n8,.5e1\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data string) {
		s, err := trace.Read(strings.NewReader(data))
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "line ") && !strings.HasPrefix(msg, "empty file") && !strings.HasPrefix(msg, "no data rows") {
				t.Fatalf("error %q names no line", msg)
			}
			return
		}
		if s.Len() == 0 {
			t.Fatal("an empty series without an error")
		}
		for k, v := range s.Values {
			if !math.IsNaN(v) && !(v >= 0 && v <= trace.MaxRequestsPerMinute) {
				t.Fatalf("step %d = %v is not a count in [0, %g]", k, v, float64(trace.MaxRequestsPerMinute))
			}
		}
		var buf bytes.Buffer
		if err := trace.Write(&buf, s); err != nil {
			t.Fatalf("Write of a series Read returned: %v", err)
		}
		back, err := trace.Read(&buf)
		if err != nil {
			t.Fatalf("Read(Write(Read(data))): %v", err)
		}
		if back.Start != s.Start || !sameValues(back.Values, s.Values, 0) {
			t.Fatalf("round trip changed the series: %d %v, was %d %v", back.Start, head(back.Values), s.Start, head(s.Values))
		}
	})
}
