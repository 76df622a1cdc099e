package daemon

import (
	"math"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/scaler"
)

// Label names. Besides target (the config's name), a per-target series
// names the object the target writes with the labels of the series that
// already describe it: namespace and horizontalpodautoscaler, as on
// kube-state-metrics' kube_horizontalpodautoscaler_* series, or namespace
// and scaledObject, as on KEDA's keda_scaled_object_* and keda_scaler_*
// series. A query joins them on (namespace, horizontalpodautoscaler) or
// (namespace, scaledObject) without relabelling; that is why scaledObject
// keeps KEDA's camelCase, which promtool's lint would rather see in
// snake_case.
const (
	labelTarget       = "target"
	labelNamespace    = "namespace"
	labelHPA          = "horizontalpodautoscaler"
	labelScaledObject = "scaledObject"
	labelReason       = "reason"
	labelStatistic    = "statistic"
	labelSetting      = "setting"
)

// targetLabelNames are the labels every per-target series starts with, in
// the order targetLabels' values take.
var targetLabelNames = []string{labelTarget, labelNamespace, labelHPA, labelScaledObject}

// targetLabels returns the labels of a target's series. The label of the
// kind the target does not write is empty, which Prometheus stores as
// absent.
func targetLabels(target string, obj config.ObjectRef) prometheus.Labels {
	l := prometheus.Labels{labelTarget: target, labelNamespace: obj.Namespace, labelHPA: "", labelScaledObject: ""}
	if obj.Kind == config.KindScaledObject {
		l[labelScaledObject] = obj.Name
	} else {
		l[labelHPA] = obj.Name
	}
	return l
}

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
	phase        *prometheus.HistogramVec

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
	// gauge and counter make per-target vectors: targetLabelNames, then
	// the metric's own labels.
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "prescaler", Name: name, Help: help},
			append(slices.Clone(targetLabelNames), labels...))
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "prescaler", Name: name, Help: help},
			append(slices.Clone(targetLabelNames), labels...))
	}
	m := &Metrics{
		forecast: gauge("forecast_demand_per_minute",
			"Forecast demand in requests per minute: the next step's mean, and the configured quantile's peak over the lead time.", labelStatistic),
		replicas:      gauge("replicas", "The scale target's replica count, as the HPA set it."),
		readyReplicas: gauge("ready_replicas", "The scale target's Ready replicas (-1: unknown)."),
		demand:        gauge("demand_per_minute", "The newest observed step of demand, in requests per minute."),
		capacityPer: gauge("replica_capacity_per_minute",
			"Requests per minute one Ready replica serves within the SLO, as used by the decision."),
		capacityLearned: gauge("replica_capacity_learned",
			"1 when replica_capacity_per_minute was learned from the target's own history, 0 when configured or the fallback."),
		forecastError: gauge("forecast_error",
			"Weighted absolute percentage error of the lead-time forecast over the demotion window (NaN until scored)."),
		shortShare: gauge("forecast_short_share",
			"Share of the demotion window's steps with the latency objective breached while the floor was below the HPA's count."),
		sloBreach: gauge("slo_breach", "1 while the observed latency is above the target's objective."),
		shortTotal: counter("forecast_short_total",
			"Loops with the latency objective breached while the floor was below the HPA's own count: the forecast was short."),
		demoted: gauge("demoted", "1 while the target is demoted to reactive scaling (floor = the user's minReplicas)."),
		demotions: counter("demotion_changes_total",
			"Demotions to reactive scaling and promotions back to forecasting.", "direction"),
		conflicts: counter("write_conflicts_total",
			"Writes refused with 409 Conflict (another writer changed the object between read and write) and retried."),
		floor: gauge("floor_replicas", "The minReplicas prescaler last decided and wrote (active mode)."),
		wouldWrite: gauge("floor_would_write_replicas",
			"The minReplicas prescaler decided: written in active mode, only exported in shadow mode."),
		needed: gauge("needed_replicas", "The replicas the forecast asks for over the lead time, before any bound."),
		reason: gauge("decision_reason",
			"1 for the rule or bound that shaped the last decision, 0 for the others.", labelReason),
		leadTime:  gauge("lead_time_seconds", "The lead time used: the pods' start-up time."),
		capacity:  gauge("schedulable_replicas", "Replicas of the target the cluster can run now (-1: unknown)."),
		dataFresh: gauge("data_fresh", "1 when the target's demand is fresh enough to lower a floor."),
		errors: counter("target_errors_total",
			"Problems met while reconciling a target (the loop goes on with safe fallbacks)."),
		writeErrors: counter("write_errors_total", "Failed writes of a target's floor or behavior."),
		invalidSteps: counter("demand_invalid_steps_total",
			"Demand steps the forecaster could not use, each counted as missing, by reason: missing (no value, or NaN), "+
				"not_finite (±Inf, or beyond 3.4e38), negative, implausible (over 100 times the 99th percentile of the fitting window's demand).", labelReason),
		refitFails: counter("forecast_refit_failures_total",
			"Scheduled refits of a target's forecaster that failed; the model in hand is kept and the log says why."),
		headroom: gauge("headroom",
			"The headroom in force: the demand quantile the floor covers and the floor utilization (tuned for slo.overloadBudget, or configured).", labelSetting),
		tuneReplay: gauge("tuning_replay",
			"What the tuned headroom cost over the replayed history: gpu_hours, and overloaded_minutes_per_day against budget_minutes_per_day (0: no budget; the replay's figures are NaN until a replay).", labelStatistic),
		tuneMet: gauge("tuning_budget_met",
			"1 when the tuned headroom kept within slo.overloadBudget over the replay, 0 when no setting did (NaN: no replay yet, or no budget)."),
		hpaAdvice: gauge("hpa_target_advice",
			"The hotter HPA utilization target the floors allow (target) and the share of GPU-hours it would have saved over the replay (saving); 0 without advice.", labelStatistic),
		tuneDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "prescaler", Name: "tuning_duration_seconds",
			Help: "Duration of one headroom replay.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 10)}),
		shadowOverloaded: counter("shadow_overloaded_seconds_total",
			"Shadow mode: time whose demand was above what the replicas that ran could serve (demand over Ready replicas × capacity per replica)."),
		shadowCovered: counter("shadow_covered_seconds_total",
			"Shadow mode: of shadow_overloaded_seconds_total, the time the floor prescaler would have written one lead time earlier would have served."),
		shadowExtra: counter("shadow_extra_replica_seconds_total",
			"Shadow mode: replica-seconds the floor prescaler would have written (one lead time earlier) adds above the replicas that ran: what it would have cost."),
		released: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "prescaler", Name: "released_objects_total",
			Help: "Objects carrying prescaler's annotations that no active target writes to, given their user's values back by the sweep, by why."}, []string{"why"}),
		nodeLead: gauge("node_lead_time_seconds",
			"The node lead time the decision used: how long a new node takes to be Ready (0: a fixed pool of nodes)."),
		provisionable: gauge("provisionable_replicas",
			"Replicas beyond what the nodes hold now that the node pools may still add nodes for, as the decision used it (0: a fixed pool)."),
		placeholderPods: gauge("placeholder_pods",
			"The placeholder pods the last decision keeps, so that new nodes come up ahead of the forecast (nodes.placeholders)."),
		placeholderGPUSeconds: counter("placeholder_gpu_seconds_total",
			"GPU-seconds the placeholder pods asked for: their count times the GPUs of one replica, over the time they were kept."),
		placeholdersRemoved: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "prescaler", Name: "placeholders_removed_total",
			Help: "Placeholder Deployments removed by the sweep because no active target keeps them."}),
		loopDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "prescaler", Name: "loop_duration_seconds",
			Help: "Duration of one control loop over every target.",
			// Dense around the default 15 s interval, which a loop must not overrun.
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 7.5, 10, 12.5, 15, 20, 30, 60}}),
		phase: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "prescaler", Name: "target_phase_duration_seconds",
			Help: "Time one target's loop spent in each phase: read (the object, Prometheus, the capacity and start-up collectors), " +
				"fit (the forecaster's update and refits), decide, write (the object and the placeholders; active targets).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10)}, []string{"phase"}),
	}
	reg.MustRegister(m.forecast, m.floor, m.wouldWrite, m.needed, m.reason, m.leadTime, m.capacity, m.dataFresh,
		m.errors, m.writeErrors, m.invalidSteps, m.refitFails, m.loopDuration, m.phase, m.demand, m.capacityPer, m.capacityLearned, m.forecastError,
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
	m.recordPhases(o)
	l := targetLabels(o.Target, o.Object)
	m.errors.With(l).Add(float64(len(o.Errs)))
	m.writeErrors.With(l).Add(boolGauge(o.WriteErr != nil))
	m.conflicts.With(l).Add(float64(o.Conflicts))
	m.recordDemand(o, l)
	if o.Skipped != "" || o.Decision.Reason == "" {
		m.forgetDecision(o.Target)
		return
	}
	m.recordHealth(o, l)
	m.recordTuning(o, l)
	m.recordShadow(o, l)
	d := o.Decision
	m.wouldWrite.With(l).Set(float64(d.Floor))
	if o.Wrote {
		m.floor.With(l).Set(float64(d.Floor))
	}
	m.needed.With(l).Set(float64(d.Needed))
	reason := m.reason.MustCurryWith(l)
	for _, r := range reasons {
		reason.WithLabelValues(string(r)).Set(boolGauge(r == d.Reason))
	}
	m.leadTime.With(l).Set(o.LeadTime.Seconds())
	m.recordNodes(o, l)
	m.capacity.With(l).Set(float64(o.Capacity))
	m.dataFresh.With(l).Set(boolGauge(o.DataFresh))
	if f := forecastOf(o); f != nil {
		forecast := m.forecast.MustCurryWith(l)
		forecast.WithLabelValues("quantile_peak").Set(f.QuantilePeak)
		forecast.WithLabelValues("mean_next").Set(f.MeanNext)
		forecast.WithLabelValues("mean_lead").Set(f.MeanLead)
		forecast.WithLabelValues("lower_lead").Set(f.LowerLead)
		forecast.WithLabelValues("upper_lead").Set(f.UpperLead)
	}
}

