package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// report is everything a run measured. Fields stay zero for phases a
// failed or interrupted run did not reach; Error says why it stopped.
type report struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Error    string    `json:"error,omitempty"`
	Host     hostInfo  `json:"host"`
	Flags    flagsInfo `json:"flags"`

	Setup    setupInfo    `json:"setup"`
	Backfill backfillInfo `json:"backfill"`

	// ColdStart is the first replica alone, from process start.
	ColdStart coldStartInfo `json:"coldStart"`
	// Checkpoint is the same replica started again from its checkpoint.
	Checkpoint *checkpointInfo `json:"checkpoint,omitempty"`
	// Standby is the second replica's warm-up.
	Standby standbyInfo `json:"standbyWarmUp"`

	Steady   *steadyInfo   `json:"steadyState,omitempty"`
	Takeover *takeoverInfo `json:"takeover,omitempty"`

	// Notes are findings worth a reader's attention that did not stop
	// the run.
	Notes []string `json:"notes,omitempty"`
}

// standbyInfo: the standby is warm once its last two loops sent no
// single (per-target) query, which only history reads and their retries
// send; until then some targets have no model yet.
type standbyInfo struct {
	Warm bool `json:"warm"`
	// Seconds from its start until warm, or until the harness stopped
	// waiting (--warm-timeout).
	Seconds   float64 `json:"seconds"`
	LoopsSeen int     `json:"loopsSeen"`
	// SingleQueriesLastLoop is what its last loop sent: per-target reads
	// still failing or pending.
	SingleQueriesLastLoop float64 `json:"singleQueriesLastLoop"`
}

