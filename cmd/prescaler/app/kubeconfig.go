package app

import (
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// kubeconfigHelp describes --kubeconfig the way kubectl users expect it.
const kubeconfigHelp = "kubeconfig file; empty: $KUBECONFIG, then ~/.kube/config, then the in-cluster service account"

// restConfig loads the client configuration as kubectl does: the explicit
// file, else $KUBECONFIG, else ~/.kube/config; with none of them, the pod's
// in-cluster service account.
func restConfig(kubeconfig string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err == nil {
		return cfg, nil
	}
	if kubeconfig == "" && clientcmd.IsEmptyConfig(err) {
		if in, inErr := rest.InClusterConfig(); inErr == nil {
			return in, nil
		}
	}
	return nil, err
}
