package daemon

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/prescaler/prescaler/scaler"
)

// Label names.
const (
	labelTarget    = "target"
	labelReason    = "reason"
	labelStatistic = "statistic"
)

// reasons lists every decision reason, so the reason gauge is 1 for the
// current one and 0 for the others (and a dashboard can count them).
var reasons = []scaler.Reason{scaler.ReasonForecast, scaler.ReasonUserMin, scaler.ReasonMaxReplicas,
	scaler.ReasonGPUCapacity, scaler.ReasonRampLimit, scaler.ReasonScaleDownGuard, scaler.ReasonFallback}

// Metrics are the daemon's own series, on a registry the caller passes in.
type Metrics struct {
	forecast     *prometheus.GaugeVec
	floor        *prometheus.GaugeVec
	wouldWrite   *prometheus.GaugeVec
	needed       *prometheus.GaugeVec
	reason       *prometheus.GaugeVec
	leadTime     *prometheus.GaugeVec
	capacity     *prometheus.GaugeVec
	dataFresh    *prometheus.GaugeVec
	errors       *prometheus.CounterVec
	writeErrors  *prometheus.CounterVec
	loopDuration prometheus.Histogram
}

// NewMetrics creates and registers the daemon's metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "prescaler", Name: name, Help: help}, labels)
	}
	m := &Metrics{
		forecast: gauge("forecast_demand_per_minute",
			"Forecast demand in requests per minute: the next step's mean, and the configured quantile's peak over the lead time.",
			labelTarget, labelStatistic),
		floor:      gauge("floor_replicas", "The minReplicas prescaler last decided and wrote (active mode).", labelTarget),
		wouldWrite: gauge("floor_would_write_replicas", "The minReplicas prescaler would write (shadow mode).", labelTarget),
		needed:     gauge("needed_replicas", "The replicas the forecast asks for over the lead time, before any bound.", labelTarget),
		reason: gauge("decision_reason",
			"1 for the rule or bound that shaped the last decision, 0 for the others.", labelTarget, labelReason),
		leadTime:  gauge("lead_time_seconds", "The lead time used: the pods' start-up time.", labelTarget),
		capacity:  gauge("schedulable_replicas", "Replicas of the target the cluster can run now (-1: unknown).", labelTarget),
		dataFresh: gauge("data_fresh", "1 when the target's demand is fresh enough to lower a floor.", labelTarget),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "prescaler", Name: "target_errors_total",
			Help: "Problems met while reconciling a target (the loop goes on with safe fallbacks)."}, []string{labelTarget}),
		writeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "prescaler", Name: "write_errors_total",
			Help: "Failed writes of a target's floor or behavior."}, []string{labelTarget}),
		loopDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "prescaler", Name: "loop_duration_seconds",
			Help: "Duration of one control loop over every target.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 12)}),
	}
	reg.MustRegister(m.forecast, m.floor, m.wouldWrite, m.needed, m.reason, m.leadTime, m.capacity, m.dataFresh,
		m.errors, m.writeErrors, m.loopDuration)
	return m
}

// record exports one target's outcome.
func (m *Metrics) record(o Outcome) {
	t := o.Target
	m.errors.WithLabelValues(t).Add(float64(len(o.Errs)))
	if o.WriteErr != nil {
		m.writeErrors.WithLabelValues(t).Inc()
	}
	if o.Skipped != "" || o.Decision.Reason == "" {
		return
	}
	d := o.Decision
	if o.Shadow {
		m.wouldWrite.WithLabelValues(t).Set(float64(d.Floor))
	} else if o.Wrote {
		m.floor.WithLabelValues(t).Set(float64(d.Floor))
	}
	m.needed.WithLabelValues(t).Set(float64(d.Needed))
	for _, r := range reasons {
		v := 0.0
		if r == d.Reason {
			v = 1
		}
		m.reason.WithLabelValues(t, string(r)).Set(v)
	}
	m.leadTime.WithLabelValues(t).Set(o.LeadTime.Seconds())
	m.capacity.WithLabelValues(t).Set(float64(o.Capacity))
	fresh := 0.0
	if o.DataFresh {
		fresh = 1
	}
	m.dataFresh.WithLabelValues(t).Set(fresh)
	if len(o.Forecast) > 0 {
		m.forecast.WithLabelValues(t, "quantile_peak").Set(d.PeakDemand)
		m.forecast.WithLabelValues(t, "mean_next").Set(o.Forecast[0].Mean / o.stepMinutes())
	}
}

// forget removes a target's series when it leaves the config.
func (m *Metrics) forget(target string) {
	match := prometheus.Labels{labelTarget: target}
	for _, v := range []*prometheus.GaugeVec{m.forecast, m.floor, m.wouldWrite, m.needed, m.reason, m.leadTime, m.capacity, m.dataFresh} {
		v.DeletePartialMatch(match)
	}
	m.errors.DeletePartialMatch(match)
	m.writeErrors.DeletePartialMatch(match)
}
