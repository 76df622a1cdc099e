package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// FieldError is one problem in a configuration: the key path, as written in
// the YAML file, and what is wrong with its value.
type FieldError struct {
	// Field is the key path, such as "targets[2].forecast.season".
	Field string
	// Detail names the bad value and the rule, such as
	// `"25h" is not a multiple of step "7m"`.
	Detail string
}

// Error returns "field: detail".
func (e *FieldError) Error() string { return e.Field + ": " + e.Detail }

// Validate checks every rule and returns all problems at once, joined with
// errors.Join, one *FieldError each; nil means the configuration is usable.
func (c *Config) Validate() error {
	var r report
	r.positive("interval", c.Interval)
	c.Prometheus.validate(&r, "prometheus")
	c.LeaderElection.validate(&r, "leaderElection")
	c.Server.validate(&r, "server")
	validateTargets(&r, c.Targets, c.Discovery.Enabled)
	c.Discovery.validate(&r, "discovery")
	c.Checkpoint.validate(&r, "checkpoint", c.Interval)
	return errors.Join(r.problems...)
}

// validate checks a checkpoint that is on: an absolute file path, written
// no more often than the loop runs.
func (c *Checkpoint) validate(r *report, path string, interval Duration) {
	if c.Path == "" {
		return
	}
	switch {
	case !filepath.IsAbs(c.Path):
		r.add(path+".path", "%q must be an absolute path (a file on a mounted volume)", c.Path)
	case strings.HasSuffix(c.Path, "/") || filepath.Base(c.Path) == "." || filepath.Base(c.Path) == "..":
		r.add(path+".path", "%q must name a file, not a directory", c.Path)
	}
	switch {
	case c.Interval <= 0:
		r.add(path+".interval", "%q must be > 0", c.Interval)
	case c.Interval < interval:
		r.add(path+".interval", "%q must not be shorter than interval %q: one checkpoint is written at a time, at most once a loop", c.Interval, interval)
	}
}

// report collects problems in the order they are found.
type report struct {
	problems []error
}

func (r *report) add(field, format string, args ...any) {
	r.problems = append(r.problems, &FieldError{Field: field, Detail: fmt.Sprintf(format, args...)})
}

func (r *report) positive(field string, d Duration) {
	if d <= 0 {
		r.add(field, "%q must be > 0", d)
	}
}

func (r *report) notNegative(field string, d Duration, zeroMeans string) {
	if d < 0 {
		r.add(field, "%q must be >= 0 (0 %s)", d, zeroMeans)
	}
}

// fraction checks that v lies in the open interval (0, 1).
func (r *report) fraction(field string, v float64) {
	if !(v > 0 && v < 1) {
		r.add(field, "%v must be in (0, 1)", v)
	}
}

// dnsLabel checks a required Kubernetes name that must be a DNS-1123 label
// (namespaces, target names).
func (r *report) dnsLabel(field, value string) {
	switch {
	case value == "":
		r.add(field, "must be set")
	case !isDNSLabel(value):
		r.add(field, "%q is not a DNS-1123 label (at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit)", value)
	}
}

// dnsSubdomain checks a required Kubernetes object name (HPA, ScaledObject, Lease).
func (r *report) dnsSubdomain(field, value string) {
	switch {
	case value == "":
		r.add(field, "must be set")
	case !isDNSSubdomain(value):
		r.add(field, "%q is not a valid object name (DNS-1123 subdomain: at most 253 lowercase letters, digits, '-' or '.')", value)
	}
}

// together checks that two settings which only work as a pair are both set
// or both empty.
func (r *report) together(path, keyA, a, keyB, b string) {
	switch {
	case a != "" && b == "":
		r.add(path+"."+keyB, "must be set together with %s %q", keyA, a)
	case a == "" && b != "":
		r.add(path+"."+keyA, "must be set together with %s %q", keyB, b)
	}
}

func (p *Prometheus) validate(r *report, path string) {
	validateHTTPURL(r, path+".url", p.URL)
	r.positive(path+".timeout", p.Timeout)
	if p.BearerTokenFile != "" && p.BasicAuth != (BasicAuth{}) {
		r.add(path+".bearerTokenFile", "%q cannot be combined with basicAuth; use one of them", p.BearerTokenFile)
	}
	r.together(path+".basicAuth", "username", p.BasicAuth.Username, "passwordFile", p.BasicAuth.PasswordFile)
	r.together(path+".tls", "certFile", p.TLS.CertFile, "keyFile", p.TLS.KeyFile)
}

