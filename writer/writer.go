package writer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/util/retry"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/scaler"
)

// Field managers and annotations.
const (
	// FieldManager is the server-side apply manager prescaler writes as. It
	// owns spec.minReplicas and spec.behavior of an HPA it manages (on a
	// ScaledObject spec.minReplicaCount and
	// spec.advanced.horizontalPodAutoscalerConfig.behavior) and the three
	// annotations below, nothing else.
	FieldManager = "prescaler"
	// RestoreFieldManager is the manager of the update that restores the
	// user's values: after a restore it owns the restored fields that
	// prescaler held alone, and the prescaler manager is gone.
	RestoreFieldManager = "prescaler-restore"

	// AnnotationOriginal holds the user's own values as JSON,
	// {"minReplicas":2,"behavior":null} (null: unset; the behavior in the
	// object's own JSON). It is saved by the first write, in the same request,
	// and after that changes only when the user edits a field by hand.
	AnnotationOriginal = "prescaler.io/original"
	// AnnotationWritten holds what prescaler last applied, in the same form
	// (the behavior restricted to the fields prescaler writes). A live field
	// that differs from it was edited by someone else.
	AnnotationWritten = "prescaler.io/written"
	// AnnotationDecision holds the decision behind the last write, as JSON:
	// when, the floor before and after, the replicas the forecast asked for,
	// the demand quantile that sized them (per minute), the reason and its
	// sentence. It is written with each write and only then, so it costs no
	// request of its own and says what prescaler did after the Events have
	// expired; the live state of every target is `prescaler status`.
	AnnotationDecision = "prescaler.io/decision"
	// AnnotationEnabled set to a false value ("false", "0") on the HPA or
	// ScaledObject opts it out: prescaler restores the user's values and
	// writes nothing more.
	AnnotationEnabled = "prescaler.io/enabled"
)

// EventRecorder receives one Event per change; client-go's
// record.EventRecorder satisfies it.
type EventRecorder interface {
	Eventf(object runtime.Object, eventtype, reason, messageFmt string, args ...any)
}

// Event reasons.
const (
	ReasonOriginalSaved   = "OriginalSaved"
	ReasonFloorRaised     = "FloorRaised"
	ReasonFloorLowered    = "FloorLowered"
	ReasonBehaviorChanged = "BehaviorChanged"
	ReasonUserEdited      = "UserEdited"
	ReasonRestored        = "Restored"
)

// Outcome says what a call did; it suits a metric label.
type Outcome string

// Outcomes.
const (
	// OutcomeWritten: the floor, the behavior or the saved user values were applied.
	OutcomeWritten Outcome = "written"
	// OutcomeUnchanged: the object already held what would be written; no API write.
	OutcomeUnchanged Outcome = "unchanged"
	// OutcomeRestored: the user's values were written back and prescaler's ownership released.
	OutcomeRestored Outcome = "restored"
	// OutcomeDisabled: autoscaling is off for the target (an HPA whose scale
	// target has 0 replicas, a paused ScaledObject); nothing was written.
	OutcomeDisabled Outcome = "disabled"
	// OutcomeOptedOut: the object opts out and holds nothing of prescaler's; nothing was written.
	OutcomeOptedOut Outcome = "opted_out"
)

// Errors, for errors.Is.
var (
	// ErrNotFound: the HPA or ScaledObject does not exist (deleted, or not yet
	// created). A recreated object starts afresh: its values are the user's.
	ErrNotFound = errors.New("object not found")
	// ErrBadAnnotation: prescaler's annotation cannot be decoded, so the
	// user's values are unknown and nothing is written. Removing both
	// prescaler.io annotations makes the live values the user's.
	ErrBadAnnotation = errors.New("bad prescaler annotation")
	// ErrUnsupportedKind: the reference is neither an HPA nor a ScaledObject.
	ErrUnsupportedKind = errors.New("unsupported kind")
)

