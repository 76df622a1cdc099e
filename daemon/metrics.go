package daemon

import (
	"math"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prescaler/prescaler/scaler"
)

// Label names.
const (
	labelTarget    = "target"
	labelReason    = "reason"
	labelStatistic = "statistic"
	labelSetting   = "setting"
)

// reasons lists every decision reason, so the reason gauge is 1 for the
// current one and 0 for the others (and a dashboard can count them).
var reasons = scaler.Reasons()

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
	invalidSteps *prometheus.CounterVec
	refitFails   *prometheus.CounterVec
	loopDuration prometheus.Histogram

	demand          *prometheus.GaugeVec
	capacityPer     *prometheus.GaugeVec
	capacityLearned *prometheus.GaugeVec
	forecastError   *prometheus.GaugeVec
	shortShare      *prometheus.GaugeVec
	sloBreach       *prometheus.GaugeVec
	shortTotal      *prometheus.CounterVec
	demoted         *prometheus.GaugeVec
	demotions       *prometheus.CounterVec
	conflicts       *prometheus.CounterVec
	replicas        *prometheus.GaugeVec
	readyReplicas   *prometheus.GaugeVec

	headroom     *prometheus.GaugeVec
	tuneReplay   *prometheus.GaugeVec
	tuneMet      *prometheus.GaugeVec
	hpaAdvice    *prometheus.GaugeVec
	tuneDuration prometheus.Histogram

	released *prometheus.CounterVec

	nodeLead, provisionable, placeholderPods *prometheus.GaugeVec
	placeholderGPUSeconds                    *prometheus.CounterVec
	placeholdersRemoved                      prometheus.Counter

	shadowOverloaded, shadowCovered, shadowExtra *prometheus.CounterVec
}

