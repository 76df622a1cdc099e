// Package deploy holds prescaler's kustomize manifests: the cluster-wide
// install (this folder, `kubectl apply -k deploy/`, which includes base/) and
// the namespace-scoped one (namespaced/). docs/rbac.md explains every
// permission. Render builds them as `kubectl apply -k` does, for the tests
// that check the manifests and apply them to a real control plane.
//
// Keep this package out of the prescaler binary and of any test binary that
// links the NVML agent (cmd/prescaler/app): kustomize imports package plugin,
// which makes the linker bind every dynamic symbol at start-up, and go-nvml's
// symbols that the installed driver lacks must stay lazily bound ("symbol
// lookup error: undefined symbol: nvml..." at start).
package deploy

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Render runs kustomize on the kustomization folder dir (on disk) and returns
// its objects in kustomize's output order.
func Render(dir string) ([]*unstructured.Unstructured, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	objs := make([]*unstructured.Unstructured, 0, res.Size())
	for _, r := range res.Resources() {
		m, err := r.Map()
		if err != nil {
			return nil, fmt.Errorf("kustomize %s: %s: %w", dir, r.CurId(), err)
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
	return objs, nil
}
