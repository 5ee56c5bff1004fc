//go:build cuda && cgo

package distributed

import (
	"errors"
	"testing"
	"time"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/tensor"
)

// On a machine with a GPU and libnccl.so.2: a group of one rank runs every
// collective on a CUDA tensor through NCCL (one GPU cannot hold two ranks:
// NCCL refuses two ranks on one device). Elsewhere it skips.
func TestNCCLSingleRank(t *testing.T) {
	d := device.CUDA(0)
	if _, err := device.Lookup(d); err != nil {
		t.Skipf("no GPU: %v", err)
	}
	g, err := Init(Options{Rank: 0, WorldSize: 1, MasterAddr: "127.0.0.1", Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		x := tensor.Arange(0, 1023, 1, tensor.On(d), tensor.WithDType(dt))
		err := g.AllReduce(x, Average)
		if errors.Is(err, ErrNoEngine) {
			t.Skipf("no NCCL: %v", err)
		}
		if err != nil {
			t.Fatal(err)
		}
		want := tensor.Arange(0, 1023, 1, tensor.WithDType(dt)).Float64s()
		for i, v := range x.Float64s() {
			if v != want[i] {
				t.Fatalf("%v AllReduce over one rank: element %d is %v", dt, i, v)
			}
		}
		if err := g.Broadcast(x, 0); err != nil {
			t.Fatal(err)
		}
		all, err := g.AllGather(x)
		if err != nil || all.Shape()[0] != 1 || all.Device() != d {
			t.Fatalf("AllGather: %v %v", all, err)
		}
		shard, err := g.ReduceScatter(x, Sum)
		if err != nil || shard.Size() != 1023 {
			t.Fatalf("ReduceScatter: %v %v", shard, err)
		}
	}
}
