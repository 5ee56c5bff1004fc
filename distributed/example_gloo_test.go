//go:build gloo && cgo

package distributed_test

import (
	"fmt"
	"log"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/distributed"
	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/optim"
	"github.com/tapegrad/tapegrad/tensor"
)

// A group of one process (a real job gets its Options from the
// environment with InitFromEnv, under cmd/tgrun or torchrun).
func ExampleProcessGroup_AllReduce() {
	g, err := distributed.Init(distributed.Options{Rank: 0, WorldSize: 1, MasterAddr: "127.0.0.1"})
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()
	x := tensor.FromSlice([]float32{1, 2, 3}, []int{3})
	if err := g.AllReduce(x, distributed.Average); err != nil {
		log.Fatal(err) // errors.Is(err, distributed.ErrPeer), ErrTimeout, ...
	}
	all, err := g.AllGather(x)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(x, all.Shape())
	// Output: [1 2 3] [1 3]
}

// A data-parallel training step: backward, Sync (the averaged gradients),
// then the optimiser.
func ExampleDataParallel() {
	g, err := distributed.Init(distributed.Options{Rank: 0, WorldSize: 1, MasterAddr: "127.0.0.1"})
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()
	tensor.Seed(1)
	model := nn.Sequential{nn.NewDense(4, 8), nn.ReLU{}, nn.NewDense(8, 1)}
	dp, err := distributed.NewDataParallel(g, model, distributed.DataParallelOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer dp.Close()
	opt := optim.NewSGD(dp.Params(), 0.1, 0, 0)
	x, y := tensor.Ones([]int{2, 4}), tensor.Zeros([]int{2, 1})
	var loss *tensor.Tensor
	autograd.Record(func() { loss = nn.MSE(dp.Forward(x), y) })
	loss.Backward()
	if err := dp.Sync(); err != nil {
		log.Fatal(err)
	}
	opt.Step()
	fmt.Println(len(dp.Buckets()), "bucket:", dp.Buckets()[0])
	// Output: 1 bucket: [2.bias 2.weight 0.bias 0.weight]
}

// Gradient accumulation: two micro-batches, the first backward pass inside
// NoSync (no communication), the second outside it; Sync then writes the
// average over the ranks of each rank's sum.
func ExampleDataParallel_NoSync() {
	g, err := distributed.Init(distributed.Options{Rank: 0, WorldSize: 1, MasterAddr: "127.0.0.1"})
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()
	model := nn.NewDense(1, 1)
	model.W.Assign(tensor.Ones([]int{1, 1}))
	dp, err := distributed.NewDataParallel(g, model, distributed.DataParallelOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer dp.Close()
	pass := func(x float32) error {
		var loss *tensor.Tensor
		autograd.Record(func() { loss = dp.Forward(tensor.FromSlice([]float32{x}, []int{1, 1})).Sum() })
		loss.Backward()
		return nil
	}
	if err := dp.NoSync(func() error { return pass(2) }); err != nil {
		log.Fatal(err)
	}
	fmt.Println("after NoSync:", model.W.Grad())
	pass(3)
	if err := dp.Sync(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("after Sync:", model.W.Grad())
	// Output:
	// after NoSync: [[2]]
	// after Sync: [[5]]
}

// Every rank calls NewGroup with the same ranks; here the one rank of a
// group of one. Ranks left out get a group whose collectives fail with
// ErrNotMember.
func ExampleProcessGroup_NewGroup() {
	g, err := distributed.Init(distributed.Options{Rank: 0, WorldSize: 1, MasterAddr: "127.0.0.1"})
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()
	sub, err := g.NewGroup([]int{0})
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Close()
	x := tensor.FromSlice([]float32{1, 2}, []int{2})
	if err := sub.AllReduce(x, distributed.Sum); err != nil {
		log.Fatal(err) // errors.Is(err, distributed.ErrNotMember) on a rank outside it
	}
	fmt.Println(sub.Member(), sub.Rank(), sub.WorldSize(), sub.Ranks(), x)
	// Output: true 0 1 [0] [1 2]
}
