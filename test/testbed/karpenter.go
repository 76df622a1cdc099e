package testbed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// Karpenter is Karpenter with its kwok cloud provider
// (sigs.k8s.io/karpenter/kwok): it turns Pending pods into NodeClaims and
// creates a Node for each, which the testbed's kwok then runs. Start runs it
// when Options.Karpenter is set.
const Karpenter Component = "karpenter"

// KarpenterEnv names the environment variable that says what tests needing
// Karpenter do (see RequireKarpenter), with the values KEDAEnv takes.
const KarpenterEnv = "PRESCALER_TESTBED_KARPENTER"

// The Karpenter resources a test reads and writes.
var (
	NodePoolResource      = schema.GroupVersionResource{Group: "karpenter.sh", Version: "v1", Resource: "nodepools"}
	NodeClaimResource     = schema.GroupVersionResource{Group: "karpenter.sh", Version: "v1", Resource: "nodeclaims"}
	KWOKNodeClassResource = schema.GroupVersionResource{Group: "karpenter.kwok.sh", Version: "v1alpha1", Resource: "kwoknodeclasses"}
)

// NodePoolLabel is the label Karpenter puts on every node it creates, naming
// its NodePool.
const NodePoolLabel = "karpenter.sh/nodepool"

// karpenterTool is Karpenter as an optional tool, built only on demand like
// the KEDA operator. Its folder holds, beside the binary, the CRDs of every
// kind the controllers watch (NodePool, NodeClaim, NodeOverlay and
// CapacityBuffer, which it watches even with their feature gates off, and
// the kwok provider's KWOKNodeClass).
var karpenterTool = optionalTool{
	module: toolModule{
		dir: "karpenter", module: "sigs.k8s.io/karpenter", short: "karpenter",
		// The main package is the module's kwok/ folder: named after its
		// package, the binary would overwrite kwok's own.
		binaries: map[string]string{string(Karpenter): "sigs.k8s.io/karpenter/kwok"},
		ldflags: func(v string) string {
			return "-X sigs.k8s.io/karpenter/pkg/operator.Version=" + v
		},
	},
	what: "Karpenter", with: "karpenter", makeTarget: "testbed-karpenter",
	coldCost:  "about 4 CPU-minutes and 75 MB of modules",
	env:       KarpenterEnv,
	configDir: "karpenter-config",
	configFiles: []string{
		"kwok/charts/crds/karpenter.sh_nodepools.yaml",
		"kwok/charts/crds/karpenter.sh_nodeclaims.yaml",
		"kwok/charts/crds/karpenter.sh_nodeoverlays.yaml",
		"kwok/charts/crds/autoscaling.x-k8s.io_capacitybuffers.yaml",
		"kwok/apis/crds/karpenter.kwok.sh_kwoknodeclasses.yaml",
	},
}

// BuildKarpenter makes sure Karpenter's kwok provider is built and returns
// the folder that holds it (karpenter and karpenter-config/). A folder named
// by PRESCALER_TESTBED_BIN that holds both is used as is; otherwise it is
// built into its own cache folder
// <CacheDir>/karpenter-<version>_<go>_<hash>/bin, with the same file lock and
// atomic rename as Build.
func BuildKarpenter(ctx context.Context, opts BuildOptions) (BuildInfo, error) {
	return karpenterTool.build(ctx, opts)
}

// RequireKarpenter lets a test that needs Karpenter run, skips it or fails
// it, as KarpenterEnv says: unset, it runs when Karpenter is built and skips
// (naming `make testbed-karpenter`) when not; "require" fails it when
// Karpenter is not built; "on" builds it first when it is missing; "off" and
// -short skip it. Call it before Start, so a skipped test starts nothing.
func RequireKarpenter(t testing.TB) {
	t.Helper()
	karpenterTool.require(t)
}

// KarpenterOptions configures Karpenter (Options.Karpenter).
type KarpenterOptions struct {
	// InstanceTypes are what the kwok cloud provider offers, each in one
	// zone (testbed-a), on demand. Default: one type, GPUInstanceType("gpu-4x", 4).
	InstanceTypes []InstanceType
	// NodeReadyDelay is how long after Karpenter creates a node kwok makes
	// it Ready, like an instance booting: provisioning takes at least that
	// long from the NodeClaim on. Rounded up to whole seconds; 0: at once.
	NodeReadyDelay time.Duration
}

