package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Metric names of the checkpoint.
const (
	mCheckpointWrites   = "prescaler_checkpoint_writes_total"
	mCheckpointSize     = "prescaler_checkpoint_size_bytes"
	mCheckpointTargets  = "prescaler_checkpoint_written_targets"
	mCheckpointDuration = "prescaler_checkpoint_write_duration_seconds"
	mCheckpointRestored = "prescaler_checkpoint_restored_targets"
)

// checkpointInfo is the cold start of replica A again, from the checkpoint
// it wrote before it was stopped.
type checkpointInfo struct {
	// FirstWriteSeconds is from A's start to its first checkpoint written
	// on schedule; WriteSeconds, Bytes and Targets describe that write.
	FirstWriteSeconds float64 `json:"firstWriteSeconds"`
	WriteSeconds      float64 `json:"writeSeconds"`
	Bytes             float64 `json:"bytes"`
	Targets           float64 `json:"targets"`
	// StopSeconds is how long A took to stop on SIGTERM (its last
	// checkpoint written at shutdown included), FinalBytes the size of
	// that last checkpoint.
	StopSeconds float64 `json:"stopSeconds"`
	FinalBytes  float64 `json:"finalBytes"`
	// Restored counts the targets of the new process by restore outcome.
	Restored map[string]float64 `json:"restored"`
	// ColdStart is the new process's, from its start.
	ColdStart coldStartInfo `json:"coldStart"`
}

// checkpointPath is the checkpoint file of the replica whose config is at
// configPath.
func checkpointPath(configPath string) string {
	return strings.TrimSuffix(configPath, filepath.Ext(configPath)) + ".checkpoint"
}

// checkpointColdStart waits for replica a's first scheduled checkpoint
// (a's config is at configPath),
// stops it with SIGTERM (it writes the checkpoint once more as it goes),
// starts a new process with the same config through restart, and measures
// its cold start as coldStart does. It returns the new process.
func checkpointColdStart(ctx context.Context, a *replica, configPath string, restart func() (*replica, error), o *options, rep *report) (*replica, error) {
	cp := &checkpointInfo{}
	rep.Checkpoint = cp
	wait := 2*o.checkpointInterval + 5*time.Minute
	logf("checkpoint: waiting up to %s for prescaler %s's first checkpoint", wait, a.name)
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		if a.exited() {
			return nil, fmt.Errorf("prescaler %s exited before its first checkpoint: %v", a.name, a.err)
		}
		fams, err := a.metrics(wctx)
		if err == nil && fams.sum(mCheckpointWrites, func(l map[string]string) bool { return l["result"] == "success" }) >= 1 {
			cp.FirstWriteSeconds = secs(time.Since(a.started))
			cp.WriteSeconds = fams.sum(mCheckpointDuration, nil)
			cp.Bytes, cp.Targets = fams.sum(mCheckpointSize, nil), fams.sum(mCheckpointTargets, nil)
			break
		}
		if err := sleep(wctx, time.Second); err != nil {
			return nil, fmt.Errorf("no checkpoint from prescaler %s: %w", a.name, err)
		}
	}
	logf("checkpoint: %.0f targets, %s, written in %.2fs, %.1fs after the start", cp.Targets, mib(cp.Bytes), cp.WriteSeconds, cp.FirstWriteSeconds)
	began := time.Now()
	a.stop(2 * time.Minute)
	cp.StopSeconds = secs(time.Since(began))
	if st, err := os.Stat(checkpointPath(configPath)); err == nil {
		cp.FinalBytes = float64(st.Size())
	}
	logf("checkpoint: prescaler %s stopped in %.1fs; starting it again from its checkpoint", a.name, cp.StopSeconds)
	b, err := restart()
	if err != nil {
		return nil, err
	}
	if err := coldStart(ctx, b, o, &cp.ColdStart); err != nil {
		return b, err
	}
	if fams, err := b.metrics(ctx); err == nil {
		cp.Restored = fams.byLabel(mCheckpointRestored, "outcome", nil)
	}
	if n := cp.Restored["restored"]; int(n) != o.targets {
		rep.Notes = append(rep.Notes, fmt.Sprintf("the checkpoint restored %.0f of %d targets: %v", n, o.targets, cp.Restored))
	}
	return b, nil
}
