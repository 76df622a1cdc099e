package backtest

import "testing"

func TestParetoFrontier(t *testing.T) {
	points := []FrontierPoint{
		{"u=0.9", 100, 300},
		{"u=0.5", 200, 40},
		{"u=0.7", 150, 120},
		{"dominated", 160, 130}, // more GPUs and more overload than u=0.7
		{"u=0.4", 260, 40},      // more GPUs for no gain
	}
	got := ParetoFrontier(points)
	want := []string{"u=0.9", "u=0.7", "u=0.5"}
	if len(got) != len(want) {
		t.Fatalf("frontier %v, want labels %v", got, want)
	}
	for i, p := range got {
		if p.Label != want[i] {
			t.Errorf("frontier[%d] = %s, want %s", i, p.Label, want[i])
		}
	}
}

func TestOverloadAt(t *testing.T) {
	f := []FrontierPoint{{"a", 100, 300}, {"b", 150, 120}, {"c", 200, 40}}
	cases := []struct {
		name     string
		gpuHours float64
		want     float64
		ok       bool
	}{
		{"on a point", 150, 120, true},
		{"between points", 125, 210, true},
		{"second segment", 175, 80, true},
		{"left end", 100, 300, true},
		{"right end", 200, 40, true},
		{"below the range", 90, 0, false},
		{"above the range", 210, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := OverloadAt(f, c.gpuHours)
			if ok != c.ok || (ok && got != c.want) {
				t.Errorf("OverloadAt(%v) = %v, %v; want %v, %v", c.gpuHours, got, ok, c.want, c.ok)
			}
		})
	}
}