func validateHTTPURL(r *report, field, raw string) {
	if raw == "" {
		r.add(field, "must be set")
		return
	}
	u, err := url.Parse(raw)
	shown := RedactURL(raw) // problems are printed: never with a password
	switch {
	case err != nil:
		r.add(field, "%q is not a URL", shown)
	case u.Scheme != "http" && u.Scheme != "https":
		r.add(field, "%q must start with http:// or https://", shown)
	case u.Host == "":
		r.add(field, "%q has no host", shown)
	}
}

// leaderElectionJitter is client-go's leaderelection.JitterFactor: it refuses
// a renewDeadline not above 1.2 × retryPeriod.
const leaderElectionJitter = 1.2

func (l *LeaderElection) validate(r *report, path string) {
	if !l.Enabled {
		return
	}
	r.dnsSubdomain(path+".leaseName", l.LeaseName)
	if l.Namespace != "" {
		r.dnsLabel(path+".namespace", l.Namespace)
	}
	r.positive(path+".leaseDuration", l.LeaseDuration)
	r.positive(path+".renewDeadline", l.RenewDeadline)
	r.positive(path+".retryPeriod", l.RetryPeriod)
	if l.RenewDeadline > 0 && l.RenewDeadline >= l.LeaseDuration {
		r.add(path+".renewDeadline", "%q must be shorter than leaseDuration %q", l.RenewDeadline, l.LeaseDuration)
	}
	if l.RetryPeriod > 0 && float64(l.RenewDeadline) <= leaderElectionJitter*float64(l.RetryPeriod) {
		r.add(path+".retryPeriod", "%q is too long for renewDeadline %q: renewDeadline must exceed 1.2 × retryPeriod", l.RetryPeriod, l.RenewDeadline)
	}
}

func (s *Server) validate(r *report, path string) {
	field := path + ".address"
	if s.Address == "" {
		r.add(field, "must be set")
		return
	}
	_, port, err := net.SplitHostPort(s.Address)
	if err != nil {
		r.add(field, "%q must be host:port, such as \":8080\"", s.Address)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		r.add(field, "%q has an invalid port (want 0-65535)", s.Address)
	}
}

func validateTargets(r *report, targets []Target, discovery bool) {
	if len(targets) == 0 && !discovery {
		r.add("targets", "at least one target is required (or discovery.enabled)")
		return
	}
	nameOwner := map[string]int{}
	objectOwner := map[ObjectRef]int{}
	for i := range targets {
		t := &targets[i]
		path := fmt.Sprintf("targets[%d]", i)
		if first, taken := nameOwner[t.Name]; taken && t.Name != "" {
			r.add(path+".name", "%q is already used by targets[%d]", t.Name, first)
		} else {
			nameOwner[t.Name] = i
		}
		obj := t.Object()
		if first, taken := objectOwner[obj]; taken && obj.Name != "" {
			r.add(path+"."+objectKey(obj), "%q is already managed by targets[%d]", obj.Namespace+"/"+obj.Name, first)
		} else {
			objectOwner[obj] = i
		}
		t.validate(r, path)
	}
}

// objectKey is the target key that names obj.
func objectKey(obj ObjectRef) string {
	if obj.Kind == KindScaledObject {
		return "scaledObject"
	}
	return "hpa"
}

func (t *Target) validate(r *report, path string) {
	r.dnsLabel(path+".name", t.Name)
	r.dnsLabel(path+".namespace", t.Namespace)
	t.validateObject(r, path)
	if !t.Mode.valid() {
		r.add(path+".mode", "%q must be one of %s, %s", t.Mode, ModeActive, ModeShadow)
	}
	if strings.TrimSpace(t.Queries.Demand) == "" {
		r.add(path+".queries.demand", "must be set")
	}
	t.validateCapacity(r, path)
	t.validateSLO(r, path+".slo")
	t.Forecast.validate(r, path+".forecast")
	if !t.LeadTime.Auto && t.LeadTime.Duration <= 0 {
		r.add(path+".leadTime", "%q must be > 0 or \"auto\"", t.LeadTime)
	}
	t.Bounds.validate(r, path+".bounds")
	t.ScaleDown.validate(r, path+".scaleDown")
	t.validateDemotion(r, path+".demotion")
	t.validateTuning(r, path)
	t.Nodes.validate(r, path+".nodes")
}

