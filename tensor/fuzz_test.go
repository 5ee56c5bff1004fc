package tensor_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/tensor"
)

// Fuzz targets. Each runs on its seed corpus (the f.Add seeds and
// testdata/fuzz/NAME) as part of go test; scripts/fuzz.sh runs them
// with fuzzing for a bounded time.

// bytesIn hands out the fuzz input a byte at a time (zeros after the end).
type bytesIn struct {
	b []byte
	i int
}

func (r *bytesIn) next() int {
	if r.i >= len(r.b) {
		r.i++
		return 0
	}
	r.i++
	return int(r.b[r.i-1])
}

func (r *bytesIn) u64() uint64 {
	var b [8]byte
	for i := range b {
		b[i] = byte(r.next())
	}
	return binary.LittleEndian.Uint64(b[:])
}

// pick returns an int in [lo, hi].
func (r *bytesIn) pick(lo, hi int) int { return lo + r.next()%(hi-lo+1) }

func (r *bytesIn) done() bool { return r.i >= len(r.b) }

// catch runs fn and returns the *tensor.Error it panics with; any other
// panic fails the test.
func catch(t *testing.T, fn func()) (err *tensor.Error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(*tensor.Error)
			if !ok {
				panic(fmt.Sprintf("panic with %T, not *tensor.Error: %v", r, r))
			}
			err = e
		}
	}()
	fn()
	return nil
}

