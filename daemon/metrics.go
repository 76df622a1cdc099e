package daemon

import (
	"math"

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
// The per-target families keep their values in one targetStore (see
// there for why not client_golang's vectors).
type Metrics struct {
	targets      *targetStore
	forecast     *targetFamily
	floor        *targetFamily
	wouldWrite   *targetFamily
	needed       *targetFamily
	reason       *targetFamily
	leadTime     *targetFamily
	capacity     *targetFamily
	dataFresh    *targetFamily
	errors       *targetFamily
	writeErrors  *targetFamily
	invalidSteps *targetFamily
	refitFails   *targetFamily
	loopDuration prometheus.Histogram
	phase        *prometheus.HistogramVec

	demand          *targetFamily
	capacityPer     *targetFamily
	capacityLearned *targetFamily
	forecastError   *targetFamily
	shortShare      *targetFamily
	sloBreach       *targetFamily
	shortTotal      *targetFamily
	demoted         *targetFamily
	demotions       *targetFamily
	conflicts       *targetFamily
	replicas        *targetFamily
	readyReplicas   *targetFamily

	headroom     *targetFamily
	tuneReplay   *targetFamily
	tuneMet      *targetFamily
	hpaAdvice    *targetFamily
	tuneDuration prometheus.Histogram

	released *prometheus.CounterVec

	nodeLead, provisionable, placeholderPods *targetFamily
	placeholderGPUSeconds                    *targetFamily
	placeholdersRemoved                      prometheus.Counter

	shadowOverloaded, shadowCovered, shadowExtra *targetFamily
}

// The values of the per-target families' own labels.
var (
	forecastStatistics = []string{"quantile_peak", "mean_next", "mean_lead", "lower_lead", "upper_lead"}
	replayStatistics   = []string{"budget_minutes_per_day", "gpu_hours", "overloaded_minutes_per_day"}
	adviceStatistics   = []string{"target", "saving"}
	headroomSettings   = []string{"quantile", "floor_utilization"}
	demotionDirections = []string{"demote", "promote"}
)

// NewMetrics creates and registers the daemon's metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	s := newTargetStore()
	// gauge and counter make per-target families: targetLabelNames, then
	// the metric's own label, if any, with its values.
	gauge := func(name, help string, own ...string) *targetFamily {
		if len(own) == 0 {
			return s.family(prometheus.GaugeValue, name, help, "")
		}
		return s.family(prometheus.GaugeValue, name, help, own[0], own[1:]...)
	}
	counter := func(name, help string, own ...string) *targetFamily {
		if len(own) == 0 {
			return s.family(prometheus.CounterValue, name, help, "")
		}
		return s.family(prometheus.CounterValue, name, help, own[0], own[1:]...)
	}
	with := func(label string, values []string) []string { return append([]string{label}, values...) }
	reasonValues := make([]string, len(reasons))
	for i, r := range reasons {
		reasonValues[i] = string(r)
	}
	m := &Metrics{
		targets: s,
		forecast: gauge("forecast_demand_per_minute",
			"Forecast demand in requests per minute: the next step's mean, and the configured quantile's peak over the lead time.",
			with(labelStatistic, forecastStatistics)...),
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
			"Demotions to reactive scaling and promotions back to forecasting.", with("direction", demotionDirections)...),
		conflicts: counter("write_conflicts_total",
			"Writes refused with 409 Conflict (another writer changed the object between read and write) and retried."),
		floor: gauge("floor_replicas", "The minReplicas prescaler last decided and wrote (active mode)."),
		wouldWrite: gauge("floor_would_write_replicas",
			"The minReplicas prescaler decided: written in active mode, only exported in shadow mode."),
		needed: gauge("needed_replicas", "The replicas the forecast asks for over the lead time, before any bound."),
		reason: gauge("decision_reason",
			"1 for the rule or bound that shaped the last decision, 0 for the others.", with(labelReason, reasonValues)...),
		leadTime:  gauge("lead_time_seconds", "The lead time used: the pods' start-up time."),
		capacity:  gauge("schedulable_replicas", "Replicas of the target the cluster can run now (-1: unknown)."),
		dataFresh: gauge("data_fresh", "1 when the target's demand is fresh enough to lower a floor."),
		errors: counter("target_errors_total",
			"Problems met while reconciling a target (the loop goes on with safe fallbacks)."),
		writeErrors: counter("write_errors_total", "Failed writes of a target's floor or behavior."),
		invalidSteps: counter("demand_invalid_steps_total",
			"Demand steps the forecaster could not use, each counted as missing, by reason: missing (no value, or NaN), "+
				"not_finite (±Inf, or beyond 3.4e38), negative, implausible (over 100 times the 99th percentile of the fitting window's demand).",
			with(labelReason, invalidReasons)...),
		refitFails: counter("forecast_refit_failures_total",
			"Scheduled refits of a target's forecaster that failed; the model in hand is kept and the log says why."),
		headroom: gauge("headroom",
			"The headroom in force: the demand quantile the floor covers and the floor utilization (tuned for slo.overloadBudget, or configured).",
			with(labelSetting, headroomSettings)...),
		tuneReplay: gauge("tuning_replay",
			"What the tuned headroom cost over the replayed history: gpu_hours, and overloaded_minutes_per_day against budget_minutes_per_day (0: no budget; the replay's figures are NaN until a replay).",
			with(labelStatistic, replayStatistics)...),
		tuneMet: gauge("tuning_budget_met",
			"1 when the tuned headroom kept within slo.overloadBudget over the replay, 0 when no setting did (NaN: no replay yet, or no budget)."),
		hpaAdvice: gauge("hpa_target_advice",
			"The hotter HPA utilization target the floors allow (target) and the share of GPU-hours it would have saved over the replay (saving); 0 without advice.",
			with(labelStatistic, adviceStatistics)...),
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
	decided := o.Skipped == "" && o.Decision.Reason != ""
	t := m.targets.lock(o.Target, o.Object)
	m.recordTarget(o, t, decided)
	m.targets.unlock()
	if !decided {
		m.forgetDecision(o.Target)
	}
}

