package nn

import (
	"fmt"

	"github.com/tapegrad/tapegrad/tensor"
)

// Embedding maps integer ids to rows of a table W [num, dim]: ids of any
// shape (Int32 or Int64) give vectors of shape ids.shape + [dim], as
// PyTorch's nn.Embedding. The gradient of W adds up the rows of the
// output gradient that looked each id up, in the order of the ids, so it
// is the same bits on every run and device. Its parameter is named
// "weight".
type Embedding struct {
	W *tensor.Tensor // [num, dim]
}

// NewEmbedding returns an embedding of num ids into dim dimensions with
// weights drawn from N(0, 1) (PyTorch's default), gradient attached.
func NewEmbedding(num, dim int, opts ...tensor.Option) *Embedding {
	if num < 0 || dim < 0 {
		panic(&tensor.Error{Kind: tensor.ErrArgument, Op: "NewEmbedding", Detail: fmt.Sprintf("%d ids of %d dimensions", num, dim)})
	}
	e := &Embedding{W: tensor.RandNormal(0, 1, []int{num, dim}, opts...)}
	e.W.AttachGrad()
	return e
}

// Forward looks the ids up: W.IndexSelect(0, ids). An id outside
// [0, num) panics with ErrIndex; ids that are not integers with ErrDType.
func (e *Embedding) Forward(ids *tensor.Tensor) *tensor.Tensor { return e.W.IndexSelect(0, ids) }

// Params returns W.
func (e *Embedding) Params() []*tensor.Tensor { return []*tensor.Tensor{e.W} }

// NamedParameters returns W as "weight".
func (e *Embedding) NamedParameters() []NamedTensor { return named("weight", e.W) }
