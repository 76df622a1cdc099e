package nvml

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"
)

// fakeKubelet serves a canned List on the pod-resources API.
type fakeKubelet struct {
	podresourcesv1.UnimplementedPodResourcesListerServer
	resp *podresourcesv1.ListPodResourcesResponse
}

func (k *fakeKubelet) List(context.Context, *podresourcesv1.ListPodResourcesRequest) (*podresourcesv1.ListPodResourcesResponse, error) {
	return k.resp, nil
}

// listResponse has a pod with two containers (one GPU each, one also a NIC),
// a pod on a MIG device, a time-sliced replica and a pod without devices.
func listResponse() *podresourcesv1.ListPodResourcesResponse {
	return &podresourcesv1.ListPodResourcesResponse{PodResources: []*podresourcesv1.PodResources{
		{Name: "vllm-0", Namespace: "llm", Containers: []*podresourcesv1.ContainerResources{
			{Name: "server", Devices: []*podresourcesv1.ContainerDevices{
				{ResourceName: "nvidia.com/gpu", DeviceIds: []string{"GPU-aaaa", "GPU-bbbb"}},
				{ResourceName: "example.com/nic", DeviceIds: []string{"0000:3b:00.0"}},
			}},
			{Name: "sidecar"},
		}},
		{Name: "embed-1", Namespace: "search", Containers: []*podresourcesv1.ContainerResources{
			{Name: "embed", Devices: []*podresourcesv1.ContainerDevices{
				{ResourceName: "nvidia.com/mig-1g.10gb", DeviceIds: []string{"MIG-cccc"}},
				{ResourceName: "nvidia.com/gpu.shared", DeviceIds: []string{"GPU-dddd::2"}},
			}},
		}},
		{Name: "web", Namespace: "default", Containers: []*podresourcesv1.ContainerResources{{Name: "nginx"}}},
	}}
}

func wantAllocations() []Allocation {
	vllm := Owner{"llm", "vllm-0", "server"}
	embed := Owner{"search", "embed-1", "embed"}
	return []Allocation{
		{"nvidia.com/gpu", "GPU-aaaa", vllm},
		{"nvidia.com/gpu", "GPU-bbbb", vllm},
		{"example.com/nic", "0000:3b:00.0", vllm},
		{"nvidia.com/mig-1g.10gb", "MIG-cccc", embed},
		{"nvidia.com/gpu.shared", "GPU-dddd::2", embed},
	}
}

func TestAllocationsFrom(t *testing.T) {
	if got := allocationsFrom(listResponse()); !slices.Equal(got, wantAllocations()) {
		t.Errorf("allocations\n got %+v\nwant %+v", got, wantAllocations())
	}
	if got := allocationsFrom(&podresourcesv1.ListPodResourcesResponse{}); len(got) != 0 {
		t.Errorf("empty response: %+v", got)
	}
}

// shortTempDir is a temporary folder with a path short enough for a unix
// socket (108 bytes on linux; t.TempDir can be longer).
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// serveFakeKubelet serves fakeKubelet on a unix socket and returns its path.
func serveFakeKubelet(t *testing.T, resp *podresourcesv1.ListPodResourcesResponse) string {
	t.Helper()
	socket := filepath.Join(shortTempDir(t), "kubelet.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	podresourcesv1.RegisterPodResourcesListerServer(srv, &fakeKubelet{resp: resp})
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return socket
}

func TestPodResourcesOverGRPC(t *testing.T) {
	socket := serveFakeKubelet(t, listResponse())
	pr, err := DialPodResources(socket)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := pr.ListAllocations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, wantAllocations()) {
		t.Errorf("allocations\n got %+v\nwant %+v", got, wantAllocations())
	}
}

// TestPodResourcesNoKubelet: a socket nobody serves fails the call at once,
// not at the deadline.
func TestPodResourcesNoKubelet(t *testing.T) {
	pr, err := DialPodResources(filepath.Join(shortTempDir(t), "kubelet.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := pr.ListAllocations(ctx); err == nil {
		t.Fatal("want an error")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("failing took %s", d)
	}
}
