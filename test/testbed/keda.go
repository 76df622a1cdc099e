package testbed

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
)

// KEDA is the KEDA operator (keda-operator), the controller that turns a
// ScaledObject into its HPA. Unlike the other components it is not started
// by Start: a test asks for it with Env.StartKEDA.
const KEDA Component = "keda-operator"

// KEDAEnv names the environment variable that says what tests needing the
// KEDA operator do (see RequireKEDA). Unset, they run when the operator is
// built and skip when it is not; "require" fails them when it is not built
// (make test sets it, after building the operator, so that CI can never pass
// without them); "on" builds it first when it is missing; "off" skips them.
const KEDAEnv = "PRESCALER_TESTBED_KEDA"

// KEDANamespace is where the operator "runs": its service account, its RBAC
// Role and the namespace of cluster-scoped objects' secrets
// (KEDA_CLUSTER_OBJECT_NAMESPACE), as in KEDA's own manifests.
const KEDANamespace = "keda"

// kedaServiceAccount is the operator's identity, as in KEDA's manifests:
// the testbed issues it a client certificate for this service account's user
// name and groups, so KEDA's own ClusterRole and Role bindings apply.
const kedaServiceAccount = "keda-operator"

// kedaTool is the KEDA operator as an optional tool: Build leaves it out,
// so the testbed's cold build does not grow by KEDA's (large) dependency
// graph unless a caller asks for it. Its folder holds, beside the binary,
// every CRD the operator watches (it fails to start without one) and its
// RBAC, so that it runs with the permissions a real install grants.
var kedaTool = optionalTool{
	module: toolModule{
		dir: "keda", module: "github.com/kedacore/keda/v2", short: "keda",
		binaries: map[string]string{string(KEDA): "github.com/kedacore/keda/v2/cmd/operator"},
		ldflags: func(v string) string {
			return "-X github.com/kedacore/keda/v2/version.Version=" + v
		},
		// The testbed's ScaledObjects use the cron trigger; with the other
		// scalers (and the cloud SDKs they import) left out, the operator
		// is a third of the code to compile. A trigger of another type
		// fails as KEDA fails an unknown one ("no scaler found for type").
		trim: &kedaScalers,
	},
	what: "the KEDA operator", with: "keda", makeTarget: "testbed-keda",
	coldCost:  "about 9 CPU-minutes, 5 minutes on 2 idle cores, and 1.9 GB of modules",
	env:       KEDAEnv,
	configDir: "keda-config",
	configFiles: []string{
		"config/crd/bases/keda.sh_scaledobjects.yaml",
		"config/crd/bases/keda.sh_scaledjobs.yaml",
		"config/crd/bases/keda.sh_triggerauthentications.yaml",
		"config/crd/bases/keda.sh_clustertriggerauthentications.yaml",
		"config/crd/bases/eventing.keda.sh_cloudeventsources.yaml",
		"config/crd/bases/eventing.keda.sh_clustercloudeventsources.yaml",
		"config/rbac/role.yaml",
		"config/rbac/role_binding.yaml",
	},
}

// kedaScalers keeps, of KEDA's scalers, the package's shared definitions
// (scaler.go) and the cron, CPU and memory scalers.
var kedaScalers = packageTrim{
	pkg:          "pkg/scalers",
	keep:         []string{"scaler.go", "cron_scaler.go", "cpu_memory_scaler.go"},
	dispatchFile: "pkg/scaling/scalers_builder.go",
	dispatchFunc: "buildScaler",
}

// BuildKEDA makes sure the KEDA operator is built and returns the folder that
// holds it (keda-operator and keda-config/). A folder named by
// PRESCALER_TESTBED_BIN that holds both is used as is; otherwise it is built
// into its own cache folder <CacheDir>/keda-<version>_<go>_<hash>/bin, with
// the same file lock and atomic rename as Build. A cold build downloads about
// 1.9 GB of modules and takes about 9 CPU-minutes (5 minutes measured on 2
// idle cores, the modules already downloaded).
func BuildKEDA(ctx context.Context, opts BuildOptions) (BuildInfo, error) {
	return kedaTool.build(ctx, opts)
}

