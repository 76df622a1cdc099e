package daemon

import (
	"bufio"
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/policy"
	"github.com/prescaler/prescaler/predictor"
	"github.com/prescaler/prescaler/scaler"
)

// A checkpoint is every warm target's forecaster state in one file, so a
// replica that starts reads from Prometheus only the steps since the
// checkpoint's newest one instead of each target's whole forecast.history.
// It holds what the target needs to go on exactly as if it had never
// stopped: the forecaster (history ring, model, refit phase, counters), the
// next step to read, the lead time its intervals and its demotion scorer
// are sized for, and the scorer's record. What is learned from the serving
// signals (a learned capacity, the latency breaches) and the headroom
// tuning start over, as at any start.
//
// The file is a gob stream: a header naming the format and its version, one
// record per target, and a trailer with the count, so a truncated file is
// refused whole. It is written to a temporary file beside it, synced and
// renamed over it, so a reader sees the old file or the new one, never half
// of one. Only the leader writes it: a standby's models are the same, and
// with a volume shared by the replicas two writers would only write the
// same state twice.

// checkpointMagic names the format; checkpointVersion changes whenever a
// record changes shape or meaning, and a file of another version is not
// read. Version 2: the history is demand per minute (version 1 held each
// step's request count, the same only for 1-minute steps).
const (
	checkpointMagic   = "prescaler-checkpoint"
	checkpointVersion = 2
)

type checkpointHeader struct {
	Magic   string
	Version int
	Written time.Time
	Targets int
}

type checkpointTrailer struct{ Targets int }

// targetCheckpoint is one target's record.
type targetCheckpoint struct {
	Name string
	// Model holds the settings sameModel compares: a record whose target
	// changed any of them is not restored.
	Model config.Target
	// Lead is the lead time the forecaster's intervals are calibrated for
	// (policy.Settings.Lead), Sizing what sizeForLead last sized.
	Lead   time.Duration
	Sizing sizingCheckpoint
	// Next, LastValid and LastDemand are the target's (see target).
	Next, LastValid time.Time
	LastDemand      scaler.PerMinute
	Demoted         bool
	Errors          predictor.ErrorTrackerSnapshot
	Rolling         predictor.RollingSnapshot
}

type sizingCheckpoint struct {
	Lead, Latest time.Duration
	Measured     bool
	RetryAt      int
}

// modelSettings keeps of a target's config what sameModel compares.
func modelSettings(c config.Target) config.Target {
	var m config.Target
	m.Namespace, m.HPA, m.ScaledObject = c.Namespace, c.HPA, c.ScaledObject
	m.Queries.Demand, m.Forecast, m.LeadTime = c.Queries.Demand, c.Forecast, c.LeadTime
	m.ScaleDown.Stabilization = c.ScaleDown.Stabilization
	return m
}

// checkpoint returns the target's record; ok is false while it has no
// history yet. A backfill of the steps since a restore does not move the
// target until it is fed, so a target reading one is saved as it stands.
func (t *target) checkpoint() (rec targetCheckpoint, ok bool) {
	if t.next.IsZero() {
		return rec, false
	}
	s := t.health.sizing
	return targetCheckpoint{Name: t.cfg.Name, Model: modelSettings(t.cfg), Lead: t.plan.Settings().Lead,
		Sizing: sizingCheckpoint{Lead: s.lead, Latest: s.latest, Measured: s.measured, RetryAt: s.retryAt},
		Next:   t.next, LastValid: t.lastValid, LastDemand: t.lastDemand, Demoted: t.health.demoted,
		Errors: t.health.errors.Snapshot(), Rolling: t.plan.Rolling().Snapshot()}, true
}

// restore continues the target from rec, read at now. It refuses, leaving
// the target as it was, a record of other model settings, one older than
// the target's history (every step it holds would be read again anyway) and
// one that does not fit the settings.
func (t *target) restore(rec targetCheckpoint, now time.Time) error {
	if !sameModel(rec.Model, t.cfg) {
		return errModelChanged
	}
	if now.Sub(rec.Next) >= time.Duration(t.cfg.Forecast.History) {
		return errCheckpointStale
	}
	set := t.cfg.PolicySettings()
	set.Lead = rec.Lead
	plan, err := policy.Restore(set, rec.Rolling)
	if err != nil {
		return err
	}
	scorer, err := predictor.RestoreErrorTracker(leadSteps(rec.Sizing.Lead, time.Duration(t.cfg.Forecast.Step)),
		demotionWindow(t.cfg), rec.Errors)
	if err != nil {
		return err
	}
	t.plan, t.next, t.lastValid, t.lastDemand = plan, rec.Next, rec.LastValid, rec.LastDemand
	t.health.errors, t.health.demoted = scorer, rec.Demoted && t.cfg.Demotion.Enabled
	t.health.sizing = leadSizing{lead: rec.Sizing.Lead, latest: rec.Sizing.Latest, measured: rec.Sizing.Measured,
		retryAt: rec.Sizing.RetryAt}
	return nil
}