// State is what the writer reads from a target's object: the inputs of a
// scaler decision and whether a write is allowed.
type State struct {
	Ref config.ObjectRef
	UID types.UID
	// UserMinReplicas is the user's own floor, which prescaler never goes
	// below: the value before prescaler's first write, or the value a user
	// set by hand since (0 for a ScaledObject without minReplicaCount).
	UserMinReplicas int32
	// UserBehavior is the user's own behavior (nil: unset).
	UserBehavior *scaler.Behavior
	// MinReplicas is the floor in force now (prescaler's or the user's).
	MinReplicas int32
	// MaxReplicas is the object's maxReplicas (maxReplicaCount, 100 if unset).
	MaxReplicas int32
	// CurrentReplicas is the scale target's replica count (its scale
	// subresource; the HPA status when that cannot be read).
	CurrentReplicas int32
	// Managed reports prescaler annotations or field ownership on the object.
	Managed bool
	// UserEdited reports a hand edit of a field prescaler wrote that the next
	// write records as the user's value.
	UserEdited bool
	// OptedOut reports AnnotationEnabled set to false.
	OptedOut bool
	// Disabled reports that autoscaling is off for the target, and why.
	Disabled       bool
	DisabledReason string
}

// Result is what one Apply or Restore did.
type Result struct {
	Outcome Outcome
	// PreviousFloor and Floor are the floor before and after the call.
	PreviousFloor, Floor int32
	// UserMinReplicas is the user's floor after the call.
	UserMinReplicas int32
	// UserEdited reports that a hand edit was recorded as the user's value.
	UserEdited bool
	// BehaviorChanged reports a behavior write.
	BehaviorChanged bool
	// Message explains the outcome (the Event message when one was sent).
	Message string
	// Conflicts counts the writes refused with 409 Conflict and retried on
	// a fresh read: another writer changed the object between read and write.
	Conflicts int
}

// Options are the writer's dependencies.
type Options struct {
	// Kube reads and writes HPAs. Required.
	Kube kubernetes.Interface
	// Dynamic reads and writes ScaledObjects and reads scale subresources. Required.
	Dynamic dynamic.Interface
	// Mapper resolves scale target kinds to resources. Default: discovery
	// through Kube, cached, refreshed when a kind is unknown.
	Mapper meta.RESTMapper
	// Recorder receives the Events; nil sends none.
	Recorder EventRecorder
	// Logger logs degraded reads; nil discards.
	Logger *slog.Logger
	// Retry paces the retries of a write that hit a conflict. Default retry.DefaultRetry.
	Retry wait.Backoff
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Cache serves reads from informers (see Cache); nil reads the API
	// server every time.
	Cache Cache
}

// Writer writes prescaler's decisions to HPAs and KEDA ScaledObjects.
// Everything it needs to know about an object is in the object's
// annotations and managedFields, so a restarted or re-elected prescaler
// carries on; between calls it remembers only which generation of each
// object it last wrote, to tell a cache that has not yet seen that write.
type Writer struct {
	kube     kubernetes.Interface
	dyn      dynamic.Interface
	mapper   meta.RESTMapper
	recorder EventRecorder
	log      *slog.Logger
	retry    wait.Backoff
	now      func() time.Time
	cache    Cache
	// marks are the objects' uid and generation as prescaler last wrote
	// them, so that a cache that has not yet seen that write is not read.
	marks sync.Map // config.ObjectRef → writeMark
}

// New returns a Writer.
func New(o Options) (*Writer, error) {
	if o.Kube == nil || o.Dynamic == nil {
		return nil, errors.New("writer: Options.Kube and Options.Dynamic are required")
	}
	w := &Writer{kube: o.Kube, dyn: o.Dynamic, mapper: o.Mapper, recorder: o.Recorder, log: o.Logger, retry: o.Retry, now: o.Now, cache: o.Cache}
	if w.mapper == nil {
		w.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(o.Kube.Discovery()))
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if w.retry.Steps == 0 {
		w.retry = retry.DefaultRetry
	}
	if w.now == nil {
		w.now = time.Now
	}
	return w, nil
}

// NewForConfig returns a Writer with clients for cfg, reading through
// cache when it is not nil.
func NewForConfig(cfg *rest.Config, recorder EventRecorder, logger *slog.Logger, cache Cache) (*Writer, error) {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("writer: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("writer: %w", err)
	}
	return New(Options{Kube: kube, Dynamic: dyn, Recorder: recorder, Logger: logger, Cache: cache})
}

// OptedOut reports whether an object carries AnnotationEnabled with a false
// value.
func OptedOut(obj metav1.Object) bool { return optedOut(obj.GetAnnotations()) }