// recordPhases observes the phases o went through: read always, fit and
// decide when it decided, write when it wrote or tried to.
func (m *Metrics) recordPhases(o Outcome) {
	m.phase.WithLabelValues(phaseRead).Observe(o.Phases.Read.Seconds())
	if o.Decision.Reason != "" {
		m.phase.WithLabelValues(phaseFit).Observe(o.Phases.Fit.Seconds())
		m.phase.WithLabelValues(phaseDecide).Observe(o.Phases.Decide.Seconds())
	}
	if o.Wrote || o.WriteErr != nil {
		m.phase.WithLabelValues(phaseWrite).Observe(o.Phases.Write.Seconds())
	}
}

// The phases of prescaler_target_phase_duration_seconds.
const (
	phaseRead   = "read"
	phaseFit    = "fit"
	phaseDecide = "decide"
	phaseWrite  = "write"
)

// recordNodes exports what the decision knew of the target's nodes and the
// placeholders it keeps.
func (m *Metrics) recordNodes(o Outcome, l prometheus.Labels) {
	m.nodeLead.With(l).Set(o.Nodes.Lead.Seconds())
	m.provisionable.With(l).Set(float64(o.Nodes.Provisionable))
	m.placeholderPods.With(l).Set(float64(o.Placeholders))
	m.placeholderGPUSeconds.With(l).Add(o.PlaceholderGPUSeconds)
}

