package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/prescaler/prescaler/test/testbed"
)

// The process on the real control plane: with its metrics and probe port
// taken, prescaler fails at start and writes nothing (a daemon nobody can
// observe must not act); a shutdown with leader election off returns nil
// (exit status 0), after the loop has written the floor.
func TestRunFailsOnATakenPortAndShutsDownCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	env, _, cfgPath, ctx := startSteadyRun(t)
	base, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	withAddress := func(addr string) {
		writeFile(t, cfgPath, fmt.Sprintf("interval: 1s\nserver: {address: %q}\n%s", addr, base))
	}
	floor := func() int32 {
		hpa, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, "inference-hpa", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return *hpa.Spec.MinReplicas
	}
	newRun := func() *runner {
		r, err := newRunner(ctx, runFlags{configPath: cfgPath, kubeconfig: env.Kubeconfig, reload: time.Hour}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	withAddress(taken.Addr().String())
	err = newRun().run(ctx)
	if err == nil || !strings.Contains(err.Error(), "server.address "+taken.Addr().String()) {
		t.Fatalf("run with its port taken returned %v, want an error naming server.address", err)
	}
	if got := floor(); got != 1 {
		t.Errorf("floor %d after a failed start, want the user's 1 untouched", got)
	}

	withAddress("127.0.0.1:0")
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- newRun().run(rctx) }()
	testbed.WaitFor(ctx, t, "the floor of 6 written", func() (bool, error) { return floor() == 6, nil })
	cancel() // what SIGTERM does through signal.NotifyContext
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run after a shutdown returned %v, want nil (exit status 0)", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return within 15s of the shutdown")
	}
}