// InstanceType is one instance type of Karpenter's kwok cloud provider.
type InstanceType struct {
	Name string
	// Resources of a node of this type (cpu, memory, ResourceGPU...); pods
	// defaults to 110.
	Resources corev1.ResourceList
	// Price per hour: Karpenter launches the cheapest type that fits.
	Price float64
}

// GPUInstanceType returns an instance type with gpus whole GPUs, 8 CPUs and
// 64Gi of memory per GPU, priced by the GPU.
func GPUInstanceType(name string, gpus int64) InstanceType {
	return InstanceType{
		Name: name,
		Resources: corev1.ResourceList{
			ResourceGPU:           *resource.NewQuantity(gpus, resource.DecimalSI),
			corev1.ResourceCPU:    *resource.NewQuantity(8*gpus, resource.DecimalSI),
			corev1.ResourceMemory: *resource.NewQuantity(gpus*64<<30, resource.BinarySI),
		},
		Price: float64(gpus),
	}
}

func (o KarpenterOptions) withDefaults() KarpenterOptions {
	if len(o.InstanceTypes) == 0 {
		o.InstanceTypes = []InstanceType{GPUInstanceType("gpu-4x", 4)}
	}
	return o
}

func (o KarpenterOptions) validate() error {
	if o.NodeReadyDelay < 0 {
		return fmt.Errorf("testbed: Options.Karpenter.NodeReadyDelay must not be negative, got %s", o.NodeReadyDelay)
	}
	seen := map[string]bool{}
	for i, it := range o.InstanceTypes {
		switch {
		case it.Name == "":
			return fmt.Errorf("testbed: Options.Karpenter.InstanceTypes[%d].Name is empty", i)
		case seen[it.Name]:
			return fmt.Errorf("testbed: Options.Karpenter.InstanceTypes[%d].Name %q is repeated", i, it.Name)
		case len(it.Resources) == 0:
			return fmt.Errorf("testbed: Options.Karpenter.InstanceTypes[%d] (%s) has no Resources", i, it.Name)
		case it.Price < 0:
			return fmt.Errorf("testbed: Options.Karpenter.InstanceTypes[%d] (%s) has a negative Price", i, it.Name)
		}
		seen[it.Name] = true
	}
	return nil
}

// karpenterZone is the one zone the testbed's instance types are offered in.
const karpenterZone = "testbed-a"

// instanceTypesJSON writes the instance types in the format of the kwok
// provider's INSTANCE_TYPES_FILE_PATH (that of its built-in
// kwok/cloudprovider/instance_types.json): its offerings' fields are
// cloudprovider.Offering's, which carry no JSON tags, hence the capitals.
func instanceTypesJSON(types []InstanceType) ([]byte, error) {
	type requirement struct {
		Key      string   `json:"key"`
		Operator string   `json:"operator"`
		Values   []string `json:"values"`
	}
	type offering struct {
		Price        float64
		Available    bool
		Requirements []requirement
	}
	type instanceType struct {
		Name             string              `json:"name"`
		Offerings        []offering          `json:"offerings"`
		Architecture     string              `json:"architecture"`
		OperatingSystems []string            `json:"operatingSystems"`
		Resources        corev1.ResourceList `json:"resources"`
	}
	out := make([]instanceType, 0, len(types))
	for _, it := range types {
		out = append(out, instanceType{
			Name: it.Name,
			Offerings: []offering{{Price: it.Price, Available: true, Requirements: []requirement{
				{Key: "karpenter.sh/capacity-type", Operator: "In", Values: []string{"on-demand"}},
				{Key: corev1.LabelTopologyZone, Operator: "In", Values: []string{karpenterZone}},
			}}},
			Architecture:     "amd64",
			OperatingSystems: []string{"linux"},
			Resources:        it.Resources,
		})
	}
	return json.MarshalIndent(out, "", "  ")
}