// validateTuning checks the overload budget and its replay: the history
// must hold at least a fitting season and a replayed day.
func (t *Target) validateTuning(r *report, path string) {
	r.notNegative(path+".slo.overloadBudget", t.SLO.OverloadBudget, "means no tuning")
	if t.SLO.OverloadBudget <= 0 {
		return
	}
	tu := t.Tuning
	r.positive(path+".tuning.every", tu.Every)
	if u := tu.HPATargetUtilization; !(u > 0 && u <= 1) {
		r.add(path+".tuning.hpaTargetUtilization", "%v must be in (0, 1]", u)
	}
	if q := tu.HPAQueueTarget; !(q >= 0) || math.IsInf(q, 0) {
		r.add(path+".tuning.hpaQueueTarget", "%v must be a number >= 0 (0: none)", q)
	}
	if t.Forecast.Step > 0 && time.Duration(t.Forecast.Step)%time.Minute != 0 {
		r.add(path+".forecast.step", "%q must be a whole number of minutes with slo.overloadBudget (the replay runs minute by minute)", t.Forecast.Step)
	}
	if need := TuneFit(*t) + Duration(24*time.Hour); t.Forecast.History < need {
		r.add(path+".forecast.history", "%q must hold a season to fit and a day to replay (%q) with slo.overloadBudget", t.Forecast.History, need)
	}
}

// TuneFit is the part of the history the replay's forecaster is fitted on:
// half of it, and at least one season; the rest is replayed.
func TuneFit(t Target) Duration {
	return max(t.Forecast.History/2, t.Forecast.Season, t.Forecast.Step)
}

func (t *Target) validateDemotion(r *report, path string) {
	d := t.Demotion
	if !d.Enabled {
		return
	}
	if d.Window < t.Forecast.Step || d.Window <= 0 {
		r.add(path+".window", "%q must be at least one forecast step (%q)", d.Window, t.Forecast.Step)
	}
	if !positiveFinite(d.ErrorAbove) {
		r.add(path+".errorAbove", "%v must be > 0", d.ErrorAbove)
	}
	if !(d.RecoverBelow > 0 && d.RecoverBelow < d.ErrorAbove) {
		r.add(path+".recoverBelow", "%v must be > 0 and below errorAbove %v, so that a target near the threshold does not flap", d.RecoverBelow, d.ErrorAbove)
	}
	if !(d.ShortAbove >= 0 && d.ShortAbove <= 1) {
		r.add(path+".shortAbove", "%v must be in [0, 1] (0 disables the signal)", d.ShortAbove)
	}
}

func (t *Target) validateObject(r *report, path string) {
	switch {
	case t.HPA == "" && t.ScaledObject == "":
		r.add(path+".hpa", "must be set unless scaledObject is set")
	case t.HPA != "" && t.ScaledObject != "":
		r.add(path+".scaledObject", "%q cannot be set together with hpa %q; set exactly one", t.ScaledObject, t.HPA)
	case t.HPA != "":
		r.dnsSubdomain(path+".hpa", t.HPA)
	default:
		r.dnsSubdomain(path+".scaledObject", t.ScaledObject)
	}
}

func (t *Target) validateCapacity(r *report, path string) {
	capacity, fallback := t.ReplicaCapacity, t.FallbackReplicaCapacity
	switch {
	case capacity.Auto:
		if !positiveFinite(fallback) {
			r.add(path+".fallbackReplicaCapacity", "%v must be > 0 when replicaCapacity is \"auto\" (it is used until capacity is learned)", fallback)
		}
		return
	case capacity.Value == 0:
		r.add(path+".replicaCapacity", "must be set to \"auto\" or a number > 0")
	case !positiveFinite(capacity.Value):
		r.add(path+".replicaCapacity", "%v must be a number > 0 or \"auto\"", capacity.Value)
	}
	if !(fallback >= 0) || math.IsInf(fallback, 1) {
		r.add(path+".fallbackReplicaCapacity", "%v must be >= 0", fallback)
	}
}

func positiveFinite(v float64) bool { return v > 0 && !math.IsInf(v, 1) }

func (t *Target) validateSLO(r *report, path string) {
	r.notNegative(path+".latency", t.SLO.Latency, "means no latency objective")
	if t.SLO.Latency > 0 && strings.TrimSpace(t.Queries.Latency) == "" {
		r.add(path+".latency", "%q needs queries.latency to be measured", t.SLO.Latency)
	}
	if c := t.SLO.GPUUtilizationCeiling; !(c > 0 && c <= 1) {
		r.add(path+".gpuUtilizationCeiling", "%v must be in (0, 1]", c)
	}
	if t.ReplicaCapacity.Auto && t.SLO.LearnWindow < t.Forecast.Step {
		r.add(path+".learnWindow", "%q must be at least one forecast step (%q) when replicaCapacity is \"auto\"", t.SLO.LearnWindow, t.Forecast.Step)
	}
}

func (f *Forecast) validate(r *report, path string) {
	stepValid := f.validateStep(r, path+".step")
	f.validateSeasons(r, path, stepValid)
	if stepValid && f.History < f.Step {
		r.add(path+".history", "%q must be at least one step (%q)", f.History, f.Step)
	}
	r.positive(path+".refit", f.Refit)
	r.fraction(path+".quantile", f.Quantile)
	if u := f.FloorUtilization; !(u > 0 && u <= 1) {
		r.add(path+".floorUtilization", "%v must be in (0, 1]", u)
	}
	r.fraction(path+".interval", f.Interval)
}

