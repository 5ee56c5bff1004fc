package devicetest

import (
	"math"
	"reflect"

	"github.com/tapegrad/tapegrad/device"
)

// testCoverage fails when the Backend interface has a method no group
// checks, or an operation enum has a value without a reference.
func testCoverage(c *tc) {
	covered := map[string]bool{}
	for _, g := range groups {
		for _, m := range g.methods {
			covered[m] = true
		}
	}
	bt := reflect.TypeFor[device.Backend]()
	for i := 0; i < bt.NumMethod(); i++ {
		if m := bt.Method(i).Name; !covered[m] {
			c.t.Errorf("device.Backend method %s has no check in devicetest", m)
		}
	}
	for op := range device.UnaryOp(device.NumUnaryOps) {
		if _, ok := unaryRefs[op]; !ok {
			c.t.Errorf("UnaryOp %v (%d) has no reference in devicetest", op, op)
		}
	}
	for op := range device.ScalarOp(device.NumScalarOps) {
		if _, ok := scalarRefs[op]; !ok {
			c.t.Errorf("ScalarOp %v (%d) has no reference in devicetest", op, op)
		}
	}
	for op := range device.BinaryOp(device.NumBinaryOps) {
		if _, ok := binaryRefs[op]; !ok {
			c.t.Errorf("BinaryOp %v (%d) has no reference in devicetest", op, op)
		}
	}
	for op := range device.ReduceOp(device.NumReduceOps) {
		if _, ok := reduceRefs[op]; !ok {
			c.t.Errorf("ReduceOp %v (%d) has no reference in devicetest", op, op)
		}
	}
	// Entries for values outside the enums would be checks that never run
	// (the elementwise maps are built from the enums, so only reduceRefs
	// can have one).
	for op := range reduceRefs {
		if int(op) >= device.NumReduceOps {
			c.t.Errorf("devicetest has a reference for unknown ReduceOp %d", op)
		}
	}
}

func testDevice(c *tc) {
	d := c.be.Device()
	if d.String() == "" {
		c.t.Errorf("Device() = %#v has an empty name", d)
	}
	if err := c.be.Synchronize(); err != nil {
		c.t.Errorf("Synchronize on an idle backend: %v", err)
	}
}

func testMemory(c *tc) {
	c.run("Empty", func(c *tc) {
		b := c.alloc(0)
		c.be.Upload(b, []float32{})
		c.be.Upload(b, []float64{})
		if err := c.be.Download([]float64{}, b, device.Contiguous([]int{0})); err != nil {
			c.t.Errorf("Download of an empty buffer: %v", err)
		}
		if err := c.be.Download([]float32{}, b, device.Contiguous([]int{2, 0})); err != nil {
			c.t.Errorf("Download of an empty layout: %v", err)
		}
	})
	c.run("RoundTrip", func(c *tc) {
		for _, n := range []int{1, 7, 33, 1000} {
			src := c.uniform(n, -3, 3)
			src[0] = 0.1 // not a float32: Upload from []float64 rounds it
			b := c.alloc(n)
			// Upload from float64 converts to the dtype.
			c.be.Upload(b, append([]float64(nil), src...))
			d64 := make([]float64, n)
			if err := c.be.Download(d64, b, device.Contiguous([]int{n})); err != nil {
				c.t.Fatal(err)
			}
			c.exact("Upload []float64, Download []float64", d64, src)
			d32 := make([]float32, n)
			if err := c.be.Download(d32, b, device.Contiguous([]int{n})); err != nil {
				c.t.Fatal(err)
			}
			want32 := make([]float64, n)
			got32 := make([]float64, n)
			for i := range src {
				want32[i] = float64(float32(c.round(src[i])))
				got32[i] = float64(d32[i])
			}
			c.exact("Download []float32", got32, want32)
			// Upload from float32 and its reuse right after Upload returns.
			s32 := make([]float32, n)
			for i := range s32 {
				s32[i] = float32(src[n-1-i])
			}
			c.be.Upload(b, s32)
			want := make([]float64, n)
			for i := range s32 {
				want[i] = float64(s32[i])
				s32[i] = 12345
			}
			c.exact("Upload []float32 (then overwritten)", c.all(b), want)
		}
	})
	c.run("DownloadLayout", func(c *tc) {
		for _, kind := range viewKinds {
			for _, shape := range [][]int{{}, {3}, {2, 3}, {3, 1, 4}, {2, 0}} {
				o := c.operand(shape, kind, uni(-5, 5))
				c.exact("Download at "+desc(o.l), c.download(o.buf, o.l), gather(o.vals, o.l))
				d32 := make([]float32, o.l.Size())
				if err := c.be.Download(d32, o.buf, o.l); err != nil {
					c.t.Fatal(err)
				}
				g := make([]float64, len(d32))
				for i, v := range d32 {
					g[i] = float64(v)
				}
				want := gather(o.vals, o.l)
				for i := range want {
					want[i] = float64(float32(want[i]))
				}
				c.exact("Download []float32 at "+desc(o.l), g, want)
			}
		}
	})
	c.run("FreeWhileEnqueued", func(c *tc) {
		n := 500
		src := c.uniform(n, -1, 1)
		a, err := c.be.Alloc(c.dt, n)
		if err != nil {
			c.t.Fatal(err)
		}
		c.upload(a, src)
		out := c.output(n)
		l := device.Contiguous([]int{n})
		c.be.Unary(device.Neg, out, a, l)
		c.be.Free(a)
		// A new buffer may reuse a's memory; the Neg above must still read
		// a's old contents.
		b := c.alloc(n)
		c.upload(b, filled(n, 42))
		c.be.Fill(b, l, 7)
		want := make([]float64, n)
		for i, v := range src {
			want[i] = -v
		}
		c.exact("Neg of a freed buffer", c.result("Neg", out, n), want)
		if err := c.be.Synchronize(); err != nil {
			c.t.Errorf("Synchronize: %v", err)
		}
	})
}