var (
	errModelChanged    = errors.New("its model settings changed since")
	errCheckpointStale = errors.New("its newest step is older than its forecast.history")
)

// Restore outcomes, the values of prescaler_checkpoint_targets' outcome label.
const (
	restoredOK       = "restored"
	restoredChanged  = "model_changed"
	restoredStale    = "stale"
	restoredRefused  = "refused"
	restoredNotFound = "not_in_checkpoint"
)

var restoreOutcomes = []string{restoredOK, restoredChanged, restoredStale, restoredRefused, restoredNotFound}

// LoadCheckpoint restores the targets of the checkpoint file at path, read
// at now, and reports how many ended each way (by restore outcome). A
// missing file, a file of another version or one that does not decode
// restores nothing, and every target reads its history from Prometheus as
// without a checkpoint; each such case, and each target not restored, is
// logged with the reason. Run calls it before its first loop.
func (d *Daemon) LoadCheckpoint(path string, now time.Time) map[string]int {
	d.loop.Lock()
	defer d.loop.Unlock()
	d.mu.Lock()
	targets := make(map[string]*target, len(d.targets))
	for name, t := range d.targets {
		targets[name] = t
	}
	d.mu.Unlock()
	counts := map[string]int{}
	found, written, err := readCheckpoint(path, func(rec targetCheckpoint) {
		t, ok := targets[rec.Name]
		if !ok {
			return
		}
		// Under the target's lock, as every move of a target: no loop runs
		// now (d.loop), but a checkpoint write may.
		t.mu.Lock()
		warm := !t.next.IsZero()
		var err error
		if !warm {
			err = t.restore(rec, now)
		}
		t.mu.Unlock()
		if warm {
			return
		}
		delete(targets, rec.Name)
		switch {
		case err == nil:
			counts[restoredOK]++
			return
		case errors.Is(err, errModelChanged):
			counts[restoredChanged]++
		case errors.Is(err, errCheckpointStale):
			counts[restoredStale]++
		default:
			counts[restoredRefused]++
		}
		d.log.Info("checkpoint: target not restored; reading its history from Prometheus", "target", rec.Name, "why", err.Error())
	})
	counts[restoredNotFound] = len(targets)
	switch {
	case errors.Is(err, os.ErrNotExist):
		d.log.Info("checkpoint: none yet; every target reads its history from Prometheus", "path", path)
	case err != nil:
		d.log.Warn("checkpoint: not read; the targets it did not restore read their history from Prometheus", "path", path, "err", err,
			"restored", counts[restoredOK])
	default:
		d.log.Info("checkpoint: loaded", "path", path, "written", written, "targets_in_file", found,
			"restored", counts[restoredOK], "model_changed", counts[restoredChanged], "stale", counts[restoredStale],
			"refused", counts[restoredRefused], "not_in_checkpoint", counts[restoredNotFound])
	}
	if d.checkpoints != nil {
		d.checkpoints.loaded(counts)
	}
	return counts
}

// readCheckpoint decodes the file at path, handing each record to use as
// it is read; it returns the records read and when the file was written.
// Records are handed over before the trailer is checked, so a file cut
// short restores the targets before the cut: each record is whole.
func readCheckpoint(path string, use func(targetCheckpoint)) (n int, written time.Time, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, written, err
	}
	defer f.Close()
	dec := gob.NewDecoder(bufio.NewReaderSize(f, 1<<20))
	var h checkpointHeader
	if err := dec.Decode(&h); err != nil {
		return 0, written, fmt.Errorf("corrupt checkpoint: header: %w", err)
	}
	switch {
	case h.Magic != checkpointMagic:
		return 0, written, fmt.Errorf("not a prescaler checkpoint (format %q)", h.Magic)
	case h.Version != checkpointVersion:
		return 0, written, fmt.Errorf("checkpoint version %d, this prescaler reads version %d", h.Version, checkpointVersion)
	}
	for n = 0; n < h.Targets; n++ {
		var rec targetCheckpoint
		if err := dec.Decode(&rec); err != nil {
			return n, h.Written, fmt.Errorf("corrupt checkpoint: target record %d of %d: %w", n+1, h.Targets, err)
		}
		use(rec)
	}
	var tr checkpointTrailer
	if err := dec.Decode(&tr); err != nil || tr.Targets != h.Targets {
		return n, h.Written, fmt.Errorf("corrupt checkpoint: no trailer after %d targets (%v)", n, err)
	}
	return n, h.Written, nil
}

