package cluster

import (
	"math"
	"strings"
	"testing"
	"time"
)

// t0 is the fixed start of every simulated run in these tests.
var t0 = time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)

// validConfig is a small valid configuration: 1 request/s per replica, 1 GPU
// each, 8 GPUs, 15 s ticks, one minute of start-up.
func validConfig() Config {
	return Config{
		ReplicaCapacity: 60,
		Startup:         time.Minute,
		GPUs:            8,
		GPUsPerReplica:  1,
		Tick:            15 * time.Second,
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		modify func(*Config)
		want   []string // substrings of the error; none means valid
	}{
		{"valid", func(*Config) {}, nil},
		{"zero tick means default", func(c *Config) { c.Tick = 0 }, nil},
		{"multi-node", func(c *Config) { c.GPUsPerNode = 4; c.GPUsPerReplica = 3 }, nil},
		{"jitter equal to startup", func(c *Config) { c.StartupJitter = c.Startup }, nil},
		{"zero capacity", func(c *Config) { c.ReplicaCapacity = 0 }, []string{"ReplicaCapacity = 0"}},
		{"NaN capacity", func(c *Config) { c.ReplicaCapacity = math.NaN() }, []string{"ReplicaCapacity = NaN"}},
		{"infinite capacity", func(c *Config) { c.ReplicaCapacity = math.Inf(1) }, []string{"ReplicaCapacity = +Inf"}},
		{"negative startup", func(c *Config) { c.Startup = -time.Second }, []string{"Startup = -1s"}},
		{"jitter above startup", func(c *Config) { c.StartupJitter = 2 * time.Minute }, []string{"StartupJitter = 2m0s", "Startup=1m0s"}},
		{"negative jitter", func(c *Config) { c.StartupJitter = -time.Second }, []string{"StartupJitter = -1s"}},
		{"no GPUs", func(c *Config) { c.GPUs = 0 }, []string{"GPUs = 0"}},
		{"no GPUs per replica", func(c *Config) { c.GPUsPerReplica = 0 }, []string{"GPUsPerReplica = 0"}},
		{"replica larger than the node", func(c *Config) { c.GPUsPerReplica = 9 }, []string{"GPUsPerReplica = 9", "one node of 8 GPUs"}},
		{"node size does not divide GPUs", func(c *Config) { c.GPUsPerNode = 3 }, []string{"GPUsPerNode = 3", "divide GPUs=8"}},
		{"negative node size", func(c *Config) { c.GPUsPerNode = -1 }, []string{"GPUsPerNode = -1"}},
		{"tick not dividing a minute", func(c *Config) { c.Tick = 7 * time.Second }, []string{"Tick = 7s"}},
		{"negative tick", func(c *Config) { c.Tick = -time.Second }, []string{"Tick = -1s"}},
		{"negative max wait", func(c *Config) { c.MaxWait = -time.Second }, []string{"MaxWait = -1s"}},
		{"negative service time", func(c *Config) { c.ServiceTime = -time.Second }, []string{"ServiceTime = -1s"}},
		{"elastic pool", func(c *Config) {
			c.NodeDelay, c.GPUsPerNode, c.MinNodes, c.ConsolidateAfter = 5*time.Minute, 4, 1, time.Minute
		}, nil},
		{"negative node delay", func(c *Config) { c.NodeDelay = -time.Second }, []string{"NodeDelay = -1s"}},
		{"min nodes on a fixed pool", func(c *Config) { c.MinNodes = 1 }, []string{"MinNodes = 1", "needs NodeDelay"}},
		{"consolidation on a fixed pool", func(c *Config) { c.ConsolidateAfter = time.Minute }, []string{"ConsolidateAfter = 1m0s", "needs NodeDelay"}},
		{"negative consolidation", func(c *Config) { c.NodeDelay, c.ConsolidateAfter = time.Minute, -time.Second }, []string{"ConsolidateAfter = -1s"}},
		{"more min nodes than the limit holds", func(c *Config) { c.NodeDelay, c.GPUsPerNode, c.MinNodes = time.Minute, 4, 3 },
			[]string{"MinNodes = 3", "GPUs/GPUsPerNode = 2"}},
		{"several problems at once", func(c *Config) { c.GPUs = 0; c.Tick = 7 * time.Second },
			[]string{"GPUs = 0", "Tick = 7s"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := validConfig()
			tc.modify(&cfg)
			err := cfg.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				if _, err := New(cfg, t0, 1); err != nil {
					t.Fatalf("New() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error with %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
			if _, err := New(cfg, t0, 1); err == nil {
				t.Errorf("New() accepted an invalid config")
			}
		})
	}
}

func TestNewInitialReplicas(t *testing.T) {
	cases := []struct {
		name     string
		cfg      func() Config
		replicas int32
		wantErr  string
	}{
		{"all GPUs used", validConfig, 8, ""},
		{"zero replicas", validConfig, 0, ""},
		{"negative", validConfig, -1, "initialReplicas = -1"},
		{"more than the GPUs", validConfig, 9, "initialReplicas = 9"},
		{"stranded GPUs per node", func() Config {
			c := validConfig()
			c.GPUsPerNode, c.GPUsPerReplica = 4, 3 // one pod per node, 1 GPU idle on each
			return c
		}, 3, "only 2 pods of 3 GPUs fit on 2 nodes of 4 GPUs"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.cfg(), t0, tc.replicas)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("New() error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range c.Pods() {
				if !p.Ready() || !p.ReadySince.Equal(t0) || !p.HasSample {
					t.Errorf("initial pod %+v: want Ready since the start with a sample", p)
				}
			}
			if got := len(c.Pods()); got != int(tc.replicas) || c.Replicas() != tc.replicas {
				t.Errorf("pods = %d, spec = %d, want %d", got, c.Replicas(), tc.replicas)
			}
		})
	}
}

func TestTicksPerMinute(t *testing.T) {
	cases := []struct {
		name string
		tick time.Duration
		want int
	}{
		{"default", 0, 4},
		{"10s", 10 * time.Second, 6},
		{"1m", time.Minute, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := (Config{Tick: tc.tick}).TicksPerMinute(); got != tc.want {
				t.Errorf("TicksPerMinute() = %d, want %d", got, tc.want)
			}
		})
	}
}
