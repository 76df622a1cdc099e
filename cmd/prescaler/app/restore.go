package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/writer"
)

// newRestoreCommand gives every HPA or ScaledObject prescaler manages its
// user's values back: the configured targets, or with --all every object
// carrying prescaler's annotations (for example after removing prescaler).
func newRestoreCommand() *cobra.Command {
	var configPath, kubeconfig, namespace string
	var all bool
	cmd := &cobra.Command{
		Use:   "restore",
		Short: "Give HPAs and ScaledObjects their user's minReplicas and behavior back",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if all == (configPath != "") {
				return errors.New("restore needs exactly one of --config FILE (its targets) or --all")
			}
			restCfg, err := restConfig(kubeconfig)
			if err != nil {
				return fmt.Errorf("kubernetes client configuration: %w", err)
			}
			w, err := writer.NewForConfig(restCfg, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				return err
			}
			refs, err := restoreTargets(cmd.Context(), w, configPath, namespace)
			if err != nil {
				return err
			}
			return restoreAll(cmd.Context(), w, refs, cmd.OutOrStdout())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&configPath, "config", "", "restore the targets of this configuration file")
	fs.BoolVar(&all, "all", false, "restore every object that carries prescaler's annotations")
	fs.StringVar(&namespace, "namespace", "", "with --all: only this namespace (default: all namespaces)")
	fs.StringVar(&kubeconfig, "kubeconfig", "", kubeconfigHelp)
	return cmd
}

func restoreTargets(ctx context.Context, w *writer.Writer, configPath, namespace string) ([]config.ObjectRef, error) {
	if configPath == "" {
		return w.ListManaged(ctx, namespace)
	}
	cfg, err := config.Load(configPath)
	if err != nil {
		return nil, err
	}
	refs := make([]config.ObjectRef, 0, len(cfg.Targets))
	for i := range cfg.Targets {
		refs = append(refs, cfg.Targets[i].Object())
	}
	return refs, nil
}

// restoreAll restores each object, reporting each result; one failure does
// not stop the others.
func restoreAll(ctx context.Context, w *writer.Writer, refs []config.ObjectRef, out io.Writer) error {
	var errs []error
	for _, ref := range refs {
		res, err := w.Restore(ctx, ref)
		switch {
		case errors.Is(err, writer.ErrNotFound):
			_, _ = fmt.Fprintf(out, "%s: not found, nothing to restore\n", ref)
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", ref, err))
		default:
			_, _ = fmt.Fprintf(out, "%s: %s %s\n", ref, res.Outcome, res.Message)
		}
	}
	return errors.Join(errs...)
}