// karpenterProcess prepares Karpenter's files (kubeconfig, instance types)
// and command line.
func (e *Env) karpenterProcess(binDir string, opts KarpenterOptions) (*process, error) {
	dir := filepath.Join(e.Dir, "karpenter")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// Karpenter's RBAC ships only as Helm templates of its chart; rather
	// than render them, it runs as a user of its own in system:masters,
	// named so that the apiserver's logs tell its requests apart.
	user, err := e.pki.client("testbed-karpenter", "system:masters")
	if err != nil {
		return nil, err
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if _, err := e.pki.kubeconfig(kubeconfig, e.RESTConfig.Host, user); err != nil {
		return nil, err
	}
	types, err := instanceTypesJSON(opts.InstanceTypes)
	if err != nil {
		return nil, err
	}
	typesFile := filepath.Join(dir, "instance-types.json")
	if err := os.WriteFile(typesFile, types, 0o644); err != nil {
		return nil, err
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	probePort := strconv.Itoa(ports[0])
	args := []string{
		// One replica: no Lease to win before it acts.
		"--disable-leader-election",
		// Karpenter binds both on every interface (":port"); free ports at
		// least let parallel testbeds coexist.
		"--metrics-port=" + strconv.Itoa(ports[1]),
		"--health-probe-port=" + probePort,
		"--instance-types-file-path=" + typesFile,
		"--log-level=debug",
	}
	// Karpenter's flags have no --kubeconfig; controller-runtime reads this.
	env := append(os.Environ(), "KUBECONFIG="+kubeconfig)
	return &process{
		name:    Karpenter,
		bin:     filepath.Join(binDir, string(Karpenter)),
		args:    append(args, e.opts.ExtraArgs[Karpenter]...),
		env:     env,
		logPath: e.LogPath(Karpenter),
		// readyz includes Karpenter's own checks that its caches synced and
		// that the NodePool and NodeClaim CRDs are served.
		ready: httpOK("http://127.0.0.1:"+probePort+"/readyz", ""),
	}, nil
}

// installKarpenterCRDs creates the CRDs copied beside the binary and waits
// until they are served.
func (e *Env) installKarpenterCRDs(ctx context.Context, cfgDir string) error {
	dyn, err := dynamic.NewForConfig(e.RESTConfig)
	if err != nil {
		return err
	}
	var crds []string
	for _, f := range karpenterTool.configFiles {
		objs, err := readManifests(filepath.Join(cfgDir, filepath.Base(f)))
		if err != nil {
			return err
		}
		for _, o := range objs {
			if o.GetKind() != "CustomResourceDefinition" {
				return fmt.Errorf("%s: unexpected kind %s", f, o.GetKind())
			}
			if err := createManifest(ctx, dyn, o); err != nil {
				return err
			}
			crds = append(crds, o.GetName())
		}
	}
	return waitEstablished(ctx, dyn, crds)
}

// NodePoolSpec describes a Karpenter NodePool of the testbed's instance
// types, with a KWOKNodeClass of the same name.
type NodePoolSpec struct {
	Name string
	// GPULimit is spec.limits[nvidia.com/gpu]: Karpenter launches no node
	// that would take the pool's GPUs past it. 0: no limit.
	GPULimit int64
	// ConsolidateAfter, when set, lets Karpenter remove nodes that have been
	// empty that long (consolidationPolicy WhenEmpty, every empty node at
	// once); rounded up to whole seconds. 0: Karpenter removes none.
	ConsolidateAfter time.Duration
}

// AddNodePool creates a KWOKNodeClass and a NodePool that uses it.
func (e *Env) AddNodePool(ctx context.Context, spec NodePoolSpec) error {
	if spec.Name == "" {
		return errors.New("testbed: NodePoolSpec.Name is empty")
	}
	if e.procs[Karpenter] == nil {
		return errors.New("testbed: AddNodePool needs Options.Karpenter")
	}
	dyn, err := dynamic.NewForConfig(e.RESTConfig)
	if err != nil {
		return err
	}
	nodeClass := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "karpenter.kwok.sh/v1alpha1", "kind": "KWOKNodeClass",
		"metadata": map[string]any{"name": spec.Name},
	}}
	if _, err := dyn.Resource(KWOKNodeClassResource).Create(ctx, nodeClass, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("testbed: creating KWOKNodeClass %s: %w", spec.Name, err)
	}
	if _, err := dyn.Resource(NodePoolResource).Create(ctx, nodePool(spec), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("testbed: creating NodePool %s: %w", spec.Name, err)
	}
	return nil
}

