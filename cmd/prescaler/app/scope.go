package app

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	autoscalinginformers "k8s.io/client-go/informers/autoscaling/v2"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/prescaler/prescaler/config"
)

// informerResync is how often the informers replay their caches to the
// handlers; the watches keep the caches current in between.
const informerResync = 10 * time.Minute

// newInformerFactory returns the shared informer factory of the capacity and
// start-up collectors. With namespace set (a namespace-scoped install, see
// deploy/namespaced) the informers that only serve targets, Deployments,
// LimitRanges and (for discovery) HPAs, list and watch that namespace alone, so the install needs no
// cluster-wide grant for them; every target must then be in it. Nodes, pods
// and RuntimeClasses stay cluster-wide: a node's free GPUs depend on every
// pod on it, whatever its namespace.
func newInformerFactory(kube kubernetes.Interface, namespace string, cfg *config.Config) (informers.SharedInformerFactory, error) {
	f := informers.NewSharedInformerFactory(kube, informerResync)
	if namespace == "" {
		return f, nil
	}
	if err := checkScope(namespace, cfg); err != nil {
		return nil, err
	}
	// The factory keeps one informer per object type and hands it to
	// every later caller, so registering namespaced ones first scopes the
	// collectors' Deployments() and LimitRanges() too. The namespace index
	// is the one the listers' Deployments(ns).Get reads.
	indexers := cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}
	f.InformerFor(&appsv1.Deployment{}, func(c kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
		return appsinformers.NewDeploymentInformer(c, namespace, resync, indexers)
	})
	f.InformerFor(&corev1.LimitRange{}, func(c kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
		return coreinformers.NewLimitRangeInformer(c, namespace, resync, indexers)
	})
	f.InformerFor(&autoscalingv2.HorizontalPodAutoscaler{}, func(c kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
		return autoscalinginformers.NewHorizontalPodAutoscalerInformer(c, namespace, resync, indexers)
	})
	return f, nil
}

// checkScope refuses a config with a target outside namespace, the one
// namespace a scoped install watches ("" watches all): at start and on every
// reload, since the scoped informers would never see such a target's
// Deployment.
func checkScope(namespace string, cfg *config.Config) error {
	if namespace == "" {
		return nil
	}
	for i := range cfg.Targets {
		if t := &cfg.Targets[i]; t.Namespace != namespace {
			return fmt.Errorf("--namespace %s: target %s is in namespace %s", namespace, t.Name, t.Namespace)
		}
	}
	return nil
}
