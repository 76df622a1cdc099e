package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/prescaler/prescaler/daemon"
)

type statusFlags struct {
	url, kubeconfig          string
	namespace, service, port string
	output                   string
	timeout                  time.Duration
	now                      func() time.Time
}

// standbyTries is how many times status asks again while standby replicas
// answer: the service proxy picks an endpoint per request, so with two
// replicas 8 tries miss the leader once in 256.
const standbyTries = 8

func newStatusCommand() *cobra.Command {
	f := statusFlags{now: time.Now}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Print every target's decision, reason, forecast, demotion and last write, as the running prescaler sees them",
		Long: `status prints one table of every target of the running prescaler: the floor it decided
(or, in shadow mode, would have written), the replicas the forecast asked for and ran, the
reason, the demand forecast per minute (next step and the quantile's peak over the lead time),
whether the forecast is demoted, and the last write that changed the object.

It reads the leader's /status endpoint, by default through the API server's service proxy
(--namespace, --service, --port: the kustomize install's names; a Helm release's Service is
<release>-prescaler), with the kubeconfig as kubectl reads it; the user needs "get" on
services/proxy in that namespace. --url reads a prescaler directly instead (a port-forward, a
local run). A standby replica answers that it is one; status asks again, up to 8 times, to
reach the leader.

Installed on PATH as kubectl-prescaler (a copy or a link of this binary), it is also
"kubectl prescaler status".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.output != "table" && f.output != "json" {
				return fmt.Errorf("--output %q: want table or json", f.output)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			defer cancel()
			report, err := fetchStatus(ctx, f)
			if err != nil {
				return err
			}
			if f.output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(report)
			}
			return printStatusTable(cmd.OutOrStdout(), report, f.now())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.url, "url", "", "base URL of a prescaler to read directly (e.g. http://localhost:8080 after kubectl port-forward); empty: through the API server's service proxy")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", kubeconfigHelp)
	fl.StringVarP(&f.namespace, "namespace", "n", "prescaler", "namespace of prescaler's Service")
	fl.StringVar(&f.service, "service", "prescaler", "name of prescaler's Service")
	fl.StringVar(&f.port, "port", "http-metrics", "name or number of the Service's port that serves /status")
	fl.StringVarP(&f.output, "output", "o", "table", "table or json")
	fl.DurationVar(&f.timeout, "timeout", 30*time.Second, "give up after this long")
	return cmd
}

// fetchStatus reads /status from the leader and decodes it, asking again
// while a standby replica answers.
func fetchStatus(ctx context.Context, f statusFlags) (statusReport, error) {
	fetch := fetchDirect
	if f.url == "" {
		fetch = fetchThroughServiceProxy
	}
	var report statusReport
	for range standbyTries {
		body, err := fetch(ctx, f)
		report = statusReport{}
		decodeErr := json.Unmarshal(body, &report)
		switch {
		case decodeErr == nil && report.Standby:
			continue
		case err != nil:
			return statusReport{}, err
		case decodeErr != nil:
			return statusReport{}, fmt.Errorf("the /status answer is not prescaler's status (%w): %.200q", decodeErr, body)
		}
		return report, nil
	}
	return statusReport{}, fmt.Errorf("%d answers, all from standby replicas: is a leader elected? (kubectl get lease -n %s)", standbyTries, f.namespace)
}

// fetchDirect GETs <url>/status.
func fetchDirect(ctx context.Context, f statusFlags) ([]byte, error) {
	url := strings.TrimSuffix(f.url, "/") + "/status"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("--url %q: %w", f.url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("reading %s: %s", url, resp.Status)
	}
	return body, nil
}

// fetchThroughServiceProxy GETs /status through the API server's proxy to
// the Service, the way kubectl reaches a Service without a port-forward.
func fetchThroughServiceProxy(ctx context.Context, f statusFlags) ([]byte, error) {
	cfg, err := restConfig(f.kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	body, err := cs.CoreV1().Services(f.namespace).ProxyGet("http", f.service, f.port, "status", nil).DoRaw(ctx)
	if err != nil {
		return body, fmt.Errorf("reading /status of service %s/%s port %s through the API server: %w", f.namespace, f.service, f.port, err)
	}
	return body, nil
}

// printStatusTable writes one row per target.
func printStatusTable(out io.Writer, report statusReport, now time.Time) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tNAMESPACE\tOBJECT\tMODE\tFLOOR\tNEEDED\tREPLICAS\tREASON\tDEMAND/MIN NEXT→PEAK\tDEMOTED\tLAST WRITE")
	var problems []string
	for _, s := range report.Targets {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", s.Target, s.Namespace, objectColumn(s), s.Mode,
			s.Floor, s.Needed, s.Replicas, reasonColumn(s), forecastColumn(s.Forecast), yesNo(s.Demoted), lastWriteColumn(s.LastWrite, now))
		if s.Problem != "" {
			problems = append(problems, s.Target+": "+s.Problem)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(report.Targets) == 0 {
		fmt.Fprintln(out, "(no target has completed a loop)")
	}
	for _, p := range problems {
		fmt.Fprintln(out, p)
	}
	return nil
}

func objectColumn(s daemon.TargetStatus) string {
	kind := "hpa"
	if s.Kind == "ScaledObject" {
		kind = "scaledobject"
	}
	return kind + "/" + s.Name
}

func reasonColumn(s daemon.TargetStatus) string {
	if s.Skipped != "" {
		return "skipped: " + s.Skipped
	}
	return s.Reason
}

func forecastColumn(f *daemon.ForecastStatus) string {
	if f == nil {
		return "-"
	}
	return fmt.Sprintf("%.4g→%.4g", f.MeanNext, f.QuantilePeak)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func lastWriteColumn(w *daemon.WriteStatus, now time.Time) string {
	if w == nil {
		return "-"
	}
	return fmt.Sprintf("%d→%d %s ago (%s)", w.PreviousFloor, w.Floor, now.Sub(w.At).Round(time.Second), w.Reason)
}
