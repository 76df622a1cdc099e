// Package writer is the only code in prescaler that writes to the cluster. It
// writes a scaler.Decision (a replica floor and an HPA behavior) to a
// target's autoscaling/v2 HorizontalPodAutoscaler or KEDA ScaledObject, and
// gives the user's own values back when prescaler lets go, without ever
// losing them.
//
// The daemon calls, per target and loop, Observe (the user's floor and
// behavior, the floor in force, the replicas, opt-out and disabled: the
// inputs of scaler.Decide), then Apply with the decision; Restore when the
// target leaves the configuration (ListManaged finds every object prescaler
// has written to) and from `prescaler restore`. A consumer
// declares the narrow interface it needs, e.g.
//
//	type HPAWriter interface {
//		Observe(context.Context, config.ObjectRef) (writer.State, error)
//		Apply(context.Context, config.ObjectRef, scaler.Decision) (writer.Result, error)
//		Restore(context.Context, config.ObjectRef) (writer.Result, error)
//	}
//
// # Field ownership
//
// Writes are server-side applies as field manager "prescaler" of exactly
// spec.minReplicas, spec.behavior (the fields of each direction prescaler
// writes: stabilizationWindowSeconds, selectPolicy, policies) and the
// annotations prescaler.io/original, prescaler.io/written and
// prescaler.io/decision (the decision behind the last write). They use
// Force: the user's manager (kubectl, Helm, a GitOps tool) owns minReplicas,
// so an unforced apply of a different value is a conflict. Forcing moves only
// the fields in the configuration, these few, to prescaler; every other field
// of the object stays the user's and is never sent. The apply carries the
// object's uid, so it cannot recreate an object deleted since it was read,
// and its resourceVersion, so an edit that lands between the read and the
// write fails the apply with a conflict and is seen on the retry rather than
// overwritten.
//
// The behavior is applied complete: both directions, with every field
// prescaler writes taken from the decision or else from the autoscaling/v2
// defaults. The apiserver defaults the missing fields of a behavior anyway,
// but fields it defaults belong to no manager; left in the object, they would
// keep spec.behavior set after prescaler stops applying it. Applied complete,
// all of it is prescaler's, and when the user had no behavior and nothing is
// due, prescaler applies none and server-side apply prunes it: "unset" again.
//
// # The user's values
//
// prescaler.io/original holds the user's values as JSON, in the object's own
// form ({"minReplicas":2,"behavior":null}, null meaning unset), so fields
// prescaler does not model (tolerance) come back verbatim. The first apply
// saves it in the same request that first writes a floor: there is no moment
// at which the object holds prescaler's values and not the user's. After
// that prescaler never writes its own values into it.
//
// prescaler.io/written holds what prescaler last applied. On every read the
// user's values are merged field by field: a field that still holds what
// prescaler wrote takes the saved original; a field that holds something else
// was edited by someone else (kubectl edit, a GitOps sync) and its live value
// is the user's new one; a field prescaler never writes is the user's as it
// stands. A user who edits minReplicas by hand thereby sets a new user floor,
// which prescaler never goes below and which a restore brings back. The next
// apply records the merged values in prescaler.io/original. A behavior edited
// by hand is written back as the user left it on that apply and the next
// decision, made with it, on the following one.
//
// A minReplicas set to exactly the value prescaler wrote compares equal, so
// for the floor the managedFields are read too: when a manager other than
// prescaler owns spec.minReplicas beside it, that manager set the live value
// (a forced apply of a different value, or an update that changes it, takes
// the field from every other owner, so shared ownership means agreement with
// the value in force), and the live value is the user's floor. Server-side
// apply owns every field it sends, changed or not, so `kubectl apply
// --server-side` of prescaler's own value is seen this way.
//
// # Restore
//
// A restore is one JSON patch, guarded by the resourceVersion read, sent as
// field manager "prescaler-restore" (an update, not an apply). It sets
// minReplicas and the behavior to the user's values (removing the behavior
// when the user had none), removes prescaler's annotations, and replaces
// metadata.managedFields with the live entries less prescaler's: the
// apiserver takes managedFields sent in an update or non-apply patch as the
// object's. Fields prescaler owned alone go to "prescaler-restore"; fields it
// shared just lose it.
//
// Nothing is deleted or defaulted on the way, because nothing is pruned:
// server-side apply prunes a field when its applier stops applying it and no
// other manager owns it, and prescaler never applies again. The obvious
// alternative, an update with the user's values and then an empty apply as
// "prescaler" to drop its ownership, loses a value whenever the update does
// not change it: with the floor already back at the user's 3 but owned by
// prescaler alone (it forced a different value earlier), the update leaves
// prescaler the owner, the empty apply prunes minReplicas and the apiserver
// defaults it to 1. The integration test shows both.
//
// Apply restores too, instead of writing, when the object carries
// prescaler.io/enabled: "false".
//
// # When nothing is written
//
// Apply compares what it would write with the live object and the
// annotations and makes no API call when they agree. It writes nothing to an
// HPA whose scale target has 0 replicas (the HPA controller has switched
// autoscaling off; a floor written then would take effect, unasked, when
// someone scales the target up) nor to a ScaledObject paused by KEDA's
// annotations; a ScaledObject at 0 replicas is merely idle and is written.
//
// # KEDA
//
// A ScaledObject (keda.sh/v1alpha1) is written the same way through the
// dynamic client: spec.minReplicaCount and
// spec.advanced.horizontalPodAutoscalerConfig.behavior, with the same
// annotations and restore. KEDA generates an HPA from the ScaledObject and
// rewrites it, so that HPA is never written. An unset minReplicaCount (KEDA
// reads 0) is restored unset; a restore that removes the behavior also removes
// horizontalPodAutoscalerConfig and advanced when they hold nothing else.
//
// # Known limits
//
// A GitOps tool that re-applies minReplicas from git with force takes the
// field back on every sync; prescaler reads that as a hand edit to the same
// user value and writes its floor again, so the two alternate. Leave
// minReplicas out of the synced manifest, or tell the tool to ignore it.
//
// An update (kubectl edit, client-side kubectl apply, a Helm upgrade) that
// sets minReplicas to the value prescaler wrote changes nothing: the
// apiserver stores no new version and records no owner, so nothing tells it
// from no edit at all. prescaler keeps the saved original as the user's
// floor, and a restore brings that back. Apply the value server-side, or set
// it once prescaler's floor has moved away from it. The behavior is compared
// by value only: a behavior field set to what prescaler wrote is taken for
// prescaler's until it differs.
//
// Deleting one of prescaler's annotations by hand is not recoverable: with
// prescaler.io/written gone, nothing counts as edited and the saved original
// stands; with prescaler.io/original gone (or unreadable) Apply and Restore
// fail with ErrBadAnnotation until both are removed, after which the live
// values are taken as the user's.
package writer
