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

// How the daemon reads a target (daemon/adapters): one Source for the
// Prometheus server; each loop, the demand steps completed since the last
// read, then the latest value of each optional signal, every query timed
// into the shared Metrics.
func Example() {
	cfg := config.Default() // loaded and validated in the daemon
	logger := slog.Default()
	src, err := promsrc.New(cfg.Prometheus, logger)
	if err != nil {
		logger.Error("prometheus", "err", err)
		return
	}
	metrics, err := promsrc.NewMetrics(promclient.NewRegistry())
	if err != nil {
		logger.Error("metrics", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.Interval))
	defer cancel()
	for _, t := range cfg.Targets {
		step := time.Duration(t.Forecast.Step)
		now := time.Now()
		// The steps since the last read: the whole history on the first.
		from, to := now.Add(-time.Duration(t.Forecast.History)).Truncate(step), now.Truncate(step)
		begin := time.Now()
		demand, err := src.Range(ctx, t.Queries.Demand, from.Add(step), to, step)
		metrics.ObserveQuery(t.Name, promsrc.QueryDemand, time.Since(begin).Seconds(), err)
		switch {
		case errors.Is(err, promsrc.ErrNoData):
			logger.Info("no demand data", "target", t.Name) // every step NaN: the floor is held
		case err != nil:
			logger.Warn("demand", "target", t.Name, "err", err) // read again next loop, from the same step
		}
		for range demand.Values {
			// forecaster.Observe(v): one call per step, NaN included
		}
		if t.Queries.Latency != "" {
			if s, err := src.Latest(ctx, t.Queries.Latency, now, step); err == nil && now.Sub(s.Time) < 2*time.Minute {
				_ = s.Value // fresh enough to judge the latency objective
			}
		}
	}
}
