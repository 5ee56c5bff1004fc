package main

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/tapegrad/tapegrad/examples/charlm/gpt"
	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/npy"
	"github.com/tapegrad/tapegrad/tensor"
)

// torchLinear reports whether the parameter name is a weight that PyTorch
// stores transposed: nn.Linear's weight [out, in] and MultiheadAttention's
// in_proj_weight [3E, E], where tapegrad's Dense holds [in, out].
func torchLinear(name string, t *tensor.Tensor) bool {
	if t.Rank() != 2 {
		return false
	}
	return strings.HasSuffix(name, "in_proj_weight") || strings.HasSuffix(name, ".weight") && !isEmbedding(name)
}

func isEmbedding(name string) bool { return name == "tok_emb.weight" || name == "pos_emb.weight" }

// writeNPY writes the model's parameters into dir, one NAME.npy each under
// its PyTorch state_dict name, Linear weights transposed to PyTorch's
// [out, in].
func writeNPY(dir string, m *gpt.Model) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, p := range nn.NamedParameters(m) {
		t := p.Tensor
		if torchLinear(p.Name, t) {
			t = t.Transpose(1, 0).Contiguous()
		}
		if err := npy.Save(filepath.Join(dir, p.Name+".npy"), t); err != nil {
			return err
		}
	}
	return nil
}