func wantKind(t *testing.T, what string, err *tensor.Error, kind error) {
	t.Helper()
	switch {
	case kind == nil && err != nil:
		t.Fatalf("%s: unexpected error %v", what, err)
	case kind != nil && err == nil:
		t.Fatalf("%s: no error, want %v", what, kind)
	case kind != nil && !errors.Is(err, kind):
		t.Fatalf("%s: error %v, want kind %v", what, err, kind)
	}
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// sameValue compares float64s, NaN equal to NaN.
func sameValue(a, b float64) bool { return a == b || (a != a && b != b) }

// --- (a) tensor.Array -----------------------------------------------------

var arrayElems = []reflect.Type{
	reflect.TypeFor[float32](), reflect.TypeFor[float64](), reflect.TypeFor[int](),
	reflect.TypeFor[int8](), reflect.TypeFor[uint16](), reflect.TypeFor[int64](),
	reflect.TypeFor[uint64](), reflect.TypeFor[any](),
}

// FuzzArray builds nested slices and arrays of several element types from
// the input, possibly ragged, and checks tensor.Array against a reference:
// the right shape and values, or a *tensor.Error of the right kind.
func FuzzArray(f *testing.F) {
	f.Add([]byte{2, 0, 0, 2, 3, 0, 0})
	f.Add([]byte{3, 5, 1, 2, 2, 2, 0, 0, 0, 7, 1, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{1, 7, 0, 3})
	f.Add([]byte{2, 3, 2, 0, 0, 2, 0, 1, 3})
	// An int64 that float64 rounds to a float32 tie: 2^60 + 2^36 + 1.
	f.Add([]byte{1, 5, 0, 1, 0, 0x01, 0, 0, 0, 0x10, 0, 0, 0x10})
	// An empty slice of [3]float32: shape (0, 3).
	f.Add([]byte{2, 0, 0, 0x33, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &bytesIn{b: data}
		depth := in.next() % 5
		elem := arrayElems[in.next()%len(arrayElems)]
		var opts []tensor.Option
		switch in.next() % 3 {
		case 1:
			opts = append(opts, tensor.WithDType(tensor.Float32))
		case 2:
			opts = append(opts, tensor.WithDType(tensor.Float64))
		}
		// The Go type: each level a slice or, now and then, an array.
		lens := make([]int, depth)
		isArray := make([]bool, depth)
		types := make([]reflect.Type, depth+1)
		types[depth] = elem
		for d := depth - 1; d >= 0; d-- {
			c := in.next()
			lens[d] = c % 4
			isArray[d] = c&0x30 == 0x30
			if isArray[d] {
				types[d] = reflect.ArrayOf(lens[d], types[d+1])
			} else {
				types[d] = reflect.SliceOf(types[d+1])
			}
		}
		var leaves []reflect.Value
		ragged := false
		var build func(d int) reflect.Value
		build = func(d int) reflect.Value {
			if d == depth {
				v := reflect.New(elem).Elem()
				bits := in.u64()
				switch elem.Kind() {
				case reflect.Float32:
					v.SetFloat(float64(math.Float32frombits(uint32(bits))))
				case reflect.Float64:
					v.SetFloat(math.Float64frombits(bits))
				case reflect.Interface:
					v.Set(reflect.ValueOf(float64(bits % 10)))
				case reflect.Uint16, reflect.Uint64:
					v.SetUint(bits)
				default:
					v.SetInt(int64(bits)) // wraps for the narrow types
				}
				leaves = append(leaves, v)
				return v
			}
			if isArray[d] {
				v := reflect.New(types[d]).Elem()
				for i := 0; i < lens[d]; i++ {
					v.Index(i).Set(build(d + 1))
				}
				return v
			}
			n := lens[d]
			if c := in.next(); c%8 == 7 {
				n = (c >> 3) % 4 // a ragged length, now and then
			}
			v := reflect.MakeSlice(types[d], n, n)
			for i := 0; i < n; i++ {
				v.Index(i).Set(build(d + 1))
			}
			return v
		}
		val := build(0)
		if val.Kind() == reflect.Interface {
			val = val.Elem() // depth 0: Array gets the float64 inside
		}

		// Reference shape: array levels have their static length; slice
		// levels the length along the chain of first elements, 0 below an
		// empty level. Ragged: any slice of another length.
		shape := make([]int, depth)
		x, empty := val, false
		for d := 0; d < depth; d++ {
			switch {
			case isArray[d]:
				shape[d] = lens[d]
			case !empty:
				shape[d] = x.Len()
			}
			if !empty && x.Len() == 0 {
				empty = true
			}
			if !empty {
				x = x.Index(0)
			}
		}
		var check func(v reflect.Value, d int)
		check = func(v reflect.Value, d int) {
			if d == depth {
				return
			}
			if v.Len() != shape[d] {
				ragged = true
			}
			for i := 0; i < v.Len(); i++ {
				check(v.Index(i), d+1)
			}
		}
		check(val, 0)

		var out *tensor.Tensor
		err := catch(t, func() { out = tensor.Array(val.Interface(), opts...) })
		switch {
		case elem.Kind() == reflect.Interface && depth > 0:
			wantKind(t, "Array of interface elements", err, tensor.ErrDType)
			return
		case ragged:
			wantKind(t, "ragged Array", err, tensor.ErrShape)
			return
		}
		wantKind(t, "Array", err, nil)
		if !slices.Equal(out.Shape(), shape) {
			t.Fatalf("shape %v, want %v (type %v)", out.Shape(), shape, val.Type())
		}
		dt := tensor.Float32
		if elem.Kind() == reflect.Float64 || val.Kind() == reflect.Float64 {
			dt = tensor.Float64
		}
		for _, o := range opts {
			probe := tensor.Scalar(0, o)
			dt = probe.DType()
		}
		if out.DType() != dt {
			t.Fatalf("dtype %v, want %v", out.DType(), dt)
		}
		got := out.Float64s()
		if len(got) != len(leaves) {
			t.Fatalf("%d values, want %d", len(got), len(leaves))
		}
		for i, v := range leaves {
			if v.Kind() == reflect.Interface {
				v = v.Elem()
			}
			// The correctly rounded value of the Go element in the dtype.
			var want float64
			switch {
			case dt == tensor.Float32 && v.CanFloat():
				want = float64(float32(v.Float()))
			case dt == tensor.Float32 && v.CanInt():
				want = float64(float32(v.Int()))
			case dt == tensor.Float32:
				want = float64(float32(v.Uint()))
			case v.CanFloat():
				want = v.Float()
			case v.CanInt():
				want = float64(v.Int())
			default:
				want = float64(v.Uint())
			}
			if !sameValue(got[i], want) {
				t.Fatalf("element %d: got %v, want %v (from %v %v)", i, got[i], want, v.Type(), v)
			}
		}
	})
}

// --- (b) broadcasting -----------------------------------------------------

// refBroadcast is NumPy's rule, naively: align on the right; lengths must
// be equal or one of them 1.
func refBroadcast(a, b []int) ([]int, bool) {
	r := max(len(a), len(b))
	out := make([]int, r)
	for i := 0; i < r; i++ {
		da, db := 1, 1
		if j := len(a) - r + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - r + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db:
			out[i] = da
		case da == 1:
			out[i] = db
		case db == 1:
			out[i] = da
		default:
			return nil, false
		}
	}
	return out, true
}

// unravel returns the row-major multi-index of flat position p.
func unravel(p int, shape []int) []int {
	idx := make([]int, len(shape))
	for i := len(shape) - 1; i >= 0; i-- {
		if shape[i] > 0 {
			idx[i] = p % shape[i]
			p /= shape[i]
		}
	}
	return idx
}

// bcastSource returns the flat position in an operand of shape src of the
// element that broadcasting puts at out-index idx.
func bcastSource(idx, src []int) int {
	off := len(idx) - len(src)
	p := 0
	for i, d := range src {
		k := idx[off+i]
		if d == 1 {
			k = 0
		}
		p = p*d + k
	}
	return p
}

var dimChoices = []int{1, 1, 2, 3, 0, 2, 3, 1}

// FuzzBroadcast draws two shapes, applies Add, Sub or Mul and checks the
// result's shape and values and both gradients against naive loops, or
// the ErrShape panic exactly when the shapes are incompatible.
func FuzzBroadcast(f *testing.F) {
	f.Add([]byte{2, 1, 2, 3, 3, 0, 0})
	f.Add([]byte{3, 3, 0, 1, 2, 2, 1, 3, 1})
	f.Add([]byte{4, 2, 3, 2, 1, 3, 1, 3, 2})
	f.Add([]byte{0, 2, 4, 4, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &bytesIn{b: data}
		ra, rb := in.next()%5, in.next()%5
		dt := tensor.Float32
		if in.next()%2 == 1 {
			dt = tensor.Float64
		}
		op := in.next() % 3
		sa, sb := make([]int, ra), make([]int, rb)
		for i := range sa {
			sa[i] = dimChoices[in.next()%len(dimChoices)]
		}
		for i := range sb {
			c := in.next()
			sb[i] = dimChoices[c%len(dimChoices)]
			if j := len(sa) - len(sb) + i; c&0x80 != 0 && j >= 0 {
				sb[i] = sa[j] // make compatible shapes common
			}
		}
		av := make([]float64, numel(sa))
		bv := make([]float64, numel(sb))
		for i := range av {
			av[i] = float64(i + 1)
		}
		for i := range bv {
			bv[i] = -float64(i + 1)
		}
		a := tensor.FromSlice(av, sa, tensor.WithDType(dt))
		b := tensor.FromSlice(bv, sb, tensor.WithDType(dt))
		a.AttachGrad()
		b.AttachGrad()
		want, ok := refBroadcast(sa, sb)
		var out *tensor.Tensor
		err := catch(t, func() {
			autograd.Record(func() {
				switch op {
				case 0:
					out = a.Add(b)
				case 1:
					out = a.Sub(b)
				default:
					out = a.Mul(b)
				}
			})
		})
		what := fmt.Sprintf("op %d of %v and %v", op, sa, sb)
		if !ok {
			wantKind(t, what, err, tensor.ErrShape)
			return
		}
		wantKind(t, what, err, nil)
		if !slices.Equal(out.Shape(), want) {
			t.Fatalf("%s: shape %v, want %v", what, out.Shape(), want)
		}
		n := numel(want)
		w := make([]float64, n)
		for i := range w {
			w[i] = float64(i%5 + 1)
		}
		ga, gb := make([]float64, len(av)), make([]float64, len(bv))
		got := out.Float64s()
		for p := 0; p < n; p++ {
			idx := unravel(p, want)
			i, j := bcastSource(idx, sa), bcastSource(idx, sb)
			var v float64
			switch op {
			case 0:
				v = av[i] + bv[j]
				ga[i] += w[p]
				gb[j] += w[p]
			case 1:
				v = av[i] - bv[j]
				ga[i] += w[p]
				gb[j] -= w[p]
			default:
				v = av[i] * bv[j]
				ga[i] += w[p] * bv[j]
				gb[j] += w[p] * av[i]
			}
			if got[p] != v {
				t.Fatalf("%s: element %v = %v, want %v", what, idx, got[p], v)
			}
		}
		var loss *tensor.Tensor
		autograd.Record(func() { loss = out.Mul(tensor.FromSlice(w, want, tensor.WithDType(dt))).Sum() })
		loss.Backward()
		for name, c := range map[string]struct {
			got  []float64
			want []float64
		}{"a": {a.Grad().Float64s(), ga}, "b": {b.Grad().Float64s(), gb}} {
			for i := range c.want {
				if c.got[i] != c.want[i] {
					t.Fatalf("%s: gradient of %s[%d] = %v, want %v", what, name, i, c.got[i], c.want[i])
				}
			}
		}
	})
}

// --- (c) chains of views --------------------------------------------------

// ref is the reference model of a tensor derived from the input x: its
// shape and, for each element in row-major order, the flat index of the x
// element it shows.
type ref struct {
	shape []int
	src   []int
}

func (r ref) at(idx []int) int {
	p := 0
	for i, d := range r.shape {
		p = p*d + idx[i]
	}
	return r.src[p]
}

// gather builds a new reference of shape ns whose element at out-index idx
// is r's element at from(idx).
func (r ref) gather(ns []int, from func(idx []int) []int) ref {
	out := ref{shape: ns, src: make([]int, numel(ns))}
	for p := range out.src {
		out.src[p] = r.at(from(unravel(p, ns)))
	}
	return out
}

// normAxis returns axis counted from the front, and whether it is in
// range for rank r.
func normAxis(axis, r int) (int, bool) {
	if axis < -r || axis >= r {
		return 0, false
	}
	if axis < 0 {
		axis += r
	}
	return axis, true
}

const maxViewElems = 2048

// FuzzViews applies a sequence of Reshape, Transpose, Slice, Index,
// BroadcastTo, ExpandDims and Squeeze drawn from the input to a tensor
// and to the reference model, comparing values (or error kinds) after each
// step, then checks the gradient of sum(result·weights) with respect to the
// input: backward through the chain of views must route every weight to
// the input element it came from.
func FuzzViews(f *testing.F) {
	f.Add([]byte{3, 2, 3, 4, 0, 1, 1, 0, 2, 1, 0, 1, 5})
	f.Add([]byte{2, 4, 4, 1, 1, 2, 0, 3, 5, 4, 2, 1, 0, 0, 3, 0, 6, 1, 1})
	f.Add([]byte{4, 1, 2, 1, 3, 6, 0, 5, 9, 4, 1, 2, 3, 0, 2, 2, 5, 1})
	f.Add([]byte{0, 5, 0, 4, 2, 2, 3, 0, 1, 2, 0})
	f.Add([]byte{2, 0, 3, 0, 2, 1, 0, 6, 1, 4, 3, 2, 1, 1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &bytesIn{b: data}
		rank := in.next() % 5
		shape := make([]int, rank)
		for i := range shape {
			shape[i] = in.next() % 5
		}
		dt := tensor.Float32
		if in.next()%2 == 1 {
			dt = tensor.Float64
		}
		n := numel(shape)
		xv := make([]float64, n)
		r := ref{shape: shape, src: make([]int, n)}
		for i := range xv {
			xv[i] = float64(i + 1)
			r.src[i] = i
		}
		x := tensor.FromSlice(xv, shape, tensor.WithDType(dt))
		x.AttachGrad()
		cur := x
		var log []string
		autograd.Record(func() {
			for step := 0; step < 10 && !in.done(); step++ {
				next, nr, desc, kind := viewStep(in, cur, r)
				if desc == "" {
					continue
				}
				log = append(log, desc)
				var out *tensor.Tensor
				err := catch(t, func() { out = next() })
				wantKind(t, fmt.Sprint(log), err, kind)
				if err != nil {
					continue
				}
				cur, r = out, nr
				if !slices.Equal(cur.Shape(), r.shape) {
					t.Fatalf("%v: shape %v, want %v", log, cur.Shape(), r.shape)
				}
				got := cur.Float64s()
				for i, s := range r.src {
					if got[i] != xv[s] {
						t.Fatalf("%v: element %v = %v, want %v", log, unravel(i, r.shape), got[i], xv[s])
					}
				}
			}
		})
		w := make([]float64, len(r.src))
		gw := make([]float64, n)
		for i, s := range r.src {
			w[i] = float64(i%7 + 1)
			gw[s] += w[i]
		}
		var loss *tensor.Tensor
		autograd.Record(func() { loss = cur.Mul(tensor.FromSlice(w, r.shape, tensor.WithDType(dt))).Sum() })
		loss.Backward()
		g := x.Grad().Float64s()
		for i := range gw {
			if g[i] != gw[i] {
				t.Fatalf("%v: gradient of x%v = %v, want %v", log, unravel(i, shape), g[i], gw[i])
			}
		}
	})
}

// viewStep draws one operation: the call, the reference result, a
// description and the error kind the call must panic with (nil: none).
// An empty description skips the step.
func viewStep(in *bytesIn, t *tensor.Tensor, r ref) (call func() *tensor.Tensor, nr ref, desc string, kind error) {
	rank := len(r.shape)
	size := len(r.src)
	switch in.next() % 7 {
	case 0: // Reshape
		var ns []int
		switch mode := in.next() % 4; mode {
		case 0:
			ns = []int{-1}
		case 1, 2:
			k := in.pick(1, 4)
			rem := size
			for i := 0; i < k-1; i++ {
				var divs []int
				for d := 1; d <= max(rem, 1) && d <= 8; d++ {
					if rem%d == 0 {
						divs = append(divs, d)
					}
				}
				if rem == 0 {
					divs = append(divs, 0, 2, 3)
				}
				d := divs[in.next()%len(divs)]
				ns = append(ns, d)
				if d != 0 {
					rem /= d
				}
			}
			ns = append(ns, rem)
			if mode == 2 {
				ns[in.next()%len(ns)] = -1
			}
		default:
			k := in.next() % 4
			for i := 0; i < k; i++ {
				ns = append(ns, in.pick(-2, 5))
			}
		}
		desc = fmt.Sprintf("Reshape%v", ns)
		call = func() *tensor.Tensor { return t.Reshape(ns...) }
		// Reference: NumPy's rule with at most one -1.
		target := append([]int(nil), ns...)
		infer, known := -1, 1
		for i, d := range ns {
			switch {
			case d == -1 && infer < 0:
				infer = i
			case d < 0:
				return call, r, desc, tensor.ErrShape
			default:
				known *= d
			}
		}
		if infer >= 0 {
			if known == 0 || size%known != 0 {
				return call, r, desc, tensor.ErrShape
			}
			target[infer] = size / known
		} else if known != size {
			return call, r, desc, tensor.ErrShape
		}
		return call, ref{shape: target, src: r.src}, desc, nil

	case 1: // Transpose
		var axes []int
		switch in.next() % 4 {
		case 0: // reverse
		case 3: // invalid: a repeated axis, or too few
			if rank == 0 {
				axes = []int{0}
			} else {
				axes = make([]int, rank)
				if rank > 1 {
					axes[1] = 0
				} else {
					axes = append(axes, 0)
				}
			}
		default:
			axes = make([]int, rank)
			for i := range axes {
				axes[i] = i
			}
			for i := rank - 1; i > 0; i-- {
				j := in.next() % (i + 1)
				axes[i], axes[j] = axes[j], axes[i]
			}
			for i := range axes {
				if in.next()%3 == 0 {
					axes[i] -= rank // the same axis counted from the end
				}
			}
		}
		desc = fmt.Sprintf("Transpose%v", axes)
		call = func() *tensor.Tensor { return t.Transpose(axes...) }
		perm := make([]int, rank)
		if len(axes) == 0 {
			for i := range perm {
				perm[i] = rank - 1 - i
			}
		} else {
			if len(axes) != rank {
				return call, r, desc, tensor.ErrAxis
			}
			seen := make([]bool, rank)
			for i, a := range axes {
				a, ok := normAxis(a, rank)
				if !ok || seen[a] {
					return call, r, desc, tensor.ErrAxis
				}
				seen[a] = true
				perm[i] = a
			}
		}
		ns := make([]int, rank)
		for i, p := range perm {
			ns[i] = r.shape[p]
		}
		return call, r.gather(ns, func(idx []int) []int {
			src := make([]int, rank)
			for i, p := range perm {
				src[p] = idx[i]
			}
			return src
		}), desc, nil

	case 2: // Slice
		axis := in.pick(-rank-1, rank)
		n := 0
		if a, ok := normAxis(axis, rank); ok {
			n = r.shape[a]
		}
		start, end := in.pick(-n-2, n+2), in.pick(-n-2, n+2)
		desc = fmt.Sprintf("Slice(%d, %d, %d)", axis, start, end)
		call = func() *tensor.Tensor { return t.Slice(axis, start, end) }
		a, ok := normAxis(axis, rank)
		if !ok {
			return call, r, desc, tensor.ErrAxis
		}
		s, e := start, end
		if s < 0 {
			s += n
		}
		if e < 0 {
			e += n
		}
		if s < 0 || e > n || s > e {
			return call, r, desc, tensor.ErrIndex
		}
		ns := append([]int(nil), r.shape...)
		ns[a] = e - s
		return call, r.gather(ns, func(idx []int) []int {
			src := append([]int(nil), idx...)
			src[a] += s
			return src
		}), desc, nil

	case 3: // Index
		n := 0
		if rank > 0 {
			n = r.shape[0]
		}
		i := in.pick(-n-1, n)
		desc = fmt.Sprintf("Index(%d)", i)
		call = func() *tensor.Tensor { return t.Index(i) }
		if rank == 0 {
			return call, r, desc, tensor.ErrAxis
		}
		if i < -n || i >= n {
			return call, r, desc, tensor.ErrIndex
		}
		if i < 0 {
			i += n
		}
		return call, r.gather(r.shape[1:], func(idx []int) []int { return append([]int{i}, idx...) }), desc, nil

	case 4: // BroadcastTo
		var ns []int
		for k := in.next() % 3; k > 0; k-- {
			ns = append(ns, in.next()%4)
		}
		for _, d := range r.shape {
			c := in.next()
			switch {
			case c%8 == 7:
				ns = append(ns, d+1) // incompatible unless d is 0 or 1... or d+1 matches
			case d == 1:
				ns = append(ns, c%4)
			default:
				ns = append(ns, d)
			}
		}
		if in.next()%16 == 15 && len(ns) > 0 {
			ns = ns[1:] // too few axes, now and then
		}
		if numel(ns) > maxViewElems {
			return nil, r, "", nil
		}
		desc = fmt.Sprintf("BroadcastTo%v", ns)
		call = func() *tensor.Tensor { return t.BroadcastTo(ns...) }
		off := len(ns) - rank
		if off < 0 {
			return call, r, desc, tensor.ErrShape
		}
		for i, d := range r.shape {
			if d != 1 && d != ns[off+i] {
				return call, r, desc, tensor.ErrShape
			}
		}
		return call, r.gather(ns, func(idx []int) []int {
			src := make([]int, rank)
			for i, d := range r.shape {
				if d != 1 {
					src[i] = idx[off+i]
				}
			}
			return src
		}), desc, nil

	case 5: // ExpandDims
		axis := in.pick(-rank-2, rank+1)
		desc = fmt.Sprintf("ExpandDims(%d)", axis)
		call = func() *tensor.Tensor { return t.ExpandDims(axis) }
		a, ok := normAxis(axis, rank+1)
		if !ok {
			return call, r, desc, tensor.ErrAxis
		}
		ns := append(append(append([]int(nil), r.shape[:a]...), 1), r.shape[a:]...)
		return call, ref{shape: ns, src: r.src}, desc, nil

	default: // Squeeze
		var axes []int
		for k := in.next() % 3; k > 0; k-- {
			axes = append(axes, in.pick(-rank-1, rank))
		}
		desc = fmt.Sprintf("Squeeze%v", axes)
		call = func() *tensor.Tensor { return t.Squeeze(axes...) }
		drop := make([]bool, rank)
		if len(axes) == 0 {
			for i, d := range r.shape {
				drop[i] = d == 1
			}
		} else {
			for _, ax := range axes {
				a, ok := normAxis(ax, rank)
				if !ok {
					return call, r, desc, tensor.ErrAxis
				}
				if drop[a] {
					return call, r, desc, tensor.ErrAxis
				}
				drop[a] = true
			}
			for i, d := range r.shape {
				if drop[i] && d != 1 {
					return call, r, desc, tensor.ErrShape
				}
			}
		}
		var ns []int
		for i, d := range r.shape {
			if !drop[i] {
				ns = append(ns, d)
			}
		}
		return call, ref{shape: ns, src: r.src}, desc, nil
	}
}