func optedOut(ann map[string]string) bool {
	v, ok := ann[AnnotationEnabled]
	if !ok {
		return false
	}
	enabled, err := strconv.ParseBool(v)
	return err == nil && !enabled
}

// Observe reads a target's object (from the cache when it holds it): the
// user's values, the floor in force, opt-out and disabled. It writes
// nothing. An object that scales anything but a Deployment is
// ErrUnsupportedScaleTarget.
func (w *Writer) Observe(ctx context.Context, ref config.ObjectRef) (State, error) {
	k, err := w.kindOf(ref)
	if err != nil {
		return State{}, err
	}
	o, err := w.read(ctx, k, ref, true)
	if err != nil {
		return State{}, err
	}
	if err := supportedScaleTarget(ref, k.scaleTarget(o)); err != nil {
		return State{}, err
	}
	v, err := w.view(ctx, k, o)
	if err != nil {
		return State{}, err
	}
	return v.State, nil
}

// UserFloor returns the user's own floor and behavior (see State).
func (w *Writer) UserFloor(ctx context.Context, ref config.ObjectRef) (int32, *scaler.Behavior, error) {
	s, err := w.Observe(ctx, ref)
	return s.UserMinReplicas, s.UserBehavior, err
}

// Apply writes decision d: the floor d.Floor, raised to the user's floor and
// capped at maxReplicas, and the behavior d.Behavior (nil: the user's own).
// The first write saves the user's values in the same request. A hand edit
// found on the object becomes the user's value; a behavior edit is written as
// the user left it this time, the decision made with it next time. Nothing is
// written when the object already holds it, when autoscaling is off for the
// target, or when the object opts out, which restores it instead. An
// object that scales anything but a Deployment is
// ErrUnsupportedScaleTarget.
//
// The first read is the cache's when it holds the object, so a decision
// that changes nothing costs no request. Conflicts are retried on a read
// from the API server; a conflict after a cached read is the cache lagging
// (often behind prescaler's own last write) and is not counted.
func (w *Writer) Apply(ctx context.Context, ref config.ObjectRef, d scaler.Decision) (Result, error) {
	k, err := w.kindOf(ref)
	if err != nil {
		return Result{}, err
	}
	var res Result
	var last *object
	var p applyPlan
	var first bool
	var conflicts, attempts int
	err = retry.RetryOnConflict(w.retry, func() error {
		attempts++
		fromCache := attempts == 1 && w.cache != nil
		o, err := w.read(ctx, k, ref, fromCache)
		if err != nil {
			return err
		}
		if err := supportedScaleTarget(ref, k.scaleTarget(o)); err != nil {
			return err
		}
		last = o
		v, err := w.view(ctx, k, o)
		if err != nil {
			return err
		}
		switch {
		case v.OptedOut && v.Managed:
			res, err = w.restore(ctx, k, o, v)
			return err
		case v.OptedOut:
			res = Result{Outcome: OutcomeOptedOut, PreviousFloor: v.MinReplicas, Floor: v.MinReplicas, UserMinReplicas: v.UserMinReplicas,
				Message: AnnotationEnabled + " is false"}
			return nil
		case v.Disabled:
			res = Result{Outcome: OutcomeDisabled, PreviousFloor: v.MinReplicas, Floor: v.MinReplicas, UserMinReplicas: v.UserMinReplicas,
				Message: v.DisabledReason}
			return nil
		}
		p = plan(v, d)
		res = p.result
		if res.Outcome == OutcomeUnchanged {
			return nil
		}
		p.annotations[AnnotationDecision] = decisionAnnotation(d, res, w.now())
		first = v.original == nil
		obj, err := k.apply(ctx, o, p.written, p.annotations)
		if apierrors.IsConflict(err) && !fromCache {
			conflicts++
		}
		w.wrote(ref, obj)
		return err
	})
	res.Conflicts = conflicts
	if err != nil {
		return res, fmt.Errorf("writer: apply to %s: %w", ref, err)
	}
	if res.Outcome == OutcomeWritten {
		w.emit(last.event, res, d, p, first)
	}
	return res, nil
}

