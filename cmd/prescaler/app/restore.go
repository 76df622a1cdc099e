package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/writer"
	"github.com/prescaler/prescaler/writer/placeholder"
)

type restoreFlags struct {
	configPath, kubeconfig, namespace string
	all                               bool
	// stopDeployment is prescaler's own Deployment (namespace/name), scaled
	// to zero before anything is restored so that no daemon writes again.
	stopDeployment string
	stopTimeout    time.Duration
}

// newRestoreCommand gives every HPA or ScaledObject prescaler manages its
// user's values back: the configured targets, or with --all every object
// carrying prescaler's annotations (for example when removing prescaler).
func newRestoreCommand() *cobra.Command {
	var f restoreFlags
	cmd := &cobra.Command{
		Use:   "restore",
		Short: "Give HPAs and ScaledObjects their user's minReplicas and behavior back",
		Long: `Give HPAs and ScaledObjects their user's minReplicas and behavior back.

With --stop-deployment, prescaler's own Deployment is scaled to zero first and
the command waits until none of its pods is left, so that no daemon writes a
floor again after the restore: the uninstall order (the Helm chart's
pre-delete hook runs exactly this).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.all == (f.configPath != "") {
				return errors.New("restore needs exactly one of --config FILE (its targets) or --all")
			}
			return runRestore(cmd.Context(), f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.configPath, "config", "", "restore the targets of this configuration file")
	fs.BoolVar(&f.all, "all", false, "restore every object that carries prescaler's annotations")
	fs.StringVar(&f.namespace, "namespace", "", "with --all: only this namespace (default: all namespaces)")
	fs.StringVar(&f.stopDeployment, "stop-deployment", "", "first scale prescaler's own Deployment NAMESPACE/NAME to zero and wait until its pods are gone")
	fs.DurationVar(&f.stopTimeout, "stop-timeout", 2*time.Minute, "how long --stop-deployment waits for the pods to go")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", kubeconfigHelp)
	return cmd
}

func runRestore(ctx context.Context, f restoreFlags, out, errOut io.Writer) error {
	// The report goes to out, one line per object; the writer's warnings
	// and client-go's lines go to errOut, as text for the person or the
	// Job log reading it.
	log, err := newLogger(errOut, "text", "info")
	if err != nil {
		return err
	}
	restCfg, err := restConfig(f.kubeconfig)
	if err != nil {
		return fmt.Errorf("kubernetes client configuration: %w", err)
	}
	restCfg.UserAgent = "prescaler"
	kube, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	if f.stopDeployment != "" {
		if err := stopDeployment(ctx, kube, f.stopDeployment, f.stopTimeout, out); err != nil {
			return err
		}
	}
	recorder := syncRecorder{ctx: ctx, events: kube.CoreV1(), errOut: errOut}
	w, err := writer.NewForConfig(restCfg, recorder, log, nil)
	if err != nil {
		return err
	}
	refs, err := restoreTargets(ctx, w, f.configPath, f.namespace)
	if err != nil {
		return err
	}
	var restoreErr error
	if len(refs) == 0 {
		_, _ = fmt.Fprintf(out, "no object carries %s in %s: nothing to restore\n", writer.AnnotationOriginal, scopeOf(f.namespace))
	} else {
		restoreErr = restoreAll(ctx, w, refs, out)
	}
	return errors.Join(restoreErr, removePlaceholders(ctx, placeholder.New(kube), f.configPath, f.namespace, out))
}

// removePlaceholders deletes the placeholder pods' Deployments: every one
// in scope with --all, the configured targets' with --config. Nothing
// prescaler created outlives a restore.
func removePlaceholders(ctx context.Context, c *placeholder.Client, configPath, namespace string, out io.Writer) error {
	list, err := c.List(ctx, namespace)
	if err != nil {
		return err
	}
	wanted := map[string]bool{}
	if configPath != "" {
		cfg, err := config.Load(configPath)
		if err != nil {
			return err
		}
		for _, t := range cfg.Targets {
			wanted[t.Namespace+"/"+t.Name] = true
		}
	}
	var errs []error
	for _, p := range list {
		if configPath != "" && !wanted[p.Namespace+"/"+p.Target] {
			continue
		}
		if err := c.Remove(ctx, p.Namespace, p.Target); err != nil {
			errs = append(errs, err)
			continue
		}
		_, _ = fmt.Fprintf(out, "Deployment %s/%s: %d placeholder pods of target %s removed\n", p.Namespace, p.Name, p.Replicas, p.Target)
	}
	return errors.Join(errs...)
}

func scopeOf(namespace string) string {
	if namespace == "" {
		return "any namespace"
	}
	return "namespace " + namespace
}

// stopDeployment scales the Deployment ref (namespace/name) to zero and
// waits until none of its pods exists: a pod being deleted may still run the
// daemon until its grace period ends.
func stopDeployment(ctx context.Context, kube kubernetes.Interface, ref string, timeout time.Duration, out io.Writer) error {
	namespace, name, ok := strings.Cut(ref, "/")
	if !ok || namespace == "" || name == "" {
		return fmt.Errorf("--stop-deployment %q: want NAMESPACE/NAME", ref)
	}
	deployments := kube.AppsV1().Deployments(namespace)
	dep, err := deployments.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("--stop-deployment %s: %w", ref, err)
	}
	selector, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil || selector.Empty() {
		return fmt.Errorf("--stop-deployment %s: its selector %v selects no pods reliably: %v", ref, dep.Spec.Selector, err)
	}
	scale := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}, Spec: autoscalingv1.ScaleSpec{Replicas: 0}}
	if _, err := deployments.UpdateScale(ctx, name, scale, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("--stop-deployment %s: scaling to zero: %w", ref, err)
	}
	left, err := waitNoPods(ctx, kube, namespace, selector, timeout)
	if err != nil {
		return fmt.Errorf("--stop-deployment %s: %d pods still there after %s: %w", ref, left, timeout, err)
	}
	_, _ = fmt.Fprintf(out, "Deployment %s: scaled to zero, no pod left\n", ref)
	return nil
}

func waitNoPods(ctx context.Context, kube kubernetes.Interface, namespace string, selector labels.Selector, timeout time.Duration) (int, error) {
	left := -1
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		pods, err := kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
		if err != nil {
			return false, err
		}
		left = len(pods.Items)
		return left == 0, nil
	})
	return left, err
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

// restoreAll restores each object, printing one line per object; one
// failure does not stop the others.
func restoreAll(ctx context.Context, w *writer.Writer, refs []config.ObjectRef, out io.Writer) error {
	var errs []error
	for _, ref := range refs {
		res, err := w.Restore(ctx, ref)
		switch {
		case errors.Is(err, writer.ErrNotFound):
			_, _ = fmt.Fprintf(out, "%s: not found, nothing to restore\n", ref)
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", ref, err))
		case res.Outcome == writer.OutcomeUnchanged:
			_, _ = fmt.Fprintf(out, "%s: carries no %s, left as it is (minReplicas %d)\n", ref, writer.AnnotationOriginal, res.Floor)
		default:
			_, _ = fmt.Fprintf(out, "%s: %s\n", ref, res.Message)
		}
	}
	return errors.Join(errs...)
}
