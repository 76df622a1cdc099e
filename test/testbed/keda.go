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
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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

// The values of KEDAEnv.
const (
	kedaRequire = "require"
	kedaOn      = "on"
	kedaOff     = "off"
)

// KEDANamespace is where the operator "runs": its service account, its RBAC
// Role and the namespace of cluster-scoped objects' secrets
// (KEDA_CLUSTER_OBJECT_NAMESPACE), as in KEDA's own manifests.
const KEDANamespace = "keda"

// kedaServiceAccount is the operator's identity, as in KEDA's manifests:
// the testbed issues it a client certificate for this service account's user
// name and groups, so KEDA's own ClusterRole and Role bindings apply.
const kedaServiceAccount = "keda-operator"

// kedaConfigDir is the folder, inside the KEDA bin folder, that holds the
// CRDs and RBAC manifests copied out of the KEDA module at build time, so
// that a prebuilt folder is self-contained.
const kedaConfigDir = "keda-config"

// kedaModule is the optional tools module of the KEDA operator. It is not in
// toolModules: Build leaves it out, so the testbed's cold build does not grow
// by KEDA's (large) dependency graph unless a caller asks for it.
var kedaModule = toolModule{
	dir: "keda", module: "github.com/kedacore/keda/v2", short: "keda",
	binaries: map[string]string{string(KEDA): "github.com/kedacore/keda/v2/cmd/operator"},
	ldflags: func(v string) string {
		return "-X github.com/kedacore/keda/v2/version.Version=" + v
	},
}

// kedaConfigFiles are the files of the KEDA module copied into kedaConfigDir:
// every CRD the operator watches (it fails to start without one) and its
// RBAC, so that it runs with the permissions a real install grants.
var kedaConfigFiles = []string{
	"config/crd/bases/keda.sh_scaledobjects.yaml",
	"config/crd/bases/keda.sh_scaledjobs.yaml",
	"config/crd/bases/keda.sh_triggerauthentications.yaml",
	"config/crd/bases/keda.sh_clustertriggerauthentications.yaml",
	"config/crd/bases/eventing.keda.sh_cloudeventsources.yaml",
	"config/crd/bases/eventing.keda.sh_clustercloudeventsources.yaml",
	"config/rbac/role.yaml",
	"config/rbac/role_binding.yaml",
}

// BuildKEDA makes sure the KEDA operator is built and returns the folder that
// holds it (keda-operator and keda-config/). A folder named by
// PRESCALER_TESTBED_BIN that holds both is used as is; otherwise it is built
// into its own cache folder <CacheDir>/keda-<version>_<go>_<hash>/bin, with
// the same file lock and atomic rename as Build. A cold build downloads about
// 1.9 GB of modules and takes about 10 CPU-minutes (18 minutes measured on a
// shared, loaded 2-core machine).
func BuildKEDA(ctx context.Context, opts BuildOptions) (BuildInfo, error) {
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if dir := os.Getenv(BinEnv); dir != "" && checkKEDADir(dir) == nil {
		return BuildInfo{Dir: dir, Key: "(from " + BinEnv + ")"}, nil
	}
	info, toolsDir, err := planModules(ctx, opts, []toolModule{kedaModule})
	if err != nil {
		return BuildInfo{}, err
	}
	info.Built, err = installOnce(ctx, info.Dir, checkKEDADir, logf, func(tmp string) error {
		logf("testbed: building the KEDA operator into %s (a cold build takes about 10 CPU-minutes and downloads 1.9 GB of modules)", info.Dir)
		dir := filepath.Join(toolsDir, kedaModule.dir)
		if err := buildModule(ctx, dir, kedaModule, info.Versions[kedaModule.module], tmp, logf); err != nil {
			return err
		}
		if err := copyKEDAConfig(ctx, dir, filepath.Join(tmp, kedaConfigDir)); err != nil {
			return err
		}
		return writeManifest(tmp, info)
	})
	if err != nil {
		return BuildInfo{}, err
	}
	return info, nil
}

// kedaMissing says what BuildKEDA would have to build: nil when the
// operator is there, else the folder it looked in and what that lacks.
func kedaMissing(ctx context.Context) error {
	if dir := os.Getenv(BinEnv); dir != "" && checkKEDADir(dir) == nil {
		return nil
	}
	info, _, err := planModules(ctx, BuildOptions{}, []toolModule{kedaModule})
	if err != nil {
		return err
	}
	if _, err := os.Stat(info.Dir); err != nil {
		return fmt.Errorf("no folder %s", info.Dir)
	}
	if err := checkKEDADir(info.Dir); err != nil {
		return fmt.Errorf("%s: %w", info.Dir, err)
	}
	return nil
}

