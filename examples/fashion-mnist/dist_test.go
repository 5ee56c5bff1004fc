//go:build gloo && cgo

package main

import (
	"testing"

	"github.com/tapegrad/tapegrad/distributed"
)

// The -dist path over a group of one rank trains bit for bit as the plain
// path: the same batches, gradients averaged over one rank (cmd/tgrun runs
// it on two in .ci/run).
func TestDistOneRank(t *testing.T) {
	if raceEnabled {
		t.Skip("training runs are skipped under the race detector")
	}
	cfg := cfgForTest("mlp", 1, 2000)
	plain, err := train(cfg)
	needData(t, err)
	g, err := distributed.Init(distributed.Options{Rank: 0, WorldSize: 1, MasterAddr: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	cfg.Group = g
	dist, err := train(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(dist.Losses) != len(plain.Losses) {
		t.Fatalf("%d steps data-parallel, %d plain", len(dist.Losses), len(plain.Losses))
	}
	for i := range plain.Losses {
		if dist.Losses[i] != plain.Losses[i] {
			t.Fatalf("step %d: loss %v data-parallel, %v plain", i, dist.Losses[i], plain.Losses[i])
		}
	}
	if dist.Epochs[0].Accuracy != plain.Epochs[0].Accuracy {
		t.Fatalf("accuracy %v data-parallel, %v plain", dist.Epochs[0].Accuracy, plain.Epochs[0].Accuracy)
	}
}