// Restore writes the user's values back (including a hand edit made since
// the last write, and "unset"), removes prescaler's annotations and hands the
// fields prescaler owned alone to RestoreFieldManager, all in one update
// guarded by the resourceVersion read. It writes whether or not autoscaling is
// off for the target. An object prescaler never wrote is left untouched
// (OutcomeUnchanged); a missing one is ErrNotFound.
func (w *Writer) Restore(ctx context.Context, ref config.ObjectRef) (Result, error) {
	k, err := w.kindOf(ref)
	if err != nil {
		return Result{}, err
	}
	var res Result
	var conflicts int
	err = retry.RetryOnConflict(w.retry, func() error {
		o, err := k.get(ctx, ref)
		if err != nil {
			return err
		}
		v, err := w.view(ctx, k, o)
		if err != nil {
			return err
		}
		res, err = w.restore(ctx, k, o, v)
		if apierrors.IsConflict(err) {
			conflicts++
		}
		return err
	})
	res.Conflicts = conflicts
	if err != nil {
		return res, fmt.Errorf("writer: restore %s: %w", ref, err)
	}
	return res, nil
}

// Announce records an Event on a target's object: what prescaler decided
// about the target as a whole (a demotion, a promotion), not a write.
func (w *Writer) Announce(ctx context.Context, ref config.ObjectRef, eventtype, reason, msg string) error {
	k, err := w.kindOf(ref)
	if err != nil {
		return err
	}
	o, err := w.read(ctx, k, ref, true)
	if err != nil {
		return fmt.Errorf("writer: announce on %s: %w", ref, err)
	}
	w.event(o.event, eventtype, reason, msg)
	return nil
}

// ListManaged returns the HPAs and ScaledObjects in namespace ("" for all)
// that prescaler has written to (they carry AnnotationOriginal), so the
// daemon can restore those no longer in its configuration, including after
// a configuration change made while it was down. Without the ScaledObject
// CRD only HPAs are listed.
func (w *Writer) ListManaged(ctx context.Context, namespace string) ([]config.ObjectRef, error) {
	var refs []config.ObjectRef
	hpas, err := w.kube.AutoscalingV2().HorizontalPodAutoscalers(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("writer: listing HPAs: %w", err)
	}
	for _, h := range hpas.Items {
		if _, ok := h.Annotations[AnnotationOriginal]; ok {
			refs = append(refs, config.ObjectRef{Kind: config.KindHPA, Namespace: h.Namespace, Name: h.Name})
		}
	}
	sos, err := w.dyn.Resource(scaledObjectGVR).Namespace(namespace).List(ctx, metav1.ListOptions{})
	switch {
	case apierrors.IsNotFound(err) || meta.IsNoMatchError(err):
		return refs, nil
	case err != nil:
		return nil, fmt.Errorf("writer: listing ScaledObjects: %w", err)
	}
	for _, so := range sos.Items {
		if _, ok := so.GetAnnotations()[AnnotationOriginal]; ok {
			refs = append(refs, config.ObjectRef{Kind: config.KindScaledObject, Namespace: so.GetNamespace(), Name: so.GetName()})
		}
	}
	return refs, nil
}

// view is State plus the values it was computed from.
type view struct {
	State
	// live are the object's values now; original and written the decoded
	// annotations (nil when absent); user the user's values merged from them.
	live, original, written, user values
	// annotations are the object's annotations as read.
	annotations map[string]string
}