// checkKEDADir reports what a KEDA bin folder lacks.
func checkKEDADir(dir string) error {
	var missing []string
	if st, err := os.Stat(filepath.Join(dir, string(KEDA))); err != nil || st.Mode()&0o111 == 0 {
		missing = append(missing, string(KEDA))
	}
	for _, f := range kedaConfigFiles {
		if _, err := os.Stat(filepath.Join(dir, kedaConfigDir, filepath.Base(f))); err != nil {
			missing = append(missing, kedaConfigDir+"/"+filepath.Base(f))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	return nil
}

// copyKEDAConfig copies kedaConfigFiles out of the KEDA module that the tools
// module in toolsModDir requires.
func copyKEDAConfig(ctx context.Context, toolsModDir, out string) error {
	modDir, err := moduleDir(ctx, toolsModDir, kedaModule.module)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, f := range kedaConfigFiles {
		data, err := os.ReadFile(filepath.Join(modDir, filepath.FromSlash(f)))
		if err != nil {
			return fmt.Errorf("KEDA manifests: %w", err)
		}
		if err := os.WriteFile(filepath.Join(out, filepath.Base(f)), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// moduleDir returns the module cache folder of module as required by the
// tools module in dir (downloading it if needed).
func moduleDir(ctx context.Context, dir, module string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", module)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locating module %s: %w", module, err)
	}
	d := strings.TrimSpace(string(b))
	if d == "" {
		return "", fmt.Errorf("locating module %s: go list printed no folder", module)
	}
	return d, nil
}

// RequireKEDA lets a test of the KEDA operator run, skips it or fails it,
// as KEDAEnv says: unset, it runs when the operator is built and skips
// (naming `make testbed-keda`) when not; "require" fails it when the operator
// is not built; "on" builds it first when it is missing (under the test's
// own deadline: give go test a -timeout of 30m for a cold build); "off" and
// -short skip it. Call it before Start, so a skipped test starts nothing.
func RequireKEDA(t testing.TB) {
	t.Helper()
	switch verdict, why := decideKEDA(os.Getenv(KEDAEnv), testing.Short(), func() error { return kedaMissing(t.Context()) }); verdict {
	case kedaSkip:
		t.Skip(why)
	case kedaFail:
		t.Fatal(why)
	case kedaBuild:
		// Built here rather than by StartKEDA, whose context is the test's
		// few minutes for the cluster, far shorter than a cold build.
		if _, err := BuildKEDA(t.Context(), BuildOptions{Logf: t.Logf}); err != nil {
			t.Fatalf("%s=%s: building the KEDA operator: %v", KEDAEnv, kedaOn, err)
		}
	}
}

// kedaVerdict is what RequireKEDA does with a test.
type kedaVerdict int

const (
	kedaRun kedaVerdict = iota
	kedaSkip
	kedaFail
	// kedaBuild: build the operator if it is missing, then run.
	kedaBuild
)

// decideKEDA is RequireKEDA's decision, and why. mode is KEDAEnv's value;
// missing says what the operator's folder lacks (nil: it is built), and is
// asked only when the answer matters, since it runs the go command.
//
// Whether a test may skip is said by the environment, never guessed from
// the clock: `make test` builds the operator and sets KEDAEnv=require, so a
// missing build fails there however much time is left, while a plain `go
// test` without it skips with the command that builds it.
func decideKEDA(mode string, short bool, missing func() error) (kedaVerdict, string) {
	const build = "run `make testbed-keda` (or `go run ./test/testbed/cmd/testbed build -with keda`)"
	switch mode {
	case "", kedaRequire, kedaOn, kedaOff:
	default:
		return kedaFail, fmt.Sprintf("%s=%q: want %s, %s, %s or unset", KEDAEnv, mode, kedaRequire, kedaOn, kedaOff)
	}
	if short {
		return kedaSkip, "needs the KEDA operator (not under -short)"
	}
	switch mode {
	case kedaOff:
		return kedaSkip, KEDAEnv + "=off: tests of the KEDA operator are turned off"
	case kedaOn:
		return kedaBuild, ""
	}
	err := missing()
	if err == nil {
		return kedaRun, ""
	}
	if mode == kedaRequire {
		return kedaFail, fmt.Sprintf("%s=%s, but the KEDA operator is not built (%v): %s first", KEDAEnv, kedaRequire, err, build)
	}
	return kedaSkip, fmt.Sprintf("the KEDA operator is not built (%v): %s, or set %s=%s to build it here "+
		"(about 10 CPU-minutes and 1.9 GB of modules the first time)", err, build, KEDAEnv, kedaOn)
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
	if err := e.installKEDA(ctx, filepath.Join(info.Dir, kedaConfigDir)); err != nil {
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
	for _, f := range kedaConfigFiles {
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