// WriteCheckpoint writes every warm target's state to path, atomically. It
// runs beside the loop: each target's record is taken and encoded under
// that target's lock (target.mu), which the loop holds while it moves the
// target, so every record is whole (a target between two of its loop's
// moves) and the write waits for one target at a time at most, never for
// a whole loop. The records are therefore of nearby moments, not of one.
// Only one record is held at a time: the file, not the process, holds
// them all. It returns the targets written and the file's size.
func (d *Daemon) WriteCheckpoint(path string, now time.Time) (targets int, size int64, err error) {
	warm := d.warmTargets()
	began := time.Now()
	size, err = writeAtomically(path, func(w io.Writer) error {
		// gob hands each value, whole, to its writer in one Write: each
		// record is encoded into one record's worth of memory while its
		// target is locked, and goes to the file after the lock is let
		// go, so a slow disk never holds up a target.
		var encoded bytes.Buffer
		enc := gob.NewEncoder(&encoded)
		toFile := func() error {
			_, err := encoded.WriteTo(w)
			return err
		}
		if err := enc.Encode(checkpointHeader{Magic: checkpointMagic, Version: checkpointVersion, Written: now, Targets: len(warm)}); err != nil {
			return err
		}
		if err := toFile(); err != nil {
			return err
		}
		for _, t := range warm {
			if err := d.encodeRecord(enc, t.target); err != nil {
				return fmt.Errorf("target %s: %w", t.name, err)
			}
			if err := toFile(); err != nil {
				return err
			}
		}
		if err := enc.Encode(checkpointTrailer{Targets: len(warm)}); err != nil {
			return err
		}
		return toFile()
	})
	if d.checkpoints != nil {
		d.checkpoints.wrote(now, time.Since(began), len(warm), size, err)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return len(warm), size, nil
}

// namedTarget is a target with the name the daemon keeps it under.
type namedTarget struct {
	name   string
	target *target
}

// warmTargets lists the targets that have a history, by name. The header
// counts the records before any is written, so the list is taken first;
// a target that has a history keeps one (its next step only moves
// forward), so each listed target still has a record when it is written,
// and one that warms up meanwhile waits for the next checkpoint.
func (d *Daemon) warmTargets() []namedTarget {
	d.mu.Lock()
	all := make([]namedTarget, 0, len(d.targets))
	for name, t := range d.targets {
		all = append(all, namedTarget{name: name, target: t})
	}
	d.mu.Unlock()
	warm := all[:0]
	for _, t := range all {
		t.target.mu.Lock()
		hasHistory := !t.target.next.IsZero()
		t.target.mu.Unlock()
		if hasHistory {
			warm = append(warm, t)
		}
	}
	slices.SortFunc(warm, func(a, b namedTarget) int { return strings.Compare(a.name, b.name) })
	return warm
}

// encodeRecord encodes t's record with enc under t's lock. The record is a
// copy (the forecaster's snapshots share nothing with the target), but it
// is encoded before the lock is let go all the same, so no move of the
// target can reach what is being encoded. d.mu is held while the record
// is taken because a config change (Update, under d.mu) replaces the
// target's settings and health; lock order: t.mu, then d.mu, and nothing
// takes a target's lock while holding d.mu.
func (d *Daemon) encodeRecord(enc *gob.Encoder, t *target) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	d.mu.Lock()
	rec, ok := t.checkpoint()
	d.mu.Unlock()
	if !ok {
		return errors.New("its history is gone since the targets were listed") // never: see warmTargets
	}
	return enc.Encode(rec)
}

// writeAtomically writes a temporary file beside path with write, syncs it,
// renames it over path and syncs the folder, so that path holds either its
// old content or the whole new one, even across a crash.
func writeAtomically(path string, write func(io.Writer) error) (size int64, err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	if err = write(w); err != nil {
		return 0, err
	}
	if err = w.Flush(); err != nil {
		return 0, err
	}
	if err = f.Sync(); err != nil {
		return 0, err
	}
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if err = f.Close(); err != nil {
		return 0, err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return 0, err
	}
	if d, derr := os.Open(dir); derr == nil {
		// The rename is durable once the folder is synced; a failure here
		// leaves a whole file, old or new.
		_ = d.Sync()
		d.Close()
	}
	return st.Size(), nil
}

// checkpointer decides when Run writes the checkpoint, and keeps track of
// the write running beside the loop. Only Run's goroutine uses it.
type checkpointer struct {
	last time.Time // the last write attempt (zero: none yet)
	// writing is closed when the last write started ends (nil: none
	// started).
	writing chan struct{}
}

// busy reports whether the last write started is still running.
func (c *checkpointer) busy() bool {
	if c.writing == nil {
		return false
	}
	select {
	case <-c.writing:
		return false
	default:
		return true
	}
}

// wait returns once no write is running.
func (c *checkpointer) wait() {
	if c.writing != nil {
		<-c.writing
	}
}