// NewMetrics creates and registers the daemon's metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "prescaler", Name: name, Help: help}, labels)
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "prescaler", Name: name, Help: help}, labels)
	}
	m := &Metrics{
		forecast: gauge("forecast_demand_per_minute",
			"Forecast demand in requests per minute: the next step's mean, and the configured quantile's peak over the lead time.",
			labelTarget, labelStatistic),
		replicas:      gauge("replicas", "The scale target's replica count, as the HPA set it.", labelTarget),
		readyReplicas: gauge("ready_replicas", "The scale target's Ready replicas (-1: unknown).", labelTarget),
		demand:        gauge("demand_per_minute", "The newest observed step of demand, in requests per minute.", labelTarget),
		capacityPer: gauge("replica_capacity_per_minute",
			"Requests per minute one Ready replica serves within the SLO, as used by the decision.", labelTarget),
		capacityLearned: gauge("replica_capacity_learned",
			"1 when replica_capacity_per_minute was learned from the target's own history, 0 when configured or the fallback.", labelTarget),
		forecastError: gauge("forecast_error",
			"Weighted absolute percentage error of the lead-time forecast over the demotion window (NaN until scored).", labelTarget),
		shortShare: gauge("forecast_short_share",
			"Share of the demotion window's steps with the latency objective breached while the floor was below the HPA's count.", labelTarget),
		sloBreach: gauge("slo_breach", "1 while the observed latency is above the target's objective.", labelTarget),
		shortTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "prescaler", Name: "forecast_short_total",
			Help: "Loops with the latency objective breached while the floor was below the HPA's own count: the forecast was short."}, []string{labelTarget}),
		demoted: gauge("demoted", "1 while the target is demoted to reactive scaling (floor = the user's minReplicas).", labelTarget),
		demotions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "prescaler", Name: "demotion_changes_total",
			Help: "Demotions to reactive scaling and promotions back to forecasting."}, []string{labelTarget, "direction"}),
		conflicts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "prescaler", Name: "write_conflicts_total",
			Help: "Writes refused with 409 Conflict (another writer changed the object between read and write) and retried."}, []string{labelTarget}),
		floor: gauge("floor_replicas", "The minReplicas prescaler last decided and wrote (active mode).", labelTarget),
		wouldWrite: gauge("floor_would_write_replicas",
			"The minReplicas prescaler decided: written in active mode, only exported in shadow mode.", labelTarget),
		needed: gauge("needed_replicas", "The replicas the forecast asks for over the lead time, before any bound.", labelTarget),
		reason: gauge("decision_reason",
			"1 for the rule or bound that shaped the last decision, 0 for the others.", labelTarget, labelReason),
		leadTime:  gauge("lead_time_seconds", "The lead time used: the pods' start-up time.", labelTarget),
		capacity:  gauge("schedulable_replicas", "Replicas of the target the cluster can run now (-1: unknown).", labelTarget),
		dataFresh: gauge("data_fresh", "1 when the target's demand is fresh enough to lower a floor.", labelTarget),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "prescaler", Name: "target_errors_total",
			Help: "Problems met while reconciling a target (the loop goes on with safe fallbacks)."}, []string{labelTarget}),
		writeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "prescaler", Name: "write_errors_total",
			Help: "Failed writes of a target's floor or behavior."}, []string{labelTarget}),
		invalidSteps: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "prescaler", Name: "demand_invalid_steps_total",
			Help: "Demand steps the forecaster could not use, each counted as missing, by reason: missing (no value, or NaN), " +
				"not_finite (±Inf, or beyond 3.4e38), negative, implausible (over 100 times the 99th percentile of the fitting window's demand)."},
			[]string{labelTarget, labelReason}),
		refitFails: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "prescaler", Name: "forecast_refit_failures_total",
			Help: "Scheduled refits of a target's forecaster that failed; the model in hand is kept and the log says why."}, []string{labelTarget}),
		headroom: gauge("headroom",
			"The headroom in force: the demand quantile the floor covers and the floor utilization (tuned for slo.overloadBudget, or configured).",
			labelTarget, labelSetting),
		tuneReplay: gauge("tuning_replay",
			"What the tuned headroom cost over the replayed history: gpu_hours, and overloaded_minutes_per_day against budget_minutes_per_day (0: no budget; the replay's figures are NaN until a replay).",
			labelTarget, labelStatistic),
		tuneMet: gauge("tuning_budget_met",
			"1 when the tuned headroom kept within slo.overloadBudget over the replay, 0 when no setting did (NaN: no replay yet, or no budget).", labelTarget),
		hpaAdvice: gauge("hpa_target_advice",
			"The hotter HPA utilization target the floors allow (target) and the share of GPU-hours it would have saved over the replay (saving); 0 without advice.",
			labelTarget, labelStatistic),
		tuneDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "prescaler", Name: "tuning_duration_seconds",
			Help: "Duration of one headroom replay.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 10)}),
		shadowOverloaded: counter("shadow_overloaded_seconds_total",
			"Shadow mode: time whose demand was above what the replicas that ran could serve (demand over Ready replicas × capacity per replica).", labelTarget),
		shadowCovered: counter("shadow_covered_seconds_total",
			"Shadow mode: of shadow_overloaded_seconds_total, the time the floor prescaler would have written one lead time earlier would have served.", labelTarget),
		shadowExtra: counter("shadow_extra_replica_seconds_total",
			"Shadow mode: replica-seconds the floor prescaler would have written (one lead time earlier) adds above the replicas that ran: what it would have cost.", labelTarget),
		released: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "prescaler", Name: "released_objects_total",
			Help: "Objects carrying prescaler's annotations that no active target writes to, given their user's values back by the sweep, by why."}, []string{"why"}),
		nodeLead: gauge("node_lead_time_seconds",
			"The node lead time the decision used: how long a new node takes to be Ready (0: a fixed pool of nodes).", labelTarget),
		provisionable: gauge("provisionable_replicas",
			"Replicas beyond what the nodes hold now that the node pools may still add nodes for, as the decision used it (0: a fixed pool).", labelTarget),
		placeholderPods: gauge("placeholder_pods",
			"The placeholder pods the last decision keeps, so that new nodes come up ahead of the forecast (nodes.placeholders).", labelTarget),
		placeholderGPUSeconds: counter("placeholder_gpu_seconds_total",
			"GPU-seconds the placeholder pods asked for: their count times the GPUs of one replica, over the time they were kept.", labelTarget),
		placeholdersRemoved: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "prescaler", Name: "placeholders_removed_total",
			Help: "Placeholder Deployments removed by the sweep because no active target keeps them."}),
		loopDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "prescaler", Name: "loop_duration_seconds",
			Help: "Duration of one control loop over every target.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 12)}),
	}
	reg.MustRegister(m.forecast, m.floor, m.wouldWrite, m.needed, m.reason, m.leadTime, m.capacity, m.dataFresh,
		m.errors, m.writeErrors, m.invalidSteps, m.refitFails, m.loopDuration, m.demand, m.capacityPer, m.capacityLearned, m.forecastError,
		m.shortShare, m.sloBreach, m.shortTotal, m.demoted, m.demotions, m.conflicts, m.replicas, m.readyReplicas,
		m.headroom, m.tuneReplay, m.tuneMet, m.hpaAdvice, m.tuneDuration, m.released,
		m.shadowOverloaded, m.shadowCovered, m.shadowExtra,
		m.nodeLead, m.provisionable, m.placeholderPods, m.placeholderGPUSeconds, m.placeholdersRemoved)
	for _, why := range []string{whyNotConfigured, whyShadow} {
		m.released.WithLabelValues(why)
	}
	return m
}

