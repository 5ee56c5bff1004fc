package cpu

import (
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"testing"

	"github.com/tapegrad/tapegrad/device"
)

// ulps returns the distance in float32 units in the last place between got
// and the correctly rounded float32 of want.
func ulps(got float32, want float64) float64 {
	w := float32(want)
	if got == w || (math.IsNaN(float64(got)) && math.IsNaN(want)) {
		return 0
	}
	if math.IsInf(float64(w), 0) || math.IsInf(float64(got), 0) {
		return math.Inf(1)
	}
	d := math.Abs(float64(got) - float64(w))
	u := math.Abs(float64(math.Nextafter32(w, float32(math.Inf(1))) - w))
	if u == 0 {
		u = math.SmallestNonzeroFloat32
	}
	return d / u
}

func checkFn(t *testing.T, name string, fast func(float32) float32, ref func(float64) float64, lo, hi float64, special []float64) {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	worst, at := 0.0, 0.0
	check := func(x float32) {
		got := fast(x)
		want := ref(float64(x))
		if u := ulps(got, want); u > worst {
			worst, at = u, float64(x)
		}
	}
	for i := 0; i < 2_000_000; i++ {
		check(float32(lo + (hi-lo)*r.Float64()))
	}
	// Dense sweep near zero and over every exponent.
	for e := -40; e <= 40; e++ {
		for k := 0; k < 200; k++ {
			x := math.Ldexp(1+float64(k)/200, e)
			if x >= lo && x <= hi {
				check(float32(x))
			}
			if -x >= lo && -x <= hi {
				check(float32(-x))
			}
		}
	}
	for _, x := range special {
		check(float32(x))
	}
	if worst > 1 {
		t.Errorf("%s: %.2f ulp at %v: got %v, want %v", name, worst, at, fast(float32(at)), float32(ref(at)))
	}
	t.Logf("%s: max error %.3f ulp", name, worst)
}

func TestFastMath32(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	special := []float64{0, math.Copysign(0, -1), inf, -inf, nan, 1, -1, 88.7, 88.8, -103.9, -104, 1e-45, math.MaxFloat32}
	checkFn(t, "exp", expT[float32], math.Exp, -110, 90, special)
	checkFn(t, "log", logT[float32], math.Log, 0, 1e30, append(special, 1e-38, 1e-44, 0.999999, 1.000001))
	checkFn(t, "tanh", tanhT[float32], math.Tanh, -12, 12, append(special, 1e-4, 0.17, 0.18, 0.6249999, 0.625, 0.6250001, 9, 9.2))
	checkFn(t, "sigmoid", sigmoidT[float32], func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }, -110, 50, special)
}

// The slice loops agree with the element functions bit for bit.
func TestFastMathSlices(t *testing.T) {
	x := make([]float32, 0, 4096)
	for i := -2000; i < 2000; i++ {
		x = append(x, float32(i)/17)
	}
	x = append(x, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 1e-30, -1e-30, 0)
	d := make([]float32, len(x))
	for _, c := range []struct {
		name  string
		slice func(d, x []float32)
		elem  func(float32) float32
	}{
		{"exp", expSlice[float32], expT[float32]},
		{"tanh", tanhSlice[float32], tanhT[float32]},
		{"sigmoid", sigmoidSlice[float32], sigmoidT[float32]},
	} {
		c.slice(d, x)
		for i, v := range x {
			want := c.elem(v)
			if math.Float32bits(d[i]) != math.Float32bits(want) && !(d[i] != d[i] && want != want) {
				t.Fatalf("%s(%v): slice %v, element %v", c.name, v, d[i], want)
			}
		}
	}
}