// recordDemand counts the demand steps the forecaster could not use and
// its failed refits. Every reason's counter is created at zero, so that
// rate() and increase() see the first event.
func (m *Metrics) recordDemand(o Outcome, l prometheus.Labels) {
	invalid := m.invalidSteps.MustCurryWith(l)
	for _, reason := range invalidReasons {
		invalid.WithLabelValues(reason).Add(float64(o.InvalidSteps[reason]))
	}
	m.refitFails.With(l).Add(float64(o.RefitFailures))
}

// recordShadow adds a shadow target's counterfactual time; each counter
// exists at zero from the first shadow decision, so rate() sees the first
// minute counted.
func (m *Metrics) recordShadow(o Outcome, l prometheus.Labels) {
	if !o.Shadow {
		return
	}
	var c ShadowCounts
	if o.ShadowCounts != nil {
		c = *o.ShadowCounts
	}
	const perMinute = 60 // exported in seconds, the base unit
	m.shadowOverloaded.With(l).Add(c.OverloadedMinutes * perMinute)
	m.shadowCovered.With(l).Add(c.CoveredMinutes * perMinute)
	m.shadowExtra.With(l).Add(c.ExtraReplicaMinutes * perMinute)
}

// forgetDecision removes the series of a target's last decision when a
// loop made none (the object is gone or unreadable, disabled, opted out):
// a floor that is no longer in force must not stay on a dashboard.
func (m *Metrics) forgetDecision(target string) {
	match := prometheus.Labels{labelTarget: target}
	for _, v := range []*prometheus.GaugeVec{m.floor, m.wouldWrite, m.needed, m.reason, m.forecast, m.placeholderPods} {
		v.DeletePartialMatch(match)
	}
}

