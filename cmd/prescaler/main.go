// Command prescaler is a predictive autoscaler for AI inference on Kubernetes.
package main

import (
	"os"

	"github.com/prescaler/prescaler/cmd/prescaler/app"
)

func main() {
	if err := app.NewRootCommand(os.Stdout, os.Stderr).Execute(); err != nil {
		os.Exit(1)
	}
}