// view reads the user's values and the disabled state of object o.
func (w *Writer) view(ctx context.Context, k *kind, o *object) (view, error) {
	v := view{State: State{Ref: o.ref, UID: o.uid}, annotations: o.annotations}
	v.live = o.values(k)
	for key, dst := range map[string]*values{AnnotationOriginal: &v.original, AnnotationWritten: &v.written} {
		s, ok := o.annotations[key]
		if !ok {
			continue
		}
		parsed, err := parseAnnotation(s)
		if err != nil {
			return view{}, fmt.Errorf("%w: %s on %s: %w", ErrBadAnnotation, key, o.ref, err)
		}
		*dst = parsed
	}
	if v.original == nil && v.written != nil {
		return view{}, fmt.Errorf("%w: %s has %s but no %s", ErrBadAnnotation, o.ref, AnnotationWritten, AnnotationOriginal)
	}
	userSet, err := userSetKeys(o.managedFields, k.minPath)
	if err != nil {
		// Degrade to comparing values: a floor the user set to prescaler's
		// own value is then taken for prescaler's.
		w.log.Warn("cannot read managedFields; comparing values only", "namespace", o.ref.Namespace, "kind", o.ref.Kind, "name", o.ref.Name, "error", err)
	}
	v.user = userValues(v.live, v.original, v.written, userSet...)
	userBehavior, err := apiBehavior(v.user.behavior())
	if err != nil {
		return view{}, fmt.Errorf("the user's behavior on %s: %w", o.ref, err)
	}
	v.UserMinReplicas = deref(v.user.minReplicas())
	v.UserBehavior = scalerBehavior(userBehavior)
	v.MinReplicas = deref(v.live.minReplicas())
	v.MaxReplicas = k.maxReplicas(o)
	v.Managed = v.original != nil || v.written != nil || o.ownedBy(FieldManager)
	v.UserEdited = v.original != nil && !reflect.DeepEqual(v.user, v.original)
	v.OptedOut = optedOut(o.annotations)
	v.CurrentReplicas, v.Disabled, v.DisabledReason = w.disabled(ctx, k, o, v.MinReplicas)
	return v, nil
}

// applyPlan is what an Apply writes.
type applyPlan struct {
	user, written values
	annotations   map[string]string
	result        Result
}

// plan decides what to apply for decision d on an object seen as v: pure, so
// the no-op detection and the user-floor rules are tested without a cluster.
func plan(v view, d scaler.Decision) applyPlan {
	floor := max(d.Floor, v.UserMinReplicas)
	if v.MaxReplicas > 0 {
		floor = min(floor, max(v.MaxReplicas, v.UserMinReplicas))
	}
	// The behavior: the decision's, or the user's own when the decision has
	// none or the user has just edited it by hand.
	var behavior map[string]any
	behaviorEdited := v.original != nil && !reflect.DeepEqual(v.user.behavior(), v.original.behavior())
	if d.Behavior != nil && !behaviorEdited {
		behavior = writtenBehavior(d.Behavior)
	} else {
		behavior = writtenBehavior(v.UserBehavior)
	}
	written := values{keyMin: float64(floor)}
	if behavior != nil {
		written[keyBehavior] = behavior
	}
	ann := map[string]string{AnnotationOriginal: v.user.annotation(), AnnotationWritten: written.annotation()}

	res := Result{
		Outcome:         OutcomeWritten,
		PreviousFloor:   v.MinReplicas,
		Floor:           floor,
		UserMinReplicas: v.UserMinReplicas,
		UserEdited:      v.UserEdited,
	}
	prevWrote := v.written != nil && v.written.behavior() != nil
	if behavior != nil {
		res.BehaviorChanged = !matches(v.live.behavior(), behavior)
	} else {
		res.BehaviorChanged = prevWrote && v.live.behavior() != nil
	}
	if v.annotations[AnnotationOriginal] == ann[AnnotationOriginal] &&
		v.annotations[AnnotationWritten] == ann[AnnotationWritten] && matches(v.live, written) {
		res.Outcome = OutcomeUnchanged
		res.Message = fmt.Sprintf("minReplicas %d and behavior %s already in force", floor, describeBehavior(behavior))
		return applyPlan{user: v.user, written: written, annotations: ann, result: res}
	}
	res.Message = fmt.Sprintf("minReplicas %d → %d, behavior %s", v.MinReplicas, floor, describeBehavior(behavior))
	return applyPlan{user: v.user, written: written, annotations: ann, result: res}
}