// record exports one target's outcome.
func (m *Metrics) record(o Outcome) {
	t := o.Target
	m.errors.WithLabelValues(t).Add(float64(len(o.Errs)))
	m.writeErrors.WithLabelValues(t).Add(boolGauge(o.WriteErr != nil))
	m.conflicts.WithLabelValues(t).Add(float64(o.Conflicts))
	m.recordDemand(o)
	if o.Skipped != "" || o.Decision.Reason == "" {
		m.forgetDecision(t)
		return
	}
	m.recordHealth(o)
	m.recordTuning(o)
	m.recordShadow(o)
	d := o.Decision
	m.wouldWrite.WithLabelValues(t).Set(float64(d.Floor))
	if o.Wrote {
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
	m.recordNodes(o)
	m.capacity.WithLabelValues(t).Set(float64(o.Capacity))
	fresh := 0.0
	if o.DataFresh {
		fresh = 1
	}
	m.dataFresh.WithLabelValues(t).Set(fresh)
	if len(o.Forecast) > 0 {
		perMinute := 1 / o.stepMinutes()
		m.forecast.WithLabelValues(t, "quantile_peak").Set(d.PeakDemand)
		m.forecast.WithLabelValues(t, "mean_next").Set(o.Forecast[0].Mean * perMinute)
		m.forecast.WithLabelValues(t, "mean_lead").Set(o.LeadForecast.Mean * perMinute)
		m.forecast.WithLabelValues(t, "lower_lead").Set(o.LeadForecast.Lower * perMinute)
		m.forecast.WithLabelValues(t, "upper_lead").Set(o.LeadForecast.Upper * perMinute)
	}
}

// recordNodes exports what the decision knew of the target's nodes and the
// placeholders it keeps.
func (m *Metrics) recordNodes(o Outcome) {
	t := o.Target
	m.nodeLead.WithLabelValues(t).Set(o.Nodes.Lead.Seconds())
	m.provisionable.WithLabelValues(t).Set(float64(o.Nodes.Provisionable))
	m.placeholderPods.WithLabelValues(t).Set(float64(o.Placeholders))
	m.placeholderGPUSeconds.WithLabelValues(t).Add(o.PlaceholderGPUSeconds)
}

// recordDemand counts the demand steps the forecaster could not use and
// its failed refits. Every reason's counter is created at zero, so that
// rate() and increase() see the first event.
func (m *Metrics) recordDemand(o Outcome) {
	for _, reason := range invalidReasons {
		m.invalidSteps.WithLabelValues(o.Target, reason).Add(float64(o.InvalidSteps[reason]))
	}
	m.refitFails.WithLabelValues(o.Target).Add(float64(o.RefitFailures))
}

// forgetDecision removes the series of a target's last decision when a
// loop made none (the object is gone or unreadable, disabled, opted out):
// a floor that is no longer in force must not stay on a dashboard.
// recordShadow adds a shadow target's counterfactual time; each counter
// exists at zero from the first shadow decision, so rate() sees the first
// minute counted.
func (m *Metrics) recordShadow(o Outcome) {
	if !o.Shadow {
		return
	}
	t := o.Target
	var c ShadowCounts
	if o.ShadowCounts != nil {
		c = *o.ShadowCounts
	}
	const perMinute = 60 // exported in seconds, the base unit
	m.shadowOverloaded.WithLabelValues(t).Add(c.OverloadedMinutes * perMinute)
	m.shadowCovered.WithLabelValues(t).Add(c.CoveredMinutes * perMinute)
	m.shadowExtra.WithLabelValues(t).Add(c.ExtraReplicaMinutes * perMinute)
}

func (m *Metrics) forgetDecision(target string) {
	match := prometheus.Labels{labelTarget: target}
	for _, v := range []*prometheus.GaugeVec{m.floor, m.wouldWrite, m.needed, m.reason, m.forecast, m.placeholderPods} {
		v.DeletePartialMatch(match)
	}
}

// recordHealth exports the learned capacity, the forecast's record and the
// demotion state.
func (m *Metrics) recordHealth(o Outcome) {
	t := o.Target
	if !math.IsNaN(o.Demand) {
		m.demand.WithLabelValues(t).Set(o.Demand)
	}
	m.replicas.WithLabelValues(t).Set(float64(o.Replicas))
	m.readyReplicas.WithLabelValues(t).Set(float64(o.Signals.ReadyReplicas))
	m.capacityPer.WithLabelValues(t).Set(o.ReplicaCapacity)
	m.capacityLearned.WithLabelValues(t).Set(boolGauge(o.CapacityLearned))
	m.forecastError.WithLabelValues(t).Set(o.Health.WAPE)
	m.shortShare.WithLabelValues(t).Set(o.Health.ShortShare)
	m.sloBreach.WithLabelValues(t).Set(boolGauge(o.SLOBreach))
	// Counters are created at zero, so that rate() and increase() see their
	// first event.
	m.shortTotal.WithLabelValues(t).Add(boolGauge(o.ForecastShort))
	m.demoted.WithLabelValues(t).Set(boolGauge(o.Demoted))
	changed := o.DemotionChange != ""
	m.demotions.WithLabelValues(t, "demote").Add(boolGauge(changed && o.Demoted))
	m.demotions.WithLabelValues(t, "promote").Add(boolGauge(changed && !o.Demoted))
}

// recordTuning exports the headroom in force and, when tuned, its replay
// and the HPA target advice.
func (m *Metrics) recordTuning(o Outcome) {
	t := o.Target
	h := o.Headroom
	m.headroom.WithLabelValues(t, "quantile").Set(h.Quantile)
	m.headroom.WithLabelValues(t, "floor_utilization").Set(h.Utilization)
	m.tuneReplay.WithLabelValues(t, "budget_minutes_per_day").Set(o.OverloadBudget.Minutes())
	// Until a replay (and without a budget) the replay's figures are NaN and
	// there is no advice.
	r := o.Tuned
	if r == nil {
		r = &TuneResult{ReplayGPUHours: math.NaN(), ReplayOverloadedPerDay: math.NaN()}
	}
	m.tuneReplay.WithLabelValues(t, "gpu_hours").Set(r.ReplayGPUHours)
	m.tuneReplay.WithLabelValues(t, "overloaded_minutes_per_day").Set(r.ReplayOverloadedPerDay)
	met := math.NaN()
	if o.Tuned != nil {
		met = boolGauge(r.Met)
	}
	m.tuneMet.WithLabelValues(t).Set(met)
	m.hpaAdvice.WithLabelValues(t, "target").Set(r.AdviceTarget)
	m.hpaAdvice.WithLabelValues(t, "saving").Set(r.AdviceSaved)
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// forget removes a target's series when it leaves the config.
func (m *Metrics) forget(target string) {
	match := prometheus.Labels{labelTarget: target}
	for _, v := range []*prometheus.GaugeVec{m.forecast, m.floor, m.wouldWrite, m.needed, m.reason, m.leadTime, m.capacity,
		m.dataFresh, m.replicas, m.readyReplicas, m.demand, m.capacityPer, m.capacityLearned, m.forecastError, m.shortShare, m.sloBreach, m.demoted,
		m.headroom, m.tuneReplay, m.tuneMet, m.hpaAdvice, m.nodeLead, m.provisionable, m.placeholderPods} {
		v.DeletePartialMatch(match)
	}
	for _, v := range []*prometheus.CounterVec{m.errors, m.writeErrors, m.invalidSteps, m.refitFails, m.shortTotal, m.demotions, m.conflicts,
		m.shadowOverloaded, m.shadowCovered, m.shadowExtra, m.placeholderGPUSeconds} {
		v.DeletePartialMatch(match)
	}
}
