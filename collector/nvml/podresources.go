package nvml

import (
	"context"
	"fmt"
	"path/filepath"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"
)

// DefaultPodResourcesSocket is where the kubelet serves the pod-resources API.
const DefaultPodResourcesSocket = "/var/lib/kubelet/pod-resources/kubelet.sock"

// maxPodResourcesMessage is the kubelet's own limit on pod-resources
// messages (16 MiB); gRPC's default of 4 MiB is too small for a full node.
const maxPodResourcesMessage = 16 << 20

// PodResources is the [AllocationLister] backed by the kubelet pod-resources
// API (v1 List).
type PodResources struct {
	conn   *grpc.ClientConn
	client podresourcesv1.PodResourcesListerClient
}

// DialPodResources returns a client of the pod-resources API on the unix
// socket. gRPC connects on the first call and reconnects by itself after a
// kubelet restart recreates the socket.
func DialPodResources(socket string) (*PodResources, error) {
	abs, err := filepath.Abs(socket)
	if err != nil {
		return nil, fmt.Errorf("pod-resources socket %q: %w", socket, err)
	}
	conn, err := grpc.NewClient("unix://"+abs,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxPodResourcesMessage)))
	if err != nil {
		return nil, fmt.Errorf("pod-resources socket %s: %w", abs, err)
	}
	return &PodResources{conn: conn, client: podresourcesv1.NewPodResourcesListerClient(conn)}, nil
}

// ListAllocations lists every device allocated to a container on the node.
func (p *PodResources) ListAllocations(ctx context.Context) ([]Allocation, error) {
	resp, err := p.client.List(ctx, &podresourcesv1.ListPodResourcesRequest{})
	if err != nil {
		return nil, fmt.Errorf("kubelet pod-resources List: %w", err)
	}
	return allocationsFrom(resp), nil
}

// Close closes the connection.
func (p *PodResources) Close() error { return p.conn.Close() }

// allocationsFrom flattens a List response to one Allocation per device.
// Devices allocated through DRA (dynamic_resources) are not included: the
// NVIDIA DRA driver names them by claim, not by UUID.
func allocationsFrom(resp *podresourcesv1.ListPodResourcesResponse) []Allocation {
	var out []Allocation
	for _, pod := range resp.GetPodResources() {
		for _, ctr := range pod.GetContainers() {
			owner := Owner{Namespace: pod.GetNamespace(), Pod: pod.GetName(), Container: ctr.GetName()}
			for _, dev := range ctr.GetDevices() {
				for _, id := range dev.GetDeviceIds() {
					out = append(out, Allocation{Resource: dev.GetResourceName(), DeviceID: id, Owner: owner})
				}
			}
		}
	}
	return out
}