// recordHealth exports the learned capacity, the forecast's record and the
// demotion state.
func (m *Metrics) recordHealth(o Outcome, l prometheus.Labels) {
	if !math.IsNaN(o.Demand) {
		m.demand.With(l).Set(o.Demand)
	}
	m.replicas.With(l).Set(float64(o.Replicas))
	m.readyReplicas.With(l).Set(float64(o.Signals.ReadyReplicas))
	m.capacityPer.With(l).Set(o.ReplicaCapacity)
	m.capacityLearned.With(l).Set(boolGauge(o.CapacityLearned))
	m.forecastError.With(l).Set(o.Health.WAPE)
	m.shortShare.With(l).Set(o.Health.ShortShare)
	m.sloBreach.With(l).Set(boolGauge(o.SLOBreach))
	// Counters are created at zero, so that rate() and increase() see their
	// first event.
	m.shortTotal.With(l).Add(boolGauge(o.ForecastShort))
	m.demoted.With(l).Set(boolGauge(o.Demoted))
	changed := o.DemotionChange != ""
	demotions := m.demotions.MustCurryWith(l)
	demotions.WithLabelValues("demote").Add(boolGauge(changed && o.Demoted))
	demotions.WithLabelValues("promote").Add(boolGauge(changed && !o.Demoted))
}

// recordTuning exports the headroom in force and, when tuned, its replay
// and the HPA target advice.
func (m *Metrics) recordTuning(o Outcome, l prometheus.Labels) {
	h := o.Headroom
	headroom, replay, advice := m.headroom.MustCurryWith(l), m.tuneReplay.MustCurryWith(l), m.hpaAdvice.MustCurryWith(l)
	headroom.WithLabelValues("quantile").Set(h.Quantile)
	headroom.WithLabelValues("floor_utilization").Set(h.Utilization)
	replay.WithLabelValues("budget_minutes_per_day").Set(o.OverloadBudget.Minutes())
	// Until a replay (and without a budget) the replay's figures are NaN and
	// there is no advice.
	r := o.Tuned
	if r == nil {
		r = &TuneResult{ReplayGPUHours: math.NaN(), ReplayOverloadedPerDay: math.NaN()}
	}
	replay.WithLabelValues("gpu_hours").Set(r.ReplayGPUHours)
	replay.WithLabelValues("overloaded_minutes_per_day").Set(r.ReplayOverloadedPerDay)
	met := math.NaN()
	if o.Tuned != nil {
		met = boolGauge(r.Met)
	}
	m.tuneMet.With(l).Set(met)
	advice.WithLabelValues("target").Set(r.AdviceTarget)
	advice.WithLabelValues("saving").Set(r.AdviceSaved)
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// forget removes every series of a target: it left the config, or now
// writes another object, whose labels its next series carry.
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