type hostInfo struct {
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"goVersion"`
	Note      string `json:"note"`
}

type flagsInfo struct {
	Targets          int     `json:"targets"`
	Days             int     `json:"days"`
	Step             string  `json:"step"`
	Loops            int     `json:"loops"`
	Interval         string  `json:"interval"`
	GPUsPerNode      int     `json:"gpusPerNode"`
	ReplicaCapacity  float64 `json:"replicaCapacity"`
	LeadTime         string  `json:"leadTime"`
	LeaseDuration    string  `json:"leaseDuration"`
	BackfillChunk    string  `json:"backfillChunk"`
	HPAMaxReplicas   int     `json:"hpaMaxReplicas"`
	Seed             uint64  `json:"seed"`
	PrescalerBinary  string  `json:"prescalerBinary"`
	OutputFolder     string  `json:"outputFolder"`
	PeakReplicasMean float64 `json:"peakReplicasMean"`
	// GOGC is the replicas' GOGC; 0: prescaler's default.
	GOGC int `json:"gogc,omitempty"`
}

type setupInfo struct {
	TestbedSeconds     float64 `json:"testbedSeconds"`
	Nodes              int     `json:"nodes"`
	GPUs               int     `json:"gpus"`
	NodesSeconds       float64 `json:"nodesSeconds"`
	ObjectsSeconds     float64 `json:"objectsSeconds"`
	PodsRunningSeconds float64 `json:"podsRunningSeconds"`
}

type backfillInfo struct {
	Series  int   `json:"series"`
	Samples int64 `json:"samples"`
	Bytes   int64 `json:"bytes"`
	Files   int   `json:"files"`
	// WriteSeconds is generating the OpenMetrics files; LoadSeconds is
	// BackfillPrometheus (stop Prometheus, promtool, start it, ready);
	// TotalSeconds both.
	WriteSeconds float64 `json:"writeSeconds"`
	LoadSeconds  float64 `json:"loadSeconds"`
	TotalSeconds float64 `json:"totalSeconds"`
}

type coldStartInfo struct {
	// AllListedSeconds: /status listed every target with a decision.
	AllListedSeconds float64 `json:"allListedSeconds"`
	// AllForecastSeconds: every target's decision came from a fitted
	// forecast (the cold start proper: history read and model fitted).
	AllForecastSeconds float64 `json:"allForecastSeconds"`
	Loops              uint64  `json:"loops"`
	// ProblemTargets had a problem on /status when all were forecast.
	ProblemTargets int `json:"problemTargets"`
	// PeakRSSBytes is the largest process_resident_memory_bytes sampled
	// (every 5 s); RSSHighWaterBytes the kernel's high-water mark (VmHWM)
	// at the end of the cold start, which no sampling can miss.
	PeakRSSBytes      float64 `json:"peakRSSBytes"`
	RSSHighWaterBytes float64 `json:"rssHighWaterBytes"`
}

// replicaUsage is one replica over the steady-state window.
type replicaUsage struct {
	Name        string  `json:"name"`
	CPUCores    float64 `json:"cpuCores"`
	RSSMaxBytes float64 `json:"rssMaxBytes"`
	// RSSHighWaterBytes is VmHWM at the window's end: the peak since the
	// process started, its cold start or warm-up included.
	RSSHighWaterBytes float64 `json:"rssHighWaterBytes"`
	// RSSAnonBytes and RSSFileBytes split the resident set at the window's
	// end: anonymous memory, and the binary's (and other files') pages.
	RSSAnonBytes    float64            `json:"rssAnonBytes"`
	RSSFileBytes    float64            `json:"rssFileBytes"`
	HeapInuseBytes  float64            `json:"heapInuseBytes"`
	KubeRequests    float64            `json:"kubeRequests"`
	KubePerMinute   float64            `json:"kubeRequestsPerMinute"`
	KubeByVerb      map[string]float64 `json:"kubeRequestsByVerb"`
	KubePerTargetPM float64            `json:"kubeRequestsPerTargetPerMinute"`
	// ...NoListWatch leaves out list and watch: informer upkeep, not
	// per-loop work.
	KubePerTargetPMNoListWatch float64 `json:"kubeRequestsPerTargetPerMinuteNoListWatch"`
	GroupedQueriesPM           float64 `json:"groupedQueriesPerMinute"`
	SingleQueriesPM            float64 `json:"singleQueriesPerMinute"`
	// QueryErrors is failed Prometheus reads in the window (a read cut
	// by the loop's deadline counts), FailingTargets the targets they hit.
	QueryErrors    float64 `json:"queryErrors"`
	FailingTargets int     `json:"failingTargets"`
	LoopsEnded     int     `json:"loopsEnded"`
}

type steadyInfo struct {
	WindowSeconds float64      `json:"windowSeconds"`
	Loops         loopStats    `json:"leaderLoops"`
	Interval      float64      `json:"intervalSeconds"`
	Leader        replicaUsage `json:"leader"`
	Standby       replicaUsage `json:"standby"`
	// FloorWrites is HPA patches by the leader in the window: floors that
	// changed (each changed floor is one patch).
	FloorWrites float64 `json:"floorWrites"`
	// LeaderPhaseMs is the leader's mean time per target and loop in each
	// phase (read, fit, decide, write), in milliseconds.
	LeaderPhaseMs map[string]float64 `json:"leaderPhaseMsPerTarget"`
}

type takeoverInfo struct {
	// LeaderAnswerSeconds: the standby's /status answered 200 (it leads).
	LeaderAnswerSeconds float64 `json:"leaderAnswerSeconds"`
	// AllDecidedSeconds: every target decided by a loop begun after the kill.
	AllDecidedSeconds float64 `json:"allDecidedSeconds"`
	// TargetSeconds is lease duration + one interval.
	TargetSeconds float64 `json:"targetSeconds"`
	// At AllDecidedSeconds: targets decided from a forecast, and targets
	// whose status names a problem.
	ForecastTargets int `json:"forecastTargets"`
	ProblemTargets  int `json:"problemTargets"`
}

func newReport(o options) *report {
	return &report{
		Started: time.Now().UTC(),
		Host: hostInfo{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(),
			Note: "shared machine: other work may run beside the harness, so timings are noisy"},
		Flags: flagsInfo{
			Targets: o.targets, Days: o.days, Step: o.step.String(), Loops: o.loops, Interval: o.interval.String(),
			GPUsPerNode: o.gpusPerNode, ReplicaCapacity: o.capacity, LeadTime: o.leadTime.String(),
			LeaseDuration: o.leaseDuration.String(), BackfillChunk: o.backfillChunk.String(),
			HPAMaxReplicas: int(o.maxReplicas), Seed: o.seed, PrescalerBinary: o.prescaler, OutputFolder: o.out, GOGC: o.gogc,
		},
	}
}

func secs(d time.Duration) float64 { return math.Round(d.Seconds()*1000) / 1000 }

func mib(b float64) string { return fmt.Sprintf("%.0f MiB", b/(1<<20)) }

// writeJSON writes report.json into the output folder.
func (r *report) writeJSON(dir string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "report.json"), append(b, '\n'), 0o644)
}

// print writes the report as a table.
func (r *report) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string, args ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(v, args...)) }
	f := r.Flags
	fmt.Fprintln(tw, "prescaler scale test")
	row("flags", "--targets %d --days %d --step %s --loops %d --interval %s%s", f.Targets, f.Days, f.Step, f.Loops, f.Interval, gogcFlag(f.GOGC))
	row("host", "%d CPUs, %s (%s)", r.Host.CPUs, r.Host.GoVersion, r.Host.Note)
	row("fleet", "%d Deployments+HPAs (max %d), %d nodes × %d GPUs, capacity %g/min per replica, peak needs %.2f replicas on average",
		f.Targets, f.HPAMaxReplicas, r.Setup.Nodes, f.GPUsPerNode, f.ReplicaCapacity, f.PeakReplicasMean)
	row("setup", "testbed %.1fs, nodes %.1fs, objects %.1fs, pods Running %.1fs",
		r.Setup.TestbedSeconds, r.Setup.NodesSeconds, r.Setup.ObjectsSeconds, r.Setup.PodsRunningSeconds)
	b := r.Backfill
	if b.Samples > 0 {
		row("backfill", "%d series, %d samples (%.0f MiB OpenMetrics, %d files): write %.1fs + load %.1fs = %.1fs",
			b.Series, b.Samples, float64(b.Bytes)/(1<<20), b.Files, b.WriteSeconds, b.LoadSeconds, b.TotalSeconds)
	}
	c := r.ColdStart
	if c.AllListedSeconds > 0 {
		row("cold start, no checkpoint", "all %d targets forecast after %.1fs (%d loops; all listed after %.1fs; %d with a problem; peak RSS %s sampled, %s high-water)",
			f.Targets, c.AllForecastSeconds, c.Loops, c.AllListedSeconds, c.ProblemTargets, mib(c.PeakRSSBytes), mib(c.RSSHighWaterBytes))
	}
	if cp := r.Checkpoint; cp != nil && cp.ColdStart.AllListedSeconds > 0 {
		c := cp.ColdStart
		row("checkpoint", "%.0f targets, %s, written in %.2fs; SIGTERM to exit %.1fs (the checkpoint then: %s)",
			cp.Targets, mib(cp.Bytes), cp.WriteSeconds, cp.StopSeconds, mib(cp.FinalBytes))
		row("cold start, from the checkpoint", "all %d targets forecast after %.1fs (%d loops; all listed after %.1fs; %d with a problem; restored %v; peak RSS %s sampled, %s high-water)",
			f.Targets, c.AllForecastSeconds, c.Loops, c.AllListedSeconds, c.ProblemTargets, cp.Restored, mib(c.PeakRSSBytes), mib(c.RSSHighWaterBytes))
	}
	if sb := r.Standby; sb.Seconds > 0 {
		if sb.Warm {
			row("standby warm", "%.1fs from start (%d loops; the last two read no history)", sb.Seconds, sb.LoopsSeen)
		} else {
			row("standby NOT warm", "gave up after %.1fs (%d loops; its last loop still sent %.0f per-target queries)",
				sb.Seconds, sb.LoopsSeen, sb.SingleQueriesLastLoop)
		}
	}
	if s := r.Steady; s != nil {
		p99 := fmt.Sprintf("%.2fs (bucket ≤ %gs)", s.Loops.P99, s.Loops.P99Bucket)
		if s.Loops.P99Bucket < 0 {
			p99 = "above the last bucket (60s)"
		}
		row("steady window", "%.0fs, %d leader loops", s.WindowSeconds, s.Loops.Count)
		row("loop duration", "p99 %s, mean %.2fs, interval %.0fs, %d loops over it", p99, s.Loops.Mean, s.Interval, s.Loops.OverInterval)
		if len(s.LeaderPhaseMs) > 0 {
			var parts []string
			for _, p := range []string{"read", "fit", "decide", "write"} {
				parts = append(parts, fmt.Sprintf("%s %.1f", p, s.LeaderPhaseMs[p]))
			}
			row("leader phases", "ms per target and loop: %s", strings.Join(parts, ", "))
		}
		for _, u := range []replicaUsage{s.Leader, s.Standby} {
			row(u.Name+" API", "%.4f requests/target/min (%.4f without list/watch), %.1f/min in all; by verb %s",
				u.KubePerTargetPM, u.KubePerTargetPMNoListWatch, u.KubePerMinute, verbs(u.KubeByVerb))
			row(u.Name+" Prometheus", "%.1f grouped + %.1f single queries/min; %.0f failed reads on %d targets",
				u.GroupedQueriesPM, u.SingleQueriesPM, u.QueryErrors, u.FailingTargets)
			row(u.Name+" resources", "%.3f CPU cores, RSS max %s (high-water since start %s; at the end %s anonymous + %s the binary's), heap in use %s",
				u.CPUCores, mib(u.RSSMaxBytes), mib(u.RSSHighWaterBytes), mib(u.RSSAnonBytes), mib(u.RSSFileBytes), mib(u.HeapInuseBytes))
		}
		row("floors changed", "%.0f HPA patches by the leader in the window", s.FloorWrites)
	}
	if t := r.Takeover; t != nil {
		row("takeover (SIGKILL)", "standby leads after %.1fs, all targets decided after %.1fs (target: lease + interval = %.0fs); then %d from a forecast, %d with a problem",
			t.LeaderAnswerSeconds, t.AllDecidedSeconds, t.TargetSeconds, t.ForecastTargets, t.ProblemTargets)
	}
	for _, n := range r.Notes {
		row("note", "%s", n)
	}
	if r.Error != "" {
		row("ERROR", "%s", strings.ReplaceAll(r.Error, "\n", " | "))
	}
	_ = tw.Flush()
}

// gogcFlag is " --gogc N" when the replicas ran with their own GOGC.
func gogcFlag(gogc int) string {
	if gogc == 0 {
		return ""
	}
	return fmt.Sprintf(" --gogc %d", gogc)
}

func verbs(m map[string]float64) string {
	if len(m) == 0 {
		return "(none)"
	}
	var parts []string
	for _, v := range []string{"get", "list", "watch", "create", "update", "patch", "delete"} {
		if n, ok := m[v]; ok && n > 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f", v, n))
		}
	}
	for v, n := range m {
		switch v {
		case "get", "list", "watch", "create", "update", "patch", "delete":
		default:
			if n > 0 {
				parts = append(parts, fmt.Sprintf("%s %.0f", v, n))
			}
		}
	}
	if len(parts) == 0 {
		return "(none)"
	}
	return strings.Join(parts, ", ")
}