// restore writes the user's values back to o and releases prescaler's
// ownership, in one JSON patch guarded by o's resourceVersion.
func (w *Writer) restore(ctx context.Context, k *kind, o *object, v view) (Result, error) {
	res := Result{Outcome: OutcomeRestored, PreviousFloor: v.MinReplicas, UserMinReplicas: v.UserMinReplicas, UserEdited: v.UserEdited}
	if !v.Managed {
		res.Outcome, res.Floor = OutcomeUnchanged, v.MinReplicas
		return res, nil
	}
	p := newPatch(o.json)
	p.replace([]string{"metadata", "resourceVersion"}, o.rv)
	p.set(k.minPath, v.user[keyMin])
	p.set(k.behaviorPath, v.user[keyBehavior])
	p.remove([]string{"metadata", "annotations", AnnotationOriginal})
	p.remove([]string{"metadata", "annotations", AnnotationWritten})
	p.remove([]string{"metadata", "annotations", AnnotationDecision})
	mf, err := releaseOwnership(o.managedFields, p.doc, metav1.NewTime(w.now()))
	if err != nil {
		return Result{}, err
	}
	p.replace([]string{"metadata", "managedFields"}, mf)
	body, err := p.marshal()
	if err != nil {
		return Result{}, err
	}
	obj, err := k.patch(ctx, o, body)
	if err != nil {
		return Result{}, err
	}
	w.wrote(o.ref, obj)
	res.Floor = deref(v.user.minReplicas())
	res.BehaviorChanged = !reflect.DeepEqual(v.live.behavior(), v.user.behavior())
	res.Message = fmt.Sprintf("restored the user's minReplicas %s (was %d) and behavior %s; %s released",
		describeMin(v.user.minReplicas()), v.MinReplicas, describeBehavior(v.user.behavior()), FieldManager)
	w.event(o.event, corev1.EventTypeNormal, ReasonRestored, res.Message)
	return res, nil
}

// decisionRecord is the content of AnnotationDecision.
type decisionRecord struct {
	At            string `json:"at"`
	PreviousFloor int32  `json:"previousFloor"`
	Floor         int32  `json:"floor"`
	Needed        int32  `json:"needed"`
	// PeakDemandPerMinute is absent when the decision had no forecast.
	PeakDemandPerMinute *float64 `json:"peakDemandPerMinute,omitempty"`
	Reason              string   `json:"reason"`
	Message             string   `json:"message,omitempty"`
}

// decisionAnnotation is AnnotationDecision for a write of d with result res.
func decisionAnnotation(d scaler.Decision, res Result, at time.Time) string {
	rec := decisionRecord{At: at.UTC().Format(time.RFC3339), PreviousFloor: res.PreviousFloor, Floor: res.Floor,
		Needed: d.Needed, Reason: string(d.Reason), Message: d.Message}
	if peak := float64(d.PeakDemand); peak > 0 && !math.IsInf(peak, 0) {
		peak = math.Round(peak*1000) / 1000
		rec.PeakDemandPerMinute = &peak
	}
	b, _ := json.Marshal(rec) // plain fields: cannot fail
	return string(b)
}

// emit sends the Events of a write.
func (w *Writer) emit(obj runtime.Object, res Result, d scaler.Decision, p applyPlan, first bool) {
	why := string(d.Reason)
	if d.Message != "" {
		why += ": " + d.Message
	}
	if first {
		w.event(obj, corev1.EventTypeNormal, ReasonOriginalSaved, fmt.Sprintf("saved the user's minReplicas %s and behavior %s in %s; prescaler now manages the floor and the behavior",
			describeMin(p.user.minReplicas()), describeBehavior(p.user.behavior()), AnnotationOriginal))
	}
	if res.UserEdited {
		w.event(obj, corev1.EventTypeNormal, ReasonUserEdited, fmt.Sprintf("a hand edit is now the user's own value: minReplicas %d is the floor prescaler never goes below", res.UserMinReplicas))
	}
	switch {
	case res.Floor > res.PreviousFloor:
		w.event(obj, corev1.EventTypeNormal, ReasonFloorRaised, fmt.Sprintf("minReplicas %d → %d (%s)", res.PreviousFloor, res.Floor, why))
	case res.Floor < res.PreviousFloor:
		w.event(obj, corev1.EventTypeNormal, ReasonFloorLowered, fmt.Sprintf("minReplicas %d → %d (%s)", res.PreviousFloor, res.Floor, why))
	}
	if res.BehaviorChanged {
		w.event(obj, corev1.EventTypeNormal, ReasonBehaviorChanged, fmt.Sprintf("behavior %s (%s)", describeBehavior(p.written.behavior()), why))
	}
}

func (w *Writer) event(obj runtime.Object, eventtype, reason, msg string) {
	if w.recorder != nil && obj != nil {
		w.recorder.Eventf(obj, eventtype, reason, "%s", msg)
	}
}

func deref(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

func describeMin(p *int32) string {
	if p == nil {
		return "unset"
	}
	return strconv.Itoa(int(*p))
}
