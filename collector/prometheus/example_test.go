package prometheus_test

import (
	"context"
	"errors"
	"log/slog"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"

	promsrc "github.com/prescaler/prescaler/collector/prometheus"
	"github.com/prescaler/prescaler/config"
)

// The daemon's wiring: one Source for the Prometheus server, one Collector
// per target, and a loop that collects each target on its own. A failed
// target is logged and keeps its last forecast; the others go on.
func Example() {
	cfg := config.Default() // loaded and validated in the daemon
	logger := slog.Default()
	reg := promclient.NewRegistry()

	src, err := promsrc.New(cfg.Prometheus, logger)
	if err != nil {
		logger.Error("prometheus", "err", err)
		return
	}
	metrics, err := promsrc.NewMetrics(reg)
	if err != nil {
		logger.Error("metrics", "err", err)
		return
	}
	collectors := map[string]*promsrc.Collector{}
	for _, t := range cfg.Targets {
		c, err := promsrc.NewCollector(t, src, promsrc.CollectorOptions{Metrics: metrics, Lag: 15 * time.Second})
		if err != nil {
			logger.Error("collector", "target", t.Name, "err", err)
			continue
		}
		collectors[t.Name] = c
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.Interval))
	defer cancel()
	now := time.Now()
	for name, c := range collectors {
		u, err := c.Collect(ctx, now)
		if err != nil {
			logger.Warn("collect", "target", name, "err", err) // u still holds what was read
		}
		if u.Reset {
			_ = u.Demand // start a new forecaster on the whole history window
		} else {
			for range u.Demand.Values {
				// forecaster.Observe(v): one call per new step, NaN included
			}
		}
		if errors.Is(u.DemandErr, promsrc.ErrNoData) {
			logger.Info("no demand data", "target", name)
		}
		if u.QueueDepth.OK() && now.Sub(u.QueueDepth.Time) < 2*time.Minute {
			_ = u.QueueDepth.Value // fresh enough to use
		}
	}
}