// TestFastMathExhaustive checks the float32-lane exp and tanh and the GELU over every
// float32 argument (about 4·10⁹ each, two minutes each on two cores). It
// runs only with TAPEGRAD_EXHAUSTIVE=1:
//
//	TAPEGRAD_EXHAUSTIVE=1 go test ./device/cpu -run FastMathExhaustive -v -timeout 30m
func TestFastMathExhaustive(t *testing.T) {
	if os.Getenv("TAPEGRAD_EXHAUSTIVE") != "1" {
		t.Skip("set TAPEGRAD_EXHAUSTIVE=1 to check every float32 argument")
	}
	for _, c := range []struct {
		name string
		fast func(float32) float32
		ref  func(float64) float64
	}{
		{"exp", expT[float32], math.Exp},
		{"tanh", tanhT[float32], math.Tanh},
		{"gelu", geluElem, geluRef},
	} {
		t.Run(c.name, func(t *testing.T) { exhaustive(t, c.name, c.fast, c.ref) })
	}
}

func exhaustive(t *testing.T, name string, fast func(float32) float32, ref func(float64) float64) {
	type result struct {
		worst    float64
		at       float32
		misround int64
		total    int64
		bad      []float32
	}
	parts := runtime.GOMAXPROCS(0)
	res := make([]result, parts)
	var wg sync.WaitGroup
	for p := range parts {
		wg.Go(func() {
			r := &res[p]
			for b := uint64(p); b < 1<<32; b += uint64(parts) {
				x := math.Float32frombits(uint32(b))
				got := fast(x)
				if x != x {
					if math.Float32bits(got) != uint32(b) && len(r.bad) < 10 {
						r.bad = append(r.bad, x)
					}
					continue
				}
				u := ulps(got, ref(float64(x)))
				r.total++
				if u > 0.5 {
					r.misround++
				}
				if u > r.worst {
					r.worst, r.at = u, x
				}
				if u > 1 && len(r.bad) < 10 {
					r.bad = append(r.bad, x)
				}
			}
		})
	}
	wg.Wait()
	var all result
	for _, r := range res {
		if r.worst > all.worst {
			all.worst, all.at = r.worst, r.at
		}
		all.misround += r.misround
		all.total += r.total
		all.bad = append(all.bad, r.bad...)
	}
	if len(all.bad) > 0 {
		t.Errorf("%s: more than one ulp off, or a NaN not kept, at %v", name, all.bad)
	}
	t.Logf("%s: %d arguments, max error %.4f ulp at %v, %.3f%% not correctly rounded",
		name, all.total, all.worst, all.at, 100*float64(all.misround)/float64(all.total))
}

// geluElem is GELU of one float32 as geluSlice computes it.
func geluElem(x float32) float32 {
	var d [1]float32
	geluSlice(d[:], []float32{x})
	return d[0]
}

func geluRef(x float64) float64 { return 0.5 * x * math.Erfc(-x/math.Sqrt2) }

// geluGradRef returns Φ(x) + x·φ(x) and the magnitude Φ(x) + |x|·φ(x)
// that its error is measured against (the sum cancels near x = −0.75).
func geluGradRef(x float64) (d, mag float64) {
	phi := 0.5 * math.Erfc(-x/math.Sqrt2)
	pdf := math.Exp(-0.5*x*x) / math.Sqrt(2*math.Pi)
	return phi + x*pdf, phi + math.Abs(x)*pdf
}

