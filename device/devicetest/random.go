package devicetest

import (
	"math"

	"github.com/tapegrad/tapegrad/device"
)

// philox is Philox4x32-10 as device.RandomSpec describes it, written here
// from the spec (Salmon et al., SC 2011): key (seed low word, seed high
// word), counter (c low word, c high word, 0, 0).
func philox(seed, c uint64) [4]uint32 {
	x := [4]uint32{uint32(c), uint32(c >> 32), 0, 0}
	k := [2]uint32{uint32(seed), uint32(seed >> 32)}
	for range 10 {
		p0 := uint64(0xD2511F53) * uint64(x[0])
		p1 := uint64(0xCD9E8D57) * uint64(x[2])
		x = [4]uint32{uint32(p1>>32) ^ x[1] ^ k[0], uint32(p1), uint32(p0>>32) ^ x[3] ^ k[1], uint32(p0)}
		k[0] += 0x9E3779B9
		k[1] += 0xBB67AE85
	}
	return x
}

// randomRef returns element i of the stream of device.RandomSpec; for the
// half types, the float32 element rounded once (device.WithHalf), a
// uniform value that rounds up to b lowered to the largest half value
// below b.
func randomRef(dt device.DType, dist device.Dist, seed, counter uint64, i int, a, b float64) float64 {
	if dt.IsHalf() {
		v := roundTo(dt, randomRef(device.Float32, dist, seed, counter, i, a, b))
		if dist == device.Uniform && v >= b && b > a {
			h := device.HalfFromFloat64(dt, v)
			for float64(device.HalfToFloat32(dt, h)) >= b {
				switch {
				case h&0x7fff == 0:
					h = 0x8001
				case h&0x8000 == 0:
					h--
				default:
					h++
				}
			}
			v = float64(device.HalfToFloat32(dt, h))
		}
		return v
	}
	if dt == device.Float32 {
		w := philox(seed, counter+uint64(i/4))
		if dist == device.Uniform {
			u := float32(w[i%4]>>8) * (1.0 / (1 << 24))
			lo, hi := float32(a), float32(b)
			span := hi - lo
			v := lo + float32(span*u)
			if v >= hi && hi > lo {
				v = math.Nextafter32(hi, lo)
			}
			return float64(v)
		}
		p := (i % 4) / 2
		u1 := (float64(w[2*p]) + 1) / (1 << 32)
		u2 := float64(w[2*p+1]) / (1 << 32)
		return float64(float32(a + float64(b*boxMuller(u1, u2, i%2 == 1))))
	}
	w := philox(seed, counter+uint64(i/2))
	if dist == device.Uniform {
		j := 2 * (i % 2)
		bits := uint64(w[j])<<32 | uint64(w[j+1])
		u := float64(bits>>11) / (1 << 53)
		v := a + float64((b-a)*u)
		if v >= b && b > a {
			v = math.Nextafter(b, a)
		}
		return v
	}
	u1 := (float64((uint64(w[0])<<32|uint64(w[1]))>>11) + 1) / (1 << 53)
	u2 := float64((uint64(w[2])<<32|uint64(w[3]))>>11) / (1 << 53)
	return a + float64(b*boxMuller(u1, u2, i%2 == 1))
}

func boxMuller(u1, u2 float64, odd bool) float64 {
	r := math.Sqrt(-2 * math.Log(u1))
	if odd {
		return r * math.Sin(2*math.Pi*u2)
	}
	return r * math.Cos(2*math.Pi*u2)
}

