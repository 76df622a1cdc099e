package config

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/template"
)

// Discovery lets the team that owns an HPA or ScaledObject opt it in with
// annotations, without editing this file. Each opted-in object in an allowed
// namespace becomes a target made from Target, its queries' templates
// filled from the object, and the few knobs a team owns overridden by its
// annotations (AnnotationMode and the others below).
type Discovery struct {
	// Enabled turns the annotations on.
	Enabled bool `yaml:"enabled"`
	// Namespaces are the namespaces whose objects may opt in; an annotated
	// object elsewhere is ignored, with a log line.
	Namespaces []string `yaml:"namespaces,omitempty"`
	// Target is every discovered target's settings. Its name, namespace,
	// hpa and scaledObject come from the object and stay empty here. Its
	// queries are Go templates over {{.Namespace}}, {{.Name}} (the HPA or
	// ScaledObject), {{.Kind}} and {{.Workload}} (the scale target's name).
	Target Target `yaml:"target"`
}

// The annotations an object opts in and tunes itself with.
const (
	// AnnotationEnabled opts an object in when "true". It is the
	// annotation whose false value opts any object out (the writer's
	// AnnotationEnabled, which a test keeps equal to this one).
	AnnotationEnabled = "prescaler.io/enabled"
	// AnnotationMode overrides the mode: active or shadow.
	AnnotationMode = "prescaler.io/mode"
	// AnnotationQuantile overrides forecast.quantile, in (0, 1).
	AnnotationQuantile = "prescaler.io/quantile"
	// AnnotationOverloadBudget overrides slo.overloadBudget (e.g. 10m).
	AnnotationOverloadBudget = "prescaler.io/overload-budget"
	// AnnotationReplicaCapacity overrides replicaCapacity: auto or a number.
	AnnotationReplicaCapacity = "prescaler.io/replica-capacity"
	// AnnotationLeadTime overrides leadTime: auto or a duration.
	AnnotationLeadTime = "prescaler.io/lead-time"
)

// AnnotatedObject is what discovery reads of an HPA or ScaledObject.
type AnnotatedObject struct {
	Kind      string // KindHPA or KindScaledObject
	Namespace string
	Name      string
	// Workload is the name of the object's scale target (a Deployment).
	Workload    string
	Annotations map[string]string
}

// Ref names the object.
func (o AnnotatedObject) Ref() ObjectRef {
	return ObjectRef{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}
}

// OptedIn reports whether the object asks to be managed.
func (o AnnotatedObject) OptedIn() bool { return o.Annotations[AnnotationEnabled] == "true" }

// Allows reports whether objects in namespace may opt in.
func (d *Discovery) Allows(namespace string) bool { return slices.Contains(d.Namespaces, namespace) }

// TargetFor makes the target of an opted-in object: Target, its query
// templates filled from the object and the annotations applied, validated
// as a target of the file is. The error names the object, and the
// annotation or key at fault with its value.
func (d *Discovery) TargetFor(o AnnotatedObject) (Target, error) {
	t := d.Target
	t.Name, t.Namespace = DiscoveredName(o.Namespace, o.Name), o.Namespace
	if o.Kind == KindScaledObject {
		t.ScaledObject = o.Name
	} else {
		t.HPA = o.Name
	}
	var problems []error
	q, err := fillQueries(t.Queries, o)
	if err != nil {
		problems = append(problems, err)
	}
	t.Queries = q
	problems = append(problems, applyAnnotations(&t, o.Annotations)...)
	var r report
	t.validate(&r, "target")
	problems = append(problems, r.problems...)
	if err := errors.Join(problems...); err != nil {
		return Target{}, fmt.Errorf("%s: %w", o.Ref(), err)
	}
	return t, nil
}

// DiscoveredName is the target name of a discovered object: its namespace
// and name joined by '-', which must be a DNS-1123 label (63 characters
// at most) like every target name.
func DiscoveredName(namespace, name string) string { return namespace + "-" + name }

// applyAnnotations overrides t's team-owned knobs from the annotations.
func applyAnnotations(t *Target, annotations map[string]string) []error {
	var problems []error
	bad := func(key, value string, err error) {
		problems = append(problems, &FieldError{Field: "annotation " + key, Detail: fmt.Sprintf("%q: %v", value, err)})
	}
	if v, ok := annotations[AnnotationMode]; ok {
		if m := Mode(v); m.valid() {
			t.Mode = m
		} else {
			bad(AnnotationMode, v, fmt.Errorf("must be %s or %s", ModeActive, ModeShadow))
		}
	}
	if v, ok := annotations[AnnotationQuantile]; ok {
		if q, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && q > 0 && q < 1 {
			t.Forecast.Quantile = q
		} else {
			bad(AnnotationQuantile, v, errors.New("must be a number in (0, 1)"))
		}
	}
	if v, ok := annotations[AnnotationOverloadBudget]; ok {
		if err := t.SLO.OverloadBudget.UnmarshalText([]byte(v)); err != nil {
			bad(AnnotationOverloadBudget, v, err)
		}
	}
	if v, ok := annotations[AnnotationReplicaCapacity]; ok {
		if err := t.ReplicaCapacity.UnmarshalText([]byte(v)); err != nil {
			bad(AnnotationReplicaCapacity, v, err)
		}
	}
	if v, ok := annotations[AnnotationLeadTime]; ok {
		if err := t.LeadTime.UnmarshalText([]byte(v)); err != nil {
			bad(AnnotationLeadTime, v, err)
		}
	}
	return problems
}

