// Package multins lists and watches one resource in several namespaces as
// one source for one informer: an install granted a few namespaces (a
// RoleBinding in each) rather than the whole cluster still has one lister
// per resource for its collectors to read.
//
// The namespaces are listed as one snapshot: the first at the latest
// resourceVersion, the others at exactly that one. They are watched each on
// its own, their events merged into one stream; what a merged stream cannot
// carry is a single resourceVersion to resume from (the namespaces' events
// interleave), so the ListerWatcher remembers, per namespace, the
// resourceVersion of the last event (or bookmark) it handed on and resumes
// each watch there: a restarted watch neither drops nor repeats an event.
package multins

import (
	"context"
	"fmt"
	"maps"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// ListerWatcher is a cache.ListerWatcher over several namespaces.
type ListerWatcher struct {
	namespaces []string
	source     func(namespace string) cache.ListerWatcherWithContext

	mu sync.Mutex
	// resume is, per namespace, where its next watch starts: the list's
	// resourceVersion, then that of each event or bookmark handed on.
	resume map[string]string
}

var _ cache.ListerWatcherWithContext = (*ListerWatcher)(nil)
var _ cache.ListerWatcher = (*ListerWatcher)(nil)

// New returns a ListerWatcher over namespaces (at least one); source gives
// the one-namespace ListerWatcher of the resource.
func New(namespaces []string, source func(namespace string) cache.ListerWatcherWithContext) (*ListerWatcher, error) {
	if len(namespaces) == 0 {
		return nil, fmt.Errorf("multins: no namespace")
	}
	return &ListerWatcher{namespaces: namespaces, source: source, resume: map[string]string{}}, nil
}

// IsWatchListSemanticsUnSupported makes the reflector list and then watch,
// rather than stream its initial list through a watch: the streams of
// several namespaces would each end the initial list on their own.
func (m *ListerWatcher) IsWatchListSemanticsUnSupported() bool { return true }

// ListWithContext lists every namespace at one resourceVersion. Pages are
// not used: a continue token belongs to one namespace's list.
func (m *ListerWatcher) ListWithContext(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
	opts.Limit, opts.Continue = 0, ""
	first, err := m.source(m.namespaces[0]).ListWithContext(ctx, opts)
	if err != nil {
		return nil, err
	}
	listMeta, err := meta.ListAccessor(first)
	if err != nil {
		return nil, err
	}
	rv := listMeta.GetResourceVersion()
	items, err := meta.ExtractList(first)
	if err != nil {
		return nil, err
	}
	for _, ns := range m.namespaces[1:] {
		at := opts
		at.ResourceVersion, at.ResourceVersionMatch = rv, metav1.ResourceVersionMatchExact
		list, err := m.source(ns).ListWithContext(ctx, at)
		if err != nil {
			return nil, fmt.Errorf("listing namespace %s at resourceVersion %s: %w", ns, rv, err)
		}
		more, err := meta.ExtractList(list)
		if err != nil {
			return nil, err
		}
		items = append(items, more...)
	}
	if err := meta.SetList(first, items); err != nil {
		return nil, err
	}
	m.mu.Lock()
	for _, ns := range m.namespaces {
		m.resume[ns] = rv
	}
	m.mu.Unlock()
	return first, nil
}

// WatchWithContext watches every namespace from where its events stopped
// (see the package comment); with no resourceVersion asked, from now.
// Bookmarks move a namespace's resume point and are not handed on (their
// resourceVersion says nothing of the other namespaces).
func (m *ListerWatcher) WatchWithContext(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	m.mu.Lock()
	resume := maps.Clone(m.resume)
	m.mu.Unlock()
	opts.AllowWatchBookmarks = true
	merged := &mergedWatch{ch: make(chan watch.Event), done: make(chan struct{})}
	for _, ns := range m.namespaces {
		at := opts
		if rv, ok := resume[ns]; ok && opts.ResourceVersion != "" {
			at.ResourceVersion = rv
		}
		w, err := m.source(ns).WatchWithContext(ctx, at)
		if err != nil {
			merged.Stop()
			return nil, fmt.Errorf("watching namespace %s: %w", ns, err)
		}
		merged.add(w, func(rv string) { m.advance(ns, rv) })
	}
	merged.closeWhenDone()
	return merged, nil
}

// advance records that namespace's events up to rv were handed on.
func (m *ListerWatcher) advance(namespace, rv string) {
	if rv == "" {
		return
	}
	m.mu.Lock()
	m.resume[namespace] = rv
	m.mu.Unlock()
}

// List and Watch serve callers without a context.
func (m *ListerWatcher) List(opts metav1.ListOptions) (runtime.Object, error) {
	return m.ListWithContext(context.Background(), opts)
}

func (m *ListerWatcher) Watch(opts metav1.ListOptions) (watch.Interface, error) {
	return m.WatchWithContext(context.Background(), opts)
}

// mergedWatch forwards the events of several watches on one channel. When
// one of them ends, all do, and the channel closes: the reflector then
// watches again, each namespace from its own resume point.
type mergedWatch struct {
	ch   chan watch.Event
	done chan struct{}
	once sync.Once
	mu   sync.Mutex
	subs []watch.Interface
	wg   sync.WaitGroup
}

func (w *mergedWatch) ResultChan() <-chan watch.Event { return w.ch }

func (w *mergedWatch) Stop() {
	w.once.Do(func() {
		close(w.done)
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, s := range w.subs {
			s.Stop()
		}
	})
}

// add forwards sub's events; handed is called with the resourceVersion of
// each event (and bookmark) once the receiver has it.
func (w *mergedWatch) add(sub watch.Interface, handed func(rv string)) {
	w.mu.Lock()
	select {
	case <-w.done: // stopped while the watches were being opened
		w.mu.Unlock()
		sub.Stop()
		return
	default:
	}
	w.subs = append(w.subs, sub)
	w.mu.Unlock()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer w.Stop()
		for {
			select {
			case <-w.done:
				return
			case ev, ok := <-sub.ResultChan():
				if !ok {
					return
				}
				if ev.Type == watch.Bookmark {
					handed(resourceVersion(ev.Object))
					continue
				}
				select {
				case w.ch <- ev:
					if ev.Type != watch.Error {
						handed(resourceVersion(ev.Object))
					}
				case <-w.done:
					return
				}
			}
		}
	}()
}

// closeWhenDone closes the channel once every forwarder has returned.
func (w *mergedWatch) closeWhenDone() {
	go func() {
		w.wg.Wait()
		close(w.ch)
	}()
}

func resourceVersion(obj runtime.Object) string {
	a, err := meta.Accessor(obj)
	if err != nil {
		return ""
	}
	return a.GetResourceVersion()
}