// recordTarget sets the per-target series of o on t (the store locked):
// those of a decision only when decided.
func (m *Metrics) recordTarget(o Outcome, t *targetValues, decided bool) {
	m.errors.add(t, "", float64(len(o.Errs)))
	m.writeErrors.add(t, "", boolGauge(o.WriteErr != nil))
	m.conflicts.add(t, "", float64(o.Conflicts))
	m.recordDemand(o, t)
	if !decided {
		return
	}
	m.recordHealth(o, t)
	m.recordTuning(o, t)
	m.recordShadow(o, t)
	d := o.Decision
	m.wouldWrite.set(t, "", float64(d.Floor))
	if o.Wrote {
		m.floor.set(t, "", float64(d.Floor))
	}
	m.needed.set(t, "", float64(d.Needed))
	for _, r := range reasons {
		m.reason.set(t, string(r), boolGauge(r == d.Reason))
	}
	m.leadTime.set(t, "", o.LeadTime.Seconds())
	m.recordNodes(o, t)
	m.capacity.set(t, "", float64(o.Capacity))
	m.dataFresh.set(t, "", boolGauge(o.DataFresh))
	if f := forecastOf(o); f != nil {
		m.forecast.set(t, "quantile_peak", f.QuantilePeak)
		m.forecast.set(t, "mean_next", f.MeanNext)
		m.forecast.set(t, "mean_lead", f.MeanLead)
		m.forecast.set(t, "lower_lead", f.LowerLead)
		m.forecast.set(t, "upper_lead", f.UpperLead)
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
func (m *Metrics) recordNodes(o Outcome, t *targetValues) {
	m.nodeLead.set(t, "", o.Nodes.Lead.Seconds())
	m.provisionable.set(t, "", float64(o.Nodes.Provisionable))
	m.placeholderPods.set(t, "", float64(o.Placeholders))
	m.placeholderGPUSeconds.add(t, "", o.PlaceholderGPUSeconds)
}

// recordDemand counts the demand steps the forecaster could not use and
// its failed refits. Every reason's counter is created at zero, so that
// rate() and increase() see the first event.
func (m *Metrics) recordDemand(o Outcome, t *targetValues) {
	for _, reason := range invalidReasons {
		m.invalidSteps.add(t, reason, float64(o.InvalidSteps[reason]))
	}
	m.refitFails.add(t, "", float64(o.RefitFailures))
}

// recordShadow adds a shadow target's counterfactual time; each counter
// exists at zero from the first shadow decision, so rate() sees the first
// minute counted.
func (m *Metrics) recordShadow(o Outcome, t *targetValues) {
	if !o.Shadow {
		return
	}
	var c ShadowCounts
	if o.ShadowCounts != nil {
		c = *o.ShadowCounts
	}
	const perMinute = 60 // exported in seconds, the base unit
	m.shadowOverloaded.add(t, "", c.OverloadedMinutes*perMinute)
	m.shadowCovered.add(t, "", c.CoveredMinutes*perMinute)
	m.shadowExtra.add(t, "", c.ExtraReplicaMinutes*perMinute)
}

// forgetDecision removes the series of a target's last decision when a
// loop made none (the object is gone or unreadable, disabled, opted out):
// a floor that is no longer in force must not stay on a dashboard.
func (m *Metrics) forgetDecision(target string) {
	m.targets.clear(target, m.floor, m.wouldWrite, m.needed, m.reason, m.forecast, m.placeholderPods)
}

// recordHealth exports the learned capacity, the forecast's record and the
// demotion state.
func (m *Metrics) recordHealth(o Outcome, t *targetValues) {
	if !math.IsNaN(float64(o.Demand)) {
		m.demand.set(t, "", float64(o.Demand))
	}
	m.replicas.set(t, "", float64(o.Replicas))
	m.readyReplicas.set(t, "", float64(o.Signals.ReadyReplicas))
	m.capacityPer.set(t, "", float64(o.ReplicaCapacity))
	m.capacityLearned.set(t, "", boolGauge(o.CapacityLearned))
	m.forecastError.set(t, "", o.Health.WAPE)
	m.shortShare.set(t, "", o.Health.ShortShare)
	m.sloBreach.set(t, "", boolGauge(o.SLOBreach))
	// Counters are created at zero, so that rate() and increase() see their
	// first event.
	m.shortTotal.add(t, "", boolGauge(o.ForecastShort))
	m.demoted.set(t, "", boolGauge(o.Demoted))
	changed := o.DemotionChange != ""
	m.demotions.add(t, "demote", boolGauge(changed && o.Demoted))
	m.demotions.add(t, "promote", boolGauge(changed && !o.Demoted))
}

// recordTuning exports the headroom in force and, when tuned, its replay
// and the HPA target advice.
func (m *Metrics) recordTuning(o Outcome, t *targetValues) {
	h := o.Headroom
	m.headroom.set(t, "quantile", h.Quantile)
	m.headroom.set(t, "floor_utilization", h.Utilization)
	m.tuneReplay.set(t, "budget_minutes_per_day", o.OverloadBudget.Minutes())
	// Until a replay (and without a budget) the replay's figures are NaN and
	// there is no advice.
	r := o.Tuned
	if r == nil {
		r = &TuneResult{ReplayGPUHours: math.NaN(), ReplayOverloadedPerDay: math.NaN()}
	}
	m.tuneReplay.set(t, "gpu_hours", r.ReplayGPUHours)
	m.tuneReplay.set(t, "overloaded_minutes_per_day", r.ReplayOverloadedPerDay)
	met := math.NaN()
	if o.Tuned != nil {
		met = boolGauge(r.Met)
	}
	m.tuneMet.set(t, "", met)
	m.hpaAdvice.set(t, "target", r.AdviceTarget)
	m.hpaAdvice.set(t, "saving", r.AdviceSaved)
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// forget removes every series of a target: it left the config, or now
// writes another object, whose labels its next series carry.
func (m *Metrics) forget(target string) { m.targets.forget(target) }
