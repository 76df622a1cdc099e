package config

import (
	_ "embed"
	"slices"
)

//go:embed example.yaml
var exampleYAML []byte

// Example returns the commented example configuration shipped with prescaler
// (config/example.yaml): one GPU inference Deployment behind an HPA. The
// caller owns the returned slice.
func Example() []byte { return slices.Clone(exampleYAML) }