// nodePool is the NodePool object of spec.
func nodePool(spec NodePoolSpec) *unstructured.Unstructured {
	disruption := map[string]any{"consolidationPolicy": "WhenEmpty", "consolidateAfter": "Never"}
	if spec.ConsolidateAfter > 0 {
		disruption["consolidateAfter"] = wholeSeconds(spec.ConsolidateAfter)
		// Default budget: 10% of the nodes, at least one, at a time.
		disruption["budgets"] = []any{map[string]any{"nodes": "100%"}}
	}
	npSpec := map[string]any{
		"template": map[string]any{"spec": map[string]any{
			"nodeClassRef": map[string]any{"group": "karpenter.kwok.sh", "kind": "KWOKNodeClass", "name": spec.Name},
			"requirements": []any{
				map[string]any{"key": corev1.LabelOSStable, "operator": "In", "values": []any{"linux"}},
				map[string]any{"key": "karpenter.sh/capacity-type", "operator": "In", "values": []any{"on-demand"}},
			},
			"expireAfter": "Never",
			// Nodes boot: see BootingTaint.
			"startupTaints": []any{map[string]any{"key": BootingTaint, "effect": string(corev1.TaintEffectNoSchedule)}},
		}},
		"disruption": disruption,
	}
	if spec.GPULimit > 0 {
		npSpec["limits"] = map[string]any{string(ResourceGPU): strconv.FormatInt(spec.GPULimit, 10)}
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "karpenter.sh/v1", "kind": "NodePool",
		"metadata": map[string]any{"name": spec.Name},
		"spec":     npSpec,
	}}
}

// wholeSeconds formats d, rounded up, as Karpenter's durations must be
// written ("15s", not "1.5s" or "1m0s").
func wholeSeconds(d time.Duration) string {
	return strconv.FormatInt(int64(math.Ceil(d.Seconds())), 10) + "s"
}

// BootingTaint is on every node Karpenter creates until kwok makes it Ready
// (a NodePool startup taint, removed by the testbed): a kwok node has no
// Ready condition until its delayed stage runs, and the node lifecycle
// controller taints only a node whose Ready is False or Unknown, so without
// it the scheduler would bind pods to a node that has not booted, as no
// real kubelet allows.
const BootingTaint = "testbed.prescaler.io/booting"

// untaintBootedNodes removes BootingTaint from each node of Karpenter's
// once it is Ready, until ctx ends: the part of a real node's start-up
// (kubelet, GPU device plugin) that lets pods on.
func (e *Env) untaintBootedNodes(ctx context.Context) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		nodes, err := e.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: NodePoolLabel})
		if err != nil {
			continue
		}
		for i := range nodes.Items {
			n := &nodes.Items[i]
			if nodeReady(n) != corev1.ConditionTrue || !hasTaint(n, BootingTaint) {
				continue
			}
			n.Spec.Taints = slices.DeleteFunc(n.Spec.Taints, func(t corev1.Taint) bool { return t.Key == BootingTaint })
			// A conflict is retried on the next tick.
			_, _ = e.Client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		}
	}
}

// nodeInitializeStageFile is kwok's "fast" node-initialize stage in a bin
// folder: it makes a node Ready.
const nodeInitializeStageFile = "node-fast-node-initialize.yaml"

// withDelayedNodeReady returns the stage files with the fast
// node-initialize stage replaced by a copy, written into dir, that makes a
// node Karpenter created (one with NodePoolLabel) Ready delay after its
// creation; other nodes (AddNode's) become Ready at once, as before.
func withDelayedNodeReady(stages []string, dir string, delay time.Duration) ([]string, error) {
	return replaceStage(stages, nodeInitializeStageFile, filepath.Join(dir, "node-initialize-delayed.yaml"),
		func(data []byte) ([]byte, error) {
			return setStageDelay(data, map[string]any{
				"durationMilliseconds": 0,
				"durationFrom":         map[string]any{"jq": map[string]any{"expression": nodeReadyAt(delay)}},
			})
		})
}

// nodeReadyAt is the jq expression of the delayed node-initialize stage:
// for a node of Karpenter's, the instant creationTimestamp + delay; for any
// other, nothing, so the stage's default of 0 ms applies.
//
// An instant rather than a duration, since kwok starts a stage's delay
// afresh whenever the node changes, and Karpenter (registration: labels,
// taints, a finalizer) and the node lifecycle controller (the not-ready
// taint; after the grace period, conditions Unknown) change it while it
// waits. kwok reads an RFC 3339 string as "until then".
func nodeReadyAt(delay time.Duration) string {
	return fmt.Sprintf(`if .metadata.labels[%q] then (.metadata.creationTimestamp | fromdate) + %d | todate else empty end`,
		NodePoolLabel, int64(math.Ceil(delay.Seconds())))
}
