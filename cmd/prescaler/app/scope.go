package app

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	autoscalinginformers "k8s.io/client-go/informers/autoscaling/v2"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/internal/multins"
)

// informerResync is how often the informers replay their caches to the
// handlers; the watches keep the caches current in between.
const informerResync = 10 * time.Minute

// newInformerFactory returns the shared informer factory of the capacity and
// start-up collectors, its objects trimmed as they are cached (trimForCache). With namespaces given (a namespace-scoped install,
// see deploy/namespaced) the informers that only serve targets,
// Deployments, LimitRanges and (for discovery) HPAs, list and watch those
// namespaces alone, so the install needs no cluster-wide grant for them;
// every target must then be in one of them. Nodes, pods and RuntimeClasses
// stay cluster-wide: a node's free GPUs depend on every pod on it, whatever
// its namespace.
func newInformerFactory(kube kubernetes.Interface, namespaces []string, cfg *config.Config) (informers.SharedInformerFactory, error) {
	f := informers.NewSharedInformerFactoryWithOptions(kube, informerResync, informers.WithTransform(trimForCache))
	if len(namespaces) == 0 {
		return f, nil
	}
	if err := checkScope(namespaces, cfg); err != nil {
		return nil, err
	}
	// The factory keeps one informer per object type and hands it to
	// every later caller, so registering scoped ones first scopes the
	// collectors' Deployments() and LimitRanges() too. The namespace index
	// is the one the listers' Deployments(ns).Get reads.
	indexers := cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}
	f.InformerFor(&appsv1.Deployment{}, func(c kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
		if len(namespaces) == 1 {
			return appsinformers.NewDeploymentInformer(c, namespaces[0], resync, indexers)
		}
		return multiNamespaceInformer(namespaces, &appsv1.Deployment{}, resync, indexers, func(ns string) cache.ListerWatcherWithContext {
			return listWatch(c.AppsV1().Deployments(ns).List, c.AppsV1().Deployments(ns).Watch)
		})
	})
	f.InformerFor(&corev1.LimitRange{}, func(c kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
		if len(namespaces) == 1 {
			return coreinformers.NewLimitRangeInformer(c, namespaces[0], resync, indexers)
		}
		return multiNamespaceInformer(namespaces, &corev1.LimitRange{}, resync, indexers, func(ns string) cache.ListerWatcherWithContext {
			return listWatch(c.CoreV1().LimitRanges(ns).List, c.CoreV1().LimitRanges(ns).Watch)
		})
	})
	f.InformerFor(&autoscalingv2.HorizontalPodAutoscaler{}, func(c kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
		if len(namespaces) == 1 {
			return autoscalinginformers.NewHorizontalPodAutoscalerInformer(c, namespaces[0], resync, indexers)
		}
		return multiNamespaceInformer(namespaces, &autoscalingv2.HorizontalPodAutoscaler{}, resync, indexers, func(ns string) cache.ListerWatcherWithContext {
			return listWatch(c.AutoscalingV2().HorizontalPodAutoscalers(ns).List, c.AutoscalingV2().HorizontalPodAutoscalers(ns).Watch)
		})
	})
	return f, nil
}

// multiNamespaceInformer is an informer of obj's type over namespaces, one
// cache and one lister for all of them.
func multiNamespaceInformer(namespaces []string, obj runtime.Object, resync time.Duration, indexers cache.Indexers,
	source func(ns string) cache.ListerWatcherWithContext) cache.SharedIndexInformer {
	lw, err := multins.New(namespaces, source)
	if err != nil {
		panic(err) // callers pass at least two namespaces
	}
	return cache.NewSharedIndexInformer(lw, obj, resync, indexers)
}

// listWatch adapts a typed client's List and Watch of one namespace.
func listWatch[L runtime.Object](list func(context.Context, metav1.ListOptions) (L, error),
	watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error)) *cache.ListWatch {
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return list(ctx, o)
		},
		WatchFuncWithContext: watchFn,
	}
}

// parseNamespaces reads --namespace: names separated by commas (pflag's
// string slice), each once; none means all namespaces.
func parseNamespaces(names []string) ([]string, error) {
	var out []string
	for _, n := range names {
		n = strings.TrimSpace(n)
		switch {
		case n == "":
			return nil, fmt.Errorf("--namespace %q: an empty name", strings.Join(names, ","))
		case slices.Contains(out, n):
			return nil, fmt.Errorf("--namespace %q: %s is named twice", strings.Join(names, ","), n)
		}
		out = append(out, n)
	}
	return out, nil
}

// checkScope refuses a config with a target outside namespaces, the ones a
// scoped install watches (none: all): at start and on every reload, since
// the scoped informers would never see such a target's Deployment.
func checkScope(namespaces []string, cfg *config.Config) error {
	if len(namespaces) == 0 {
		return nil
	}
	for i := range cfg.Targets {
		if t := &cfg.Targets[i]; !slices.Contains(namespaces, t.Namespace) {
			return fmt.Errorf("--namespace %s: target %s is in namespace %s", strings.Join(namespaces, ","), t.Name, t.Namespace)
		}
	}
	return nil
}