// due reports whether a checkpoint is to be written at now under cfg: on
// the leader, every checkpoint.interval.
func (c *checkpointer) due(cfg config.Checkpoint, leader bool, now time.Time) bool {
	if cfg.Path == "" || !leader {
		return false
	}
	if c.last.IsZero() {
		// The first after a start waits an interval too: the models the
		// start read are those the file holds already, or new.
		c.last = now
		return false
	}
	return now.Sub(c.last) >= time.Duration(cfg.Interval)
}

// checkpointBeside starts writing the checkpoint of cfg in a goroutine of
// its own, so the next loop starts on time. At most one write runs: when
// the last one has not ended yet (a disk that stalls), this one is skipped
// and the next is due one checkpoint.interval later, as if it had run.
func (d *Daemon) checkpointBeside(cfg config.Checkpoint, c *checkpointer, now time.Time) {
	c.last = now
	if c.busy() {
		d.log.Warn("checkpoint skipped: the last one is still being written", "path", cfg.Path)
		return
	}
	done := make(chan struct{})
	c.writing = done
	go func() {
		defer close(done)
		d.writeCheckpointAndLog(cfg, now)
	}()
}

// checkpointNow writes the checkpoint of cfg in the caller's goroutine,
// once the write running beside the loop, if any, has ended.
func (d *Daemon) checkpointNow(cfg config.Checkpoint, c *checkpointer, now time.Time) {
	c.wait()
	c.last = now
	d.writeCheckpointAndLog(cfg, now)
}

// writeCheckpointAndLog writes the checkpoint of cfg and logs the result.
func (d *Daemon) writeCheckpointAndLog(cfg config.Checkpoint, now time.Time) {
	n, size, err := d.WriteCheckpoint(cfg.Path, now)
	if err != nil {
		d.log.Error("checkpoint not written; the last one stays", "err", err)
		return
	}
	d.log.Debug("checkpoint written", "path", cfg.Path, "targets", n, "bytes", size, "seconds", time.Since(now).Seconds())
}

// CheckpointMetrics are the checkpoint's series.
type CheckpointMetrics struct {
	lastWrite *prometheus.GaugeVec
	duration  prometheus.Gauge
	size      prometheus.Gauge
	targets   prometheus.Gauge
	writes    *prometheus.CounterVec
	restored  *prometheus.GaugeVec
}

// NewCheckpointMetrics registers the checkpoint's series on reg.
func NewCheckpointMetrics(reg prometheus.Registerer) *CheckpointMetrics {
	m := &CheckpointMetrics{
		lastWrite: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "prescaler", Subsystem: "checkpoint", Name: "last_write_timestamp_seconds",
			Help: "When the last checkpoint was written (Unix seconds), by result; 0 before the first."}, []string{"result"}),
		duration: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "prescaler", Subsystem: "checkpoint", Name: "write_duration_seconds",
			Help: "How long the last checkpoint write took (it runs beside the loop, waiting for one target at a time)."}),
		size: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "prescaler", Subsystem: "checkpoint", Name: "size_bytes",
			Help: "Size of the last checkpoint written."}),
		targets: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "prescaler", Subsystem: "checkpoint", Name: "written_targets",
			Help: "Targets in the last checkpoint written (those with a history; a target still warming is left out)."}),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "prescaler", Subsystem: "checkpoint", Name: "writes_total",
			Help: "Checkpoint writes by result (success, failure)."}, []string{"result"}),
		restored: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "prescaler", Subsystem: "checkpoint", Name: "restored_targets",
			Help: "Targets at start by what the checkpoint did for them: restored, model_changed, stale (older than forecast.history), " +
				"refused (did not fit the settings), not_in_checkpoint (also every target not restored when the file is missing or unreadable); all but restored read their history from Prometheus."},
			[]string{"outcome"}),
	}
	for _, r := range []string{"success", "failure"} {
		m.lastWrite.WithLabelValues(r)
		m.writes.WithLabelValues(r)
	}
	for _, o := range restoreOutcomes {
		m.restored.WithLabelValues(o)
	}
	reg.MustRegister(m.lastWrite, m.duration, m.size, m.targets, m.writes, m.restored)
	return m
}

func (m *CheckpointMetrics) wrote(at time.Time, took time.Duration, targets int, size int64, err error) {
	result := "success"
	if err != nil {
		result = "failure"
	}
	m.writes.WithLabelValues(result).Inc()
	m.lastWrite.WithLabelValues(result).Set(float64(at.UnixNano()) / 1e9)
	if err == nil {
		m.duration.Set(took.Seconds())
		m.size.Set(float64(size))
		m.targets.Set(float64(targets))
	}
}

func (m *CheckpointMetrics) loaded(counts map[string]int) {
	for _, o := range restoreOutcomes {
		m.restored.WithLabelValues(o).Set(float64(counts[o]))
	}
}
