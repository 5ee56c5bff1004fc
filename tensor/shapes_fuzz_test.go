package tensor_test

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"testing"

	"github.com/tapegrad/tapegrad/tensor"
)

// FuzzShapes: shape arithmetic with huge lengths. Every operation either
// gives a tensor whose element count is the exact product of its shape (no
// int overflow anywhere) or panics with a *tensor.Error; it never panics
// with a runtime error and never allocates more than a small tensor (the
// huge shapes stay views, or are refused before anything is allocated).
func FuzzShapes(f *testing.F) {
	f.Add(uint8(0), int64(1<<32), int64(1<<32), int64(1))
	f.Add(uint8(1), int64(4), int64(1<<62+1), int64(1))
	f.Add(uint8(2), int64(1<<31), int64(1<<31), int64(4))
	f.Add(uint8(3), int64(1<<62), int64(1<<62), int64(2))
	f.Add(uint8(4), int64(3), int64(-1), int64(5))
	f.Add(uint8(5), int64(1<<60), int64(3), int64(2))
	f.Add(uint8(6), int64(0), int64(1<<62), int64(1<<62))
	f.Add(uint8(7), int64(1e18), int64(3), int64(1))
	f.Fuzz(func(t *testing.T, op uint8, a, b, c int64) {
		dims := []int{int(a), int(b), int(c)}
		exact := new(big.Int).SetInt64(1)
		for _, d := range dims {
			exact.Mul(exact, big.NewInt(int64(d)))
		}
		negative := a < 0 || b < 0 || c < 0
		fits := !negative && exact.IsInt64() && exact.Int64() <= math.MaxInt
		small := fits && exact.Int64() <= 1<<12
		one := tensor.Ones([]int{1})
		var out *tensor.Tensor
		var want *big.Int
		err := maybeTyped(func() {
			switch op % 8 {
			case 0: // a view of any size
				out, want = one.BroadcastTo(dims...), exact
			case 1: // reshape of a small tensor to the three lengths
				if k := slices.Index(dims, -1); k >= 0 && slices.Index(dims[k+1:], -1) < 0 {
					// One length to infer: a tensor of 2·(the others'
					// product) elements, when that is small.
					known := big.NewInt(1)
					others := 0
					for i, d := range dims {
						if i != k {
							known.Mul(known, big.NewInt(int64(d)))
							if d < 0 {
								others++
							}
						}
					}
					if others == 0 && known.Sign() > 0 && known.Cmp(big.NewInt(1<<11)) <= 0 {
						n := 2 * int(known.Int64())
						out, want = tensor.Ones([]int{n}).Reshape(dims...), big.NewInt(int64(n))
						return
					}
				}
				if !small && fits {
					return // would fail for the element count alone; covered by case 0
				}
				n := 1
				if small {
					n = int(exact.Int64())
				}
				out, want = tensor.Ones([]int{n}).Reshape(dims...), exact
			case 2: // broadcasting two views against each other
				x := one.BroadcastTo(dims[0], 1, dims[2])
				y := one.BroadcastTo(1, dims[1], 1)
				if !small && fits {
					// Allowed but too large to compute here: only the views.
					return
				}
				out, want = x.Add(y), exact
			case 3: // batched matrix product of broadcast batches
				x := tensor.Ones([]int{1, 1, 2, 2}).BroadcastTo(max(dims[0], 0), 1, 2, 2)
				y := tensor.Ones([]int{1, 2, 2}).BroadcastTo(max(dims[1], 0), 2, 2)
				p := new(big.Int).Mul(big.NewInt(int64(max(dims[0], 0))), big.NewInt(int64(max(dims[1], 0))))
				p.Mul(p, big.NewInt(4))
				if p.IsInt64() && p.Int64() > 1<<12 && p.Int64() <= math.MaxInt/8 {
					return
				}
				out, want = x.MatMul(y), p
			case 4: // allocation of the exact shape
				if !small && fits && exact.Int64() <= math.MaxInt/8 {
					return
				}
				out, want = tensor.Zeros(dims), exact
			case 5: // concatenation of views along axis 0
				x := one.BroadcastTo(max(dims[0], 0), 1)
				y := one.BroadcastTo(max(dims[1], 0), 1)
				p := new(big.Int).Add(big.NewInt(int64(max(dims[0], 0))), big.NewInt(int64(max(dims[1], 0))))
				if p.IsInt64() && p.Int64() > 1<<12 && p.Int64() <= math.MaxInt/8 {
					return
				}
				out, want = tensor.Concat([]*tensor.Tensor{x, y}, 0), p
			case 6: // Arange with lengths as bounds and step
				if c == 0 {
					return
				}
				n := math.Ceil((float64(a) - float64(b)) / float64(c))
				if n > 1<<12 && n < math.MaxInt/8 {
					return
				}
				out = tensor.Arange(float64(b), float64(a), float64(c))
				want = big.NewInt(int64(max(n, 0)))
			case 7: // OneHot with a huge class count
				if !(b <= 1<<12 || b > math.MaxInt/8) {
					return
				}
				out, want = tensor.OneHot(tensor.Zeros([]int{1}), int(b)), big.NewInt(max(b, 0))
			}
		})
		if err != nil {
			if fits && !negative && op%8 == 0 {
				t.Fatalf("BroadcastTo%v (%v elements, fits an int): %v", dims, exact, err)
			}
			return
		}
		if out == nil {
			return
		}
		if got := big.NewInt(int64(out.Size())); got.Cmp(want) != 0 {
			t.Fatalf("op %d on %v: %v elements, want %v (shape %v)", op%8, dims, got, want, out.Shape())
		}
	})
}

// maybeTyped runs fn and returns its *tensor.Error panic as an error; any
// other panic is re-raised, so that the fuzzer reports it.
func maybeTyped(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(error)
			var te *tensor.Error
			if !ok || !errors.As(e, &te) {
				panic(fmt.Sprintf("untyped panic: %v", r))
			}
			err = e
		}
	}()
	fn()
	return nil
}