// TestGELUFast32 checks the float32 GELU against the float64 formula
// within one ulp, and its derivative within two ulps of the magnitude
// Φ(x) + |x|·φ(x), with the IEEE specials.
func TestGELUFast32(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	special := []float64{0, math.Copysign(0, -1), inf, -inf, nan, 1, -1, -0.75, -5, -13.9, -14, -20, -20.5, -37.4, -37.5, 20.5, 1e-45, -1e-45, math.MaxFloat32, -math.MaxFloat32}
	checkFn(t, "gelu", geluElem, geluRef, -25, 25, special)
	for _, x := range []float64{-inf, nan} {
		if g := geluElem(float32(x)); g == g {
			t.Errorf("gelu(%v) = %v, want NaN (as PyTorch)", x, g)
		}
	}
	if g := geluElem(float32(inf)); !math.IsInf(float64(g), 1) {
		t.Errorf("gelu(+Inf) = %v, want +Inf", g)
	}
	if g := geluElem(-40); math.Float32bits(g) != 1<<31 {
		t.Errorf("gelu(-40) = %v, want -0", g)
	}
	r := rand.New(rand.NewPCG(3, 4))
	worst, at := 0.0, 0.0
	for i := range 2_000_000 {
		x := -25 + 50*r.Float64()
		if i%4 == 0 {
			x = -1 + r.Float64()/2 // around the root
		}
		x = float64(float32(x))
		got := geluGradT(float32(x), 1)
		want, mag := geluGradRef(x)
		u := math.Abs(float64(got)-want) / math.Abs(float64(math.Nextafter32(float32(mag), float32(inf))-float32(mag)))
		if mag == 0 {
			u = math.Abs(float64(got)-want) / math.SmallestNonzeroFloat32
		}
		if u > worst {
			worst, at = u, x
		}
	}
	if worst > 2 {
		t.Errorf("gelu': %.2f ulp (of the magnitude) at %v", worst, at)
	}
	t.Logf("gelu': max error %.3f ulp of the magnitude", worst)
	for _, c := range []struct{ x, g, want float64 }{{-inf, 1, nan}, {inf, 1, nan}, {nan, 1, nan}, {1, nan, nan}, {-40, 1, 0}, {0, 2, 1}} {
		got := geluGradT(float32(c.x), float32(c.g))
		if got != float32(c.want) && !(got != got && c.want != c.want) {
			t.Errorf("geluGrad(%v, %v) = %v, want %v", c.x, c.g, got, c.want)
		}
	}
}

// TestSIMDGELU checks that the AVX2 kernels give the Go loops' bits on
// every alignment and length, with and without non-temporal stores.
func TestSIMDGELU(t *testing.T) {
	if !useSIMD || !haveFMA {
		t.Skip("no AVX2/FMA")
	}
	r := rand.New(rand.NewPCG(5, 6))
	const n = 4099
	x, g := make([]float32, n+8), make([]float32, n+8)
	for i := range x {
		switch i % 7 {
		case 0:
			x[i] = float32(r.NormFloat64() * 30)
		case 1:
			x[i] = float32(-0.75 + r.Float64()*0.01)
		default:
			x[i] = float32(r.NormFloat64() * 3)
		}
		g[i] = float32(r.NormFloat64())
	}
	specials := []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1), -37.5, 37.5, -20.1, 1e-40, math.MaxFloat32}
	for i, v := range specials {
		x[3*i+1] = float32(v)
		g[5*i+2] = float32(v)
	}
	same := func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b) }
	d, want := make([]float32, n+8), make([]float32, n+8)
	for off := range 8 {
		for _, m := range []int{0, 1, 7, 8, 9, 31, 1000, n - 8} {
			for _, st := range []stores{cached, ntFenced} {
				xs, gs, ds := x[off:off+m], g[off:off+m], d[off:off+m]
				geluSlice(want[:m], xs)
				unaryKernel(device.GELU, ds, xs, st)
				for i := range m {
					if math.Float32bits(ds[i]) != math.Float32bits(want[i]) {
						t.Fatalf("gelu off %d len %d st %d: [%d] = gelu(%v): kernel %v, Go %v", off, m, st, i, xs[i], ds[i], want[i])
					}
				}
				for i := range m {
					want[i] = geluGradT(xs[i], gs[i])
				}
				binaryVV(device.GELUGrad, ds, xs, gs, st)
				for i := range m {
					if !same(ds[i], want[i]) {
						t.Fatalf("geluGrad off %d len %d st %d: [%d] = geluGrad(%v, %v): kernel %v, Go %v", off, m, st, i, xs[i], gs[i], ds[i], want[i])
					}
				}
			}
		}
	}
}
