package app

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync/atomic"

	"k8s.io/klog/v2"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/internal/version"
)

// newLogger returns the logger of a command that talks to Kubernetes,
// writing to w in format (json or text) from level up. client-go, leader
// election and the informers log through klog; klog is routed into the
// same handler, so that every line has the one format and no klog text
// line reaches standard error.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	var log *slog.Logger
	switch format {
	case "json":
		log = slog.New(slog.NewJSONHandler(w, opts))
	case "text":
		log = slog.New(slog.NewTextHandler(w, opts))
	default:
		return nil, fmt.Errorf("--log-format %q must be json or text", format)
	}
	if err := routeKlog(log, lv); err != nil {
		return nil, err
	}
	return log, nil
}

// routeKlog sends klog's output to log and sets klog's verbosity to match
// level. klog logs in two ways: its global functions (klog.InfoS,
// klog.V(n).Info) check klog's own verbosity, and a logger taken from a
// context (klog.FromContext) goes to log directly, where klog's slog bridge
// turns V(n) into the slog level -n. Verbosity -level makes both pass the
// same lines: V(0) only at info, up to V(4) at debug (slog.LevelDebug is
// -4). client-go's request traces, V(6) and up, stay out at every level.
//
// klog's bridge knows info and error only: klog's warnings come at info.
func routeKlog(log *slog.Logger, level slog.Level) error {
	handler := log.Handler()
	klogTarget.Store(&handler)
	flags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(flags)
	if err := flags.Set("v", strconv.Itoa(max(0, -int(level)))); err != nil {
		return fmt.Errorf("klog verbosity: %w", err)
	}
	return nil
}

// klog's logger is set once per process, when this package is initialised:
// klog.SetSlogLogger writes klog's globals without a lock, which races with
// any client-go goroutine started before it (a program embedding the
// commands, such as the demo, runs informers of its own first). newLogger
// only points klogTarget at its handler; until then klog's lines go to
// standard error as text, as klog's own default does.
var klogTarget atomic.Pointer[slog.Handler]

func init() {
	handler := slog.Handler(slog.NewTextHandler(os.Stderr, nil))
	klogTarget.Store(&handler)
	klog.SetSlogLogger(slog.New(forwardHandler{}))
}

// forwardHandler hands each klog record to the handler klogTarget holds
// when the record is written, applying the attributes and groups klog
// added on the way in the order it added them.
type forwardHandler struct {
	ops []func(slog.Handler) slog.Handler
}

func (f forwardHandler) target() slog.Handler {
	h := *klogTarget.Load()
	for _, op := range f.ops {
		h = op(h)
	}
	return h
}

func (f forwardHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return f.target().Enabled(ctx, l)
}

func (f forwardHandler) Handle(ctx context.Context, r slog.Record) error {
	return f.target().Handle(ctx, r)
}

func (f forwardHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return forwardHandler{ops: append(slices.Clip(f.ops), func(h slog.Handler) slog.Handler { return h.WithAttrs(attrs) })}
}

func (f forwardHandler) WithGroup(name string) slog.Handler {
	return forwardHandler{ops: append(slices.Clip(f.ops), func(h slog.Handler) slog.Handler { return h.WithGroup(name) })}
}

// logStart writes `prescaler run`'s first line: the build, the targets the
// config asks it to run, whether annotated objects are picked up, and the
// namespaces it watches (none: all).
func logStart(log *slog.Logger, cfg *config.Config, namespaces []string) {
	v := version.Get()
	targets := make([]string, len(cfg.Targets))
	for i := range cfg.Targets {
		t := &cfg.Targets[i]
		obj := t.Object()
		targets[i] = fmt.Sprintf("%s: %s %s/%s, %s", t.Name, obj.Kind, obj.Namespace, obj.Name, t.Mode)
	}
	log.Info("prescaler starting", "version", v.Version, "commit", v.Commit, "targets", len(targets), "target_objects", targets,
		"discovery", cfg.Discovery.Enabled, "namespaces", namespaces)
}