func testCopy(c *tc) {
	other := device.Float64
	if c.dt == device.Float64 {
		other = device.Float32
	}
	for _, sdt := range []device.DType{c.dt, other} {
		c.run("from_"+sdt.String(), func(c *tc) {
			src := &tc{t: c.t, be: c.be, opt: c.opt, dt: sdt, rng: c.rng}
			shapes := append(c.shapes(), []int{2, 3, 1, 4})
			for _, shape := range shapes {
				for _, sk := range viewKinds {
					dk := viewKinds[c.rng.IntN(len(viewKinds)-1)] // no broadcast destination
					s := src.operand(shape, sk, uni(-100, 100))
					if len(s.vals) > 0 {
						s.vals[0] = 0.1
						src.upload(s.buf, s.vals)
						s.vals[0] = src.round(0.1)
					}
					dl, dn := c.view(shape, dk)
					dst := c.buffer(filled(dn, sentinel))
					c.be.Copy(dst, dl, s.buf, s.l)
					want := filled(dn, sentinel)
					each(shape, func(idx []int) { want[pos(dl, idx)] = s.at(idx) })
					c.exact("Copy from "+desc(s.l)+" to "+desc(dl), c.all(dst), want)
				}
			}
		})
	}
}

func testFill(c *tc) {
	for _, v := range []float64{1.5, 0.1, -0.0, math.NaN(), math.Inf(-1), 1e300} {
		for _, shape := range [][]int{{}, {0}, {6}, {3, 4}, {2, 1, 5}} {
			for _, kind := range viewKinds[:4] {
				l, n := c.view(shape, kind)
				b := c.buffer(filled(n, sentinel))
				c.be.Fill(b, l, v)
				want := filled(n, sentinel)
				each(shape, func(idx []int) { want[pos(l, idx)] = v })
				c.exact(fmtf("Fill(%v) at %v", v, l), c.all(b), want)
			}
		}
	}
}

func testArange(c *tc) {
	for _, a := range [][2]float64{{0, 1}, {-3, 0.5}, {10, -0.1}, {0.1, 0.2}, {1e6, 1}, {2, 0}} {
		for _, n := range []int{0, 1, 5, 40} {
			out := c.output(n)
			c.be.Arange(out, n, a[0], a[1])
			want, mag := make([]float64, n), make([]float64, n)
			for i := range want {
				want[i] = a[0] + float64(i)*a[1]
				mag[i] = math.Abs(a[0]) + math.Abs(float64(i)*a[1])
			}
			c.check(fmtf("Arange(%d, %v, %v)", n, a[0], a[1]), c.result("Arange", out, n), want, mag, c.tol.Elementwise)
		}
	}
}