// validateStep reports whether step is usable for the checks that depend on it.
func (f *Forecast) validateStep(r *report, field string) bool {
	switch {
	case f.Step <= 0:
		r.add(field, "%q must be > 0", f.Step)
		return false
	case time.Duration(f.Step)%time.Second != 0:
		r.add(field, "%q must be a whole number of seconds", f.Step)
		return false
	}
	return true
}

func (f *Forecast) validateSeasons(r *report, path string, stepValid bool) {
	switch {
	case f.Season < 0:
		r.add(path+".season", "%q must be >= 0 (0 disables seasonality)", f.Season)
	case f.Season == 0 || !stepValid:
		// No seasonality, or no step to compare with (already reported).
	case f.Season%f.Step != 0:
		r.add(path+".season", "%q is not a multiple of step %q", f.Season, f.Step)
	case f.Season < 2*f.Step:
		r.add(path+".season", "%q must be at least 2 steps of %q", f.Season, f.Step)
	}
	switch {
	case f.Season2 < 0:
		r.add(path+".season2", "%q must be >= 0 (0 disables the second season)", f.Season2)
	case f.Season2 == 0:
		// No second season.
	case f.Season <= 0:
		r.add(path+".season2", "%q needs a primary season; set season as well", f.Season2)
	case f.Season2%f.Season != 0:
		r.add(path+".season2", "%q is not a multiple of season %q", f.Season2, f.Season)
	case f.Season2 == f.Season:
		r.add(path+".season2", "%q must be longer than season %q", f.Season2, f.Season)
	}
}

func (b *Bounds) validate(r *report, path string) {
	if b.MinReplicas < 0 {
		r.add(path+".minReplicas", "%d must be >= 0 (0 keeps the HPA's own minReplicas)", b.MinReplicas)
	}
	if b.MaxReplicas < 0 {
		r.add(path+".maxReplicas", "%d must be >= 0 (0 means the HPA's maxReplicas)", b.MaxReplicas)
	}
	if b.MinReplicas > 0 && b.MaxReplicas > 0 && b.MinReplicas > b.MaxReplicas {
		r.add(path+".minReplicas", "%d must be <= maxReplicas %d", b.MinReplicas, b.MaxReplicas)
	}
}

func (s *ScaleDown) validate(r *report, path string) {
	r.notNegative(path+".stabilization", s.Stabilization, "lowers a floor as soon as it is wanted")
	if s.MaxStepPercent <= 0 || s.MaxStepPercent > 100 {
		r.add(path+".maxStepPercent", "%d must be in (0, 100]", s.MaxStepPercent)
	}
}

// Warnings lists settings that are allowed but probably not what was meant,
// as "field: detail" lines. It assumes c has passed Validate.
func (c *Config) Warnings() []string {
	var notes []string
	note := func(field, format string, args ...any) {
		notes = append(notes, field+": "+fmt.Sprintf(format, args...))
	}
	if c.Prometheus.Timeout > c.Interval {
		note("prometheus.timeout", "%q is longer than interval %q; one slow query delays the next tick", c.Prometheus.Timeout, c.Interval)
	}
	if hasPassword(c.Prometheus.URL) {
		note("prometheus.url", "%q holds a password, which prescaler never prints; keep it in a Secret with basicAuth.passwordFile instead of the config", RedactURL(c.Prometheus.URL))
	}
	if c.Prometheus.TLS.InsecureSkipVerify {
		note("prometheus.tls.insecureSkipVerify", "true: the Prometheus server certificate is not checked")
	}
	for i := range c.Targets {
		t := &c.Targets[i]
		path := fmt.Sprintf("targets[%d]", i)
		longest := max(t.Forecast.Season, t.Forecast.Season2)
		if longest > 0 && t.Forecast.History < 2*longest {
			note(path+".forecast.history", "%q is shorter than two seasons of %q; the seasonal pattern is learned from less than two cycles", t.Forecast.History, longest)
		}
		if !t.ReplicaCapacity.Auto && t.FallbackReplicaCapacity > 0 {
			note(path+".fallbackReplicaCapacity", "%v is ignored because replicaCapacity is a number, not \"auto\"", t.FallbackReplicaCapacity)
		}
	}
	return notes
}

// isDNSLabel reports whether s is an RFC 1123 label as Kubernetes checks it:
// at most 63 characters of [a-z0-9-], starting and ending with [a-z0-9].
func isDNSLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// isDNSSubdomain reports whether s is an RFC 1123 subdomain as Kubernetes
// checks object names: at most 253 characters, dot-separated labels.
func isDNSSubdomain(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if !isDNSLabel(label) {
			return false
		}
	}
	return true
}