// RequireKEDA lets a test of the KEDA operator run, skips it or fails it,
// as KEDAEnv says: unset, it runs when the operator is built and skips
// (naming `make testbed-keda`) when not; "require" fails it when the operator
// is not built; "on" builds it first when it is missing (under the test's
// own deadline: give go test a -timeout of 30m for a cold build); "off" and
// -short skip it. Call it before Start, so a skipped test starts nothing.
func RequireKEDA(t testing.TB) {
	t.Helper()
	kedaTool.require(t)
}

// StartKEDA builds the KEDA operator if needed, installs what a KEDA install
// provides (its CRDs, the keda namespace, its service account and RBAC) and
// runs the operator against the testbed's apiserver, watching every
// namespace. It returns once the operator is ready; Stop stops it with the
// rest, and its log is Dir/logs/keda-operator.log. Only the operator runs:
// no metrics adapter (HPAs KEDA creates report their External metric as
// unavailable but enforce their bounds), no admission webhooks.
func (e *Env) StartKEDA(ctx context.Context) error {
	if e.procs[KEDA] != nil {
		return errors.New("testbed: StartKEDA was already called; use StartComponent(KEDA) after StopComponent")
	}
	info, err := BuildKEDA(ctx, BuildOptions{Logf: e.opts.Logf})
	if err != nil {
		return fmt.Errorf("testbed: building the KEDA operator: %w", err)
	}
	start := time.Now()
	if err := e.installKEDA(ctx, filepath.Join(info.Dir, kedaTool.configDir)); err != nil {
		return fmt.Errorf("testbed: installing KEDA: %w", err)
	}
	p, err := e.kedaProcess(info.Dir)
	if err != nil {
		return fmt.Errorf("testbed: %w", err)
	}
	e.procs[KEDA] = p
	if err := e.startAndWait(ctx, KEDA); err != nil {
		return fmt.Errorf("testbed: %w", err)
	}
	e.opts.Logf("testbed: KEDA operator up in %s", time.Since(start).Round(100*time.Millisecond))
	return nil
}

// kedaProcess prepares the operator's files (kubeconfig, gRPC certificates)
// and command line.
func (e *Env) kedaProcess(binDir string) (*process, error) {
	dir := filepath.Join(e.Dir, "keda")
	certDir, caDir := filepath.Join(dir, "certs"), filepath.Join(dir, "ca")
	for _, d := range []string{certDir, caDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	user, err := e.pki.client("system:serviceaccount:"+KEDANamespace+":"+kedaServiceAccount,
		"system:serviceaccounts", "system:serviceaccounts:"+KEDANamespace)
	if err != nil {
		return nil, err
	}
	if _, err := e.pki.kubeconfig(kubeconfig, e.RESTConfig.Host, user); err != nil {
		return nil, err
	}
	if err := e.writeKEDACerts(certDir); err != nil {
		return nil, err
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	probe := "127.0.0.1:" + strconv.Itoa(ports[0])
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--leader-elect=false",
		// Everything that would listen on a fixed port of every interface
		// gets a free loopback port or is off, so parallel testbeds coexist.
		"--health-probe-bind-address=" + probe,
		"--metrics-bind-address=0",
		"--metrics-service-bind-address=127.0.0.1:" + strconv.Itoa(ports[1]),
		// Certificates come from the testbed's CA instead: rotation would
		// patch webhook and APIService objects that do not exist here.
		"--enable-cert-rotation=false",
		"--cert-dir=" + certDir,
		"--ca-dir=" + caDir,
		"--zap-log-level=info",
		"--zap-encoder=console",
	}
	env := append(os.Environ(),
		"WATCH_NAMESPACE=", // all namespaces
		"POD_NAMESPACE="+KEDANamespace,
		"KEDA_CLUSTER_OBJECT_NAMESPACE="+KEDANamespace, // else read from the in-cluster service account mount
		"KUBECONFIG="+kubeconfig,
	)
	return &process{
		name:    KEDA,
		bin:     filepath.Join(binDir, string(KEDA)),
		args:    append(args, e.opts.ExtraArgs[KEDA]...),
		env:     env,
		logPath: e.LogPath(KEDA),
		ready:   httpOK("http://"+probe+"/readyz", ""),
	}, nil
}

// writeKEDACerts writes the mutual-TLS material of the operator's gRPC metrics
// service (ca.crt, tls.crt, tls.key), which it loads at start-up even when
// no metrics adapter ever connects.
func (e *Env) writeKEDACerts(dir string) error {
	tmpl := newServingTemplate("keda-operator", "keda-operator."+KEDANamespace+".svc")
	tmpl.Subject = pkix.Name{CommonName: "keda-operator"}
	tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	kp, err := e.pki.ca.issue(tmpl)
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{"ca.crt": e.pki.ca.pem, "tls.crt": kp.certPEM, "tls.key": kp.keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// installKEDA creates the keda namespace and service account, then every
// manifest in cfgDir (CRDs first), and waits until the CRDs are served.
func (e *Env) installKEDA(ctx context.Context, cfgDir string) error {
	core := e.Client.CoreV1()
	if _, err := core.Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: KEDANamespace}},
		metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: kedaServiceAccount}}
	if _, err := core.ServiceAccounts(KEDANamespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	dyn, err := dynamic.NewForConfig(e.RESTConfig)
	if err != nil {
		return err
	}
	var crds []string
	for _, f := range kedaTool.configFiles {
		objs, err := readManifests(filepath.Join(cfgDir, filepath.Base(f)))
		if err != nil {
			return err
		}
		for _, o := range objs {
			if err := createManifest(ctx, dyn, o); err != nil {
				return err
			}
			if o.GetKind() == "CustomResourceDefinition" {
				crds = append(crds, o.GetName())
			}
		}
	}
	return waitEstablished(ctx, dyn, crds)
}