func testRandom(c *tc) {
	get := func(dist device.Dist, n int, seed, counter uint64, a, b float64) []float64 {
		out := c.output(n)
		c.be.Random(out, n, dist, seed, counter, a, b)
		return c.result("Random", out, n)
	}
	type call struct {
		n             int
		seed, counter uint64
		a, b          float64
	}
	calls := []call{
		{0, 1, 0, 0, 1}, {1, 1, 0, 0, 1}, {7, 42, 3, -2, 3}, {64, 0xdeadbeefcafef00d, 1 << 40, 0, 1},
		{37, 5, 1<<32 - 3, -1, 1}, // counters crossing into the high word
		{100, 9, 0, 1, 1 + 1e-6},  // a span so narrow that values round up to b
		{20, 3, 7, 2, 2},
	}
	c.run("Uniform", func(c *tc) {
		for _, k := range calls {
			got := get(device.Uniform, k.n, k.seed, k.counter, k.a, k.b)
			want := make([]float64, k.n)
			for i := range want {
				want[i] = randomRef(c.dt, device.Uniform, k.seed, k.counter, i, k.a, k.b)
			}
			what := fmtf("Uniform n=%d seed=%#x counter=%#x [%v, %v)", k.n, k.seed, k.counter, k.a, k.b)
			c.exact(what+" (bitwise, device.RandomSpec)", got, want)
			lo, hi := c.round(k.a), c.round(k.b)
			for i, v := range got {
				if !(v >= lo && v < hi) && !(lo == hi && v == lo) {
					c.t.Errorf("%s: element %d = %v outside [a, b)", what, i, v)
					break
				}
			}
		}
	})
	c.run("Normal", func(c *tc) {
		for _, k := range calls {
			got := get(device.Normal, k.n, k.seed, k.counter, k.a, k.b)
			want, mag := make([]float64, k.n), make([]float64, k.n)
			for i := range want {
				want[i] = randomRef(c.dt, device.Normal, k.seed, k.counter, i, k.a, k.b)
				mag[i] = math.Abs(k.a) + math.Abs(k.b)*(1+math.Abs(want[i]-k.a)/math.Max(math.Abs(k.b), 1e-300))
			}
			c.check(fmtf("Normal n=%d seed=%#x counter=%#x mean %v std %v (device.RandomSpec)", k.n, k.seed, k.counter, k.a, k.b),
				got, want, mag, c.tol.Transcendental)
		}
	})
	c.run("Streams", func(c *tc) {
		for _, dist := range []device.Dist{device.Uniform, device.Normal} {
			n := 24
			x := get(dist, n, 11, 5, 0, 1)
			c.exact("same seed and counter", get(dist, n, 11, 5, 0, 1), x)
			for _, other := range [][]float64{get(dist, n, 11, 6, 0, 1), get(dist, n, 12, 5, 0, 1), get(dist, n, 11<<32, 5, 0, 1)} {
				same := 0
				for i := range x {
					if other[i] == x[i] {
						same++
					}
				}
				if same > 2 {
					c.t.Errorf("dist %d: a different seed or counter repeats %d of %d values", dist, same, n)
				}
			}
			// A call consumes RandomBlocks blocks: filling 2m elements
			// equals filling m, then m more from the next counter.
			m := 12
			whole := get(dist, 2*m, 77, 1000, -1, 2)
			first := get(dist, m, 77, 1000, -1, 2)
			second := get(dist, m, 77, 1000+device.RandomBlocks(c.dt, m), -1, 2)
			c.exact("chunked stream", append(first, second...), whole)
			// A prefix of a longer call.
			c.exact("prefix of a longer stream", get(dist, 5, 77, 1000, -1, 2), whole[:5])
		}
	})
	c.run("Moments", func(c *tc) {
		const n = 4000
		u := get(device.Uniform, n, 2024, 0, -1, 3)
		mean, _ := moments(u)
		if math.Abs(mean-1) > 5*(4/math.Sqrt(12))/math.Sqrt(n) {
			c.t.Errorf("Uniform[-1, 3): mean %v, want about 1", mean)
		}
		z := get(device.Normal, n, 2024, 0, 0.5, 2)
		mean, std := moments(z)
		if math.Abs(mean-0.5) > 5*2/math.Sqrt(n) || math.Abs(std-2) > 0.15 {
			c.t.Errorf("Normal(0.5, 2): mean %v, std %v", mean, std)
		}
	})
}

func moments(x []float64) (mean, std float64) {
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	for _, v := range x {
		std += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(std / float64(len(x)))
}
