package app

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/reference"
)

// syncRecorder records each Event with one API call before it returns. A
// command that exits right after its writes uses it: client-go's recorder
// sends Events from a background goroutine, and those still queued when the
// process exits are lost.
type syncRecorder struct {
	ctx    context.Context
	events typedcorev1.EventsGetter
	// errOut receives a line for each Event that could not be recorded.
	errOut io.Writer
}

// Eventf implements writer.EventRecorder.
func (r syncRecorder) Eventf(obj runtime.Object, eventtype, reason, messageFmt string, args ...any) {
	ref, err := reference.GetReference(scheme.Scheme, obj)
	if err != nil {
		_, _ = fmt.Fprintf(r.errOut, "event %s not recorded: %v\n", reason, err)
		return
	}
	now := metav1.NewTime(time.Now())
	host, _ := os.Hostname()
	ev := &corev1.Event{
		// The name client-go's recorder gives: unique per object and instant.
		ObjectMeta:          metav1.ObjectMeta{Name: fmt.Sprintf("%v.%x", ref.Name, now.UnixNano()), Namespace: ref.Namespace},
		InvolvedObject:      *ref,
		Reason:              reason,
		Message:             fmt.Sprintf(messageFmt, args...),
		Type:                eventtype,
		Source:              corev1.EventSource{Component: "prescaler", Host: host},
		FirstTimestamp:      now,
		LastTimestamp:       now,
		Count:               1,
		ReportingController: "prescaler",
		ReportingInstance:   host,
	}
	if _, err := r.events.Events(ref.Namespace).Create(r.ctx, ev, metav1.CreateOptions{}); err != nil {
		_, _ = fmt.Fprintf(r.errOut, "event %s on %s/%s not recorded: %v\n", reason, ref.Namespace, ref.Name, err)
	}
}
