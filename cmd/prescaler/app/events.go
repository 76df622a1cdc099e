package app

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
)

// eventScheme resolves the kinds of the objects Events are recorded on:
// HPAs from client-go's scheme; ScaledObjects arrive as unstructured objects,
// which carry their own kind.
func eventScheme() *runtime.Scheme { return scheme.Scheme }
