package main

import (
	"testing"

	"github.com/tapegrad/tapegrad/bench/internal/peerkit/peertest"
)

func TestSelfTest(t *testing.T) {
	peertest.SelfTest(t, peer, "unary/exp/1024", "seed/1024", "overhead/op", "mlp/step", "matmul/256x512x10")
}
