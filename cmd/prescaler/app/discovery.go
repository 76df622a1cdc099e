package app

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	autoscalinglisters "k8s.io/client-go/listers/autoscaling/v2"
	"k8s.io/client-go/tools/cache"

	"github.com/prescaler/prescaler/config"
)

// scaledObjectResource is KEDA's ScaledObject.
var scaledObjectResource = schema.GroupVersionResource{Group: "keda.sh", Version: "v1alpha1", Resource: "scaledobjects"}

// annotated reads the HPAs and ScaledObjects that opt in by annotation
// (config.Discovery) from the informers the writer reads too: the HPAs
// from the shared factory (scoped like the Deployments under --namespace),
// the ScaledObjects from the runner's dynamic informer where KEDA is
// served. It remembers what it logged, so an object left out is logged
// once per reason, not every pass.
type annotated struct {
	hpas          autoscalinglisters.HorizontalPodAutoscalerLister
	scaledObjects cache.GenericLister // nil without KEDA
	log           *slog.Logger
	logged        map[config.ObjectRef]string
}

// newAnnotated reads the HPAs of f and the ScaledObjects of keda (nil
// without KEDA); the informers start with the others (startInformers).
func newAnnotated(f informers.SharedInformerFactory, keda *scaledObjectInformer, log *slog.Logger) *annotated {
	a := &annotated{hpas: f.Autoscaling().V2().HorizontalPodAutoscalers().Lister(), log: log, logged: map[config.ObjectRef]string{}}
	if keda != nil {
		a.scaledObjects = keda.lister
	}
	log.Info("discovery by annotation", "annotation", config.AnnotationEnabled+"=true", "scaledObjects", keda != nil)
	return a
}

// kedaServed reports whether the API server serves KEDA's ScaledObjects.
func kedaServed(dc discovery.DiscoveryInterface) (bool, error) {
	list, err := dc.ServerResourcesForGroupVersion(scaledObjectResource.GroupVersion().String())
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("discovery: looking up KEDA's ScaledObjects: %w", err)
	}
	return slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == scaledObjectResource.Resource }), nil
}

// start starts the informer and waits for its first list.
func (s *scaledObjectInformer) start(ctx context.Context) error {
	go s.informer.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), s.informer.HasSynced) {
		return fmt.Errorf("informer cache for %v did not sync", scaledObjectResource)
	}
	return nil
}

// scaledObjectInformer caches KEDA's ScaledObjects in namespaces (none:
// all), like the HPAs.
type scaledObjectInformer struct {
	informer cache.SharedIndexInformer
	lister   cache.GenericLister
}

func newScaledObjectInformer(dyn dynamic.Interface, namespaces []string) *scaledObjectInformer {
	indexers := cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}
	var inf cache.SharedIndexInformer
	if len(namespaces) <= 1 {
		ns := metav1.NamespaceAll
		if len(namespaces) == 1 {
			ns = namespaces[0]
		}
		inf = dynamicinformer.NewFilteredDynamicInformer(dyn, scaledObjectResource, ns, informerResync, indexers, nil).Informer()
	} else {
		inf = multiNamespaceInformer(namespaces, &unstructured.Unstructured{}, informerResync, indexers, func(ns string) cache.ListerWatcherWithContext {
			r := dyn.Resource(scaledObjectResource).Namespace(ns)
			return listWatch(r.List, r.Watch)
		})
	}
	return &scaledObjectInformer{informer: inf, lister: cache.NewGenericLister(inf.GetIndexer(), scaledObjectResource.GroupResource())}
}

// objects lists every HPA and ScaledObject in the caches, sorted by kind,
// namespace and name so that the targets they make keep one order.
func (a *annotated) objects() ([]config.AnnotatedObject, error) {
	hpas, err := a.hpas.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var out []config.AnnotatedObject
	for _, h := range hpas {
		out = append(out, hpaObject(h))
	}
	if a.scaledObjects != nil {
		sos, err := a.scaledObjects.List(labels.Everything())
		if err != nil {
			return nil, err
		}
		for _, o := range sos {
			if u, ok := o.(*unstructured.Unstructured); ok {
				out = append(out, scaledObjectObject(u))
			}
		}
	}
	slices.SortFunc(out, func(x, y config.AnnotatedObject) int {
		return strings.Compare(x.Kind+"/"+x.Namespace+"/"+x.Name, y.Kind+"/"+y.Namespace+"/"+y.Name)
	})
	return out, nil
}

func hpaObject(h *autoscalingv2.HorizontalPodAutoscaler) config.AnnotatedObject {
	return config.AnnotatedObject{Kind: config.KindHPA, Namespace: h.Namespace, Name: h.Name,
		Workload: h.Spec.ScaleTargetRef.Name, Annotations: h.Annotations}
}

func scaledObjectObject(u *unstructured.Unstructured) config.AnnotatedObject {
	workload, _, _ := unstructured.NestedString(u.Object, "spec", "scaleTargetRef", "name")
	return config.AnnotatedObject{Kind: config.KindScaledObject, Namespace: u.GetNamespace(), Name: u.GetName(),
		Workload: workload, Annotations: u.GetAnnotations()}
}

// logIgnored logs each object left out once per reason, and forgets the
// objects no longer left out, so that a later refusal is logged again.
func (a *annotated) logIgnored(ignored []config.Ignored) {
	now := map[config.ObjectRef]string{}
	for _, ig := range ignored {
		now[ig.Object] = ig.Why
		if a.logged[ig.Object] != ig.Why {
			a.log.Warn("annotated object left out", "object", ig.Object.String(), "why", ig.Why)
		}
	}
	a.logged = now
}

// effective is the file's config with the discovered targets; without
// discovery, the file's config itself.
func (r *runner) effective(file *config.Config) (*config.Config, error) {
	if r.annotated == nil || !file.Discovery.Enabled {
		return file, nil
	}
	objects, err := r.annotated.objects()
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	cfg, ignored := file.WithDiscovered(objects)
	r.annotated.logIgnored(ignored)
	return cfg, nil
}

// rediscover applies the discovered targets when they changed since the
// last pass: a newly annotated object becomes a target, one whose
// annotation went away leaves (and gets its user's values back on the next
// loop, as a target removed from the file does).
func (r *runner) rediscover(ctx context.Context) {
	cfg, err := r.effective(r.file)
	if err != nil {
		r.log.Error("reading annotated objects failed; keeping the targets in force", "err", err)
		return
	}
	if reflect.DeepEqual(r.applied.Targets, cfg.Targets) {
		return
	}
	added, removed := targetChanges(r.applied.Targets, cfg.Targets)
	if err := r.daemon.Update(ctx, cfg); err != nil {
		r.log.Error("discovered targets rejected; keeping the targets in force", "err", err)
		return
	}
	r.applied = cfg
	r.log.Info("discovered targets changed", "added", added, "removed", removed, "targets", len(cfg.Targets))
}

// targetChanges names the targets in next but not in prev, and in prev but
// not in next.
func targetChanges(prev, next []config.Target) (added, removed []string) {
	has := func(ts []config.Target, name string) bool {
		return slices.ContainsFunc(ts, func(t config.Target) bool { return t.Name == name })
	}
	for _, t := range next {
		if !has(prev, t.Name) {
			added = append(added, t.Name)
		}
	}
	for _, t := range prev {
		if !has(next, t.Name) {
			removed = append(removed, t.Name)
		}
	}
	return added, removed
}