// manifestResources maps the kinds in KEDA's CRD and RBAC manifests to their
// resources: a fixed table instead of discovery, since the set is known.
var manifestResources = map[string]schema.GroupVersionResource{
	"CustomResourceDefinition": {Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"},
	"ClusterRole":              {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"},
	"ClusterRoleBinding":       {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"},
	"Role":                     {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"},
	"RoleBinding":              {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"},
}

// createManifest creates one object; namespaced RBAC objects without a
// namespace (KEDA's manifests leave it to kustomize) go to KEDANamespace.
func createManifest(ctx context.Context, dyn dynamic.Interface, o *unstructured.Unstructured) error {
	gvr, ok := manifestResources[o.GetKind()]
	if !ok {
		return fmt.Errorf("unexpected kind %s (%s) in KEDA's manifests", o.GetKind(), o.GetName())
	}
	var err error
	switch o.GetKind() {
	case "Role", "RoleBinding":
		if o.GetNamespace() == "" {
			o.SetNamespace(KEDANamespace)
		}
		_, err = dyn.Resource(gvr).Namespace(o.GetNamespace()).Create(ctx, o, metav1.CreateOptions{})
	default:
		_, err = dyn.Resource(gvr).Create(ctx, o, metav1.CreateOptions{})
	}
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating %s %s: %w", o.GetKind(), o.GetName(), err)
	}
	return nil
}

// readManifests decodes every non-empty YAML document of a file.
func readManifests(path string) ([]*unstructured.Unstructured, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	objs, err := DecodeManifests(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return objs, nil
}

// DecodeManifests decodes every non-empty document of a YAML (or JSON)
// stream, such as kubectl applies or helm template prints.
func DecodeManifests(stream []byte) ([]*unstructured.Unstructured, error) {
	dec := k8syaml.NewYAMLOrJSONDecoder(bytes.NewReader(stream), 4096)
	var objs []*unstructured.Unstructured
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			return objs, nil
		} else if err != nil {
			return nil, err
		}
		if len(doc) > 0 {
			objs = append(objs, &unstructured.Unstructured{Object: doc})
		}
	}
}

// waitEstablished waits until every named CRD reports Established.
func waitEstablished(ctx context.Context, dyn dynamic.Interface, names []string) error {
	crds := dyn.Resource(manifestResources["CustomResourceDefinition"])
	for _, name := range names {
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			crd, err := crds.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			return established(crd), nil
		})
		if err != nil {
			return fmt.Errorf("CRD %s not established: %w", name, err)
		}
	}
	return nil
}

func established(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		b, _ := json.Marshal(c)
		var cond struct{ Type, Status string }
		if json.Unmarshal(b, &cond) == nil && cond.Type == "Established" && cond.Status == "True" {
			return true
		}
	}
	return false
}