// fillQueries executes each query template on the object.
func fillQueries(q Queries, o AnnotatedObject) (Queries, error) {
	var problems []error
	fill := func(key, text string) string {
		out, err := fillTemplate(text, o)
		if err != nil {
			problems = append(problems, &FieldError{Field: "discovery.target.queries." + key, Detail: err.Error()})
		}
		return out
	}
	q.Demand = fill("demand", q.Demand)
	q.QueueDepth = fill("queueDepth", q.QueueDepth)
	q.Latency = fill("latency", q.Latency)
	q.GPUUtilization = fill("gpuUtilization", q.GPUUtilization)
	return q, errors.Join(problems...)
}

// fillTemplate executes one query template; an unknown field is an error.
func fillTemplate(text string, o AnnotatedObject) (string, error) {
	if !strings.Contains(text, "{{") {
		return text, nil
	}
	tmpl, err := template.New("query").Option("missingkey=error").Parse(text)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	vars := struct{ Namespace, Name, Kind, Workload string }{o.Namespace, o.Name, o.Kind, o.Workload}
	if err := tmpl.Execute(&b, vars); err != nil {
		return "", err
	}
	return b.String(), nil
}

// validate checks discovery's own keys and that its target, filled from an
// example object, is a valid target.
func (d *Discovery) validate(r *report, path string) {
	if !d.Enabled {
		return
	}
	if len(d.Namespaces) == 0 {
		r.add(path+".namespaces", "must list the namespaces whose objects may opt in")
	}
	for i, ns := range d.Namespaces {
		r.dnsLabel(fmt.Sprintf("%s.namespaces[%d]", path, i), ns)
	}
	tp := path + ".target"
	for key, v := range map[string]string{"name": d.Target.Name, "namespace": d.Target.Namespace,
		"hpa": d.Target.HPA, "scaledObject": d.Target.ScaledObject} {
		if v != "" {
			r.add(tp+"."+key, "%q must be empty: it comes from each annotated object", v)
		}
	}
	example := AnnotatedObject{Kind: KindHPA, Namespace: "namespace", Name: "name", Workload: "workload"}
	t := d.Target
	t.Name, t.Namespace, t.HPA, t.ScaledObject = "example", example.Namespace, example.Name, ""
	q, err := fillQueries(t.Queries, example)
	if err != nil {
		r.problems = append(r.problems, err)
		return
	}
	t.Queries = q
	t.validate(r, tp)
}

// Ignored is an opted-in object that discovery leaves out, and why.
type Ignored struct {
	Object ObjectRef
	Why    string
}

// WithDiscovered returns c with a target for each opted-in object appended
// to the file's own targets, and the opted-in objects left out with the
// reason: discovery off, a namespace not allowed, an object the file
// already manages, a bad annotation or template, a name taken. objects are
// taken in the order given; c is not modified.
func (c *Config) WithDiscovered(objects []AnnotatedObject) (*Config, []Ignored) {
	out := *c
	out.Targets = slices.Clone(c.Targets)
	names := map[string]string{}
	managed := map[ObjectRef]string{}
	for _, t := range c.Targets {
		names[t.Name] = t.Name
		managed[t.Object()] = t.Name
	}
	var ignored []Ignored
	for _, o := range objects {
		if !o.OptedIn() {
			continue
		}
		why := c.Discovery.refusal(o, managed)
		var t Target
		if why == "" {
			var err error
			if t, err = c.Discovery.TargetFor(o); err != nil {
				why = err.Error()
			} else if _, taken := names[t.Name]; taken {
				why = fmt.Sprintf("its target name %q is taken by another target", t.Name)
			}
		}
		if why != "" {
			ignored = append(ignored, Ignored{Object: o.Ref(), Why: why})
			continue
		}
		names[t.Name] = t.Name
		out.Targets = append(out.Targets, t)
	}
	return &out, ignored
}

// refusal says why an opted-in object may not become a target before its
// annotations are read, or "".
func (d *Discovery) refusal(o AnnotatedObject, managed map[ObjectRef]string) string {
	switch {
	case !d.Enabled:
		return "discovery.enabled is false"
	case !d.Allows(o.Namespace):
		return fmt.Sprintf("namespace %s is not in discovery.namespaces", o.Namespace)
	case managed[o.Ref()] != "":
		return fmt.Sprintf("the config file's target %s manages it; its annotations are not read", managed[o.Ref()])
	}
	return ""
}
