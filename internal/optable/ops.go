package optable

import "math"

// Ops is the table: append new rows at the end (see the package doc).
var Ops = []Op{
	// ---- unary: op(x) ----
	{Kind: Unary, Name: "Neg", Doc: "-x", CPU: "-x", CUDA: "-x", Method: "Neg", Smooth: true,
		Ref1: func(x float64) float64 { return -x }},
	{Kind: Unary, Name: "Abs", Doc: "|x|", CPU: "absT(x)", CUDA: "x < T(0) ? -x : (x == T(0) ? T(0) : x)", Method: "Abs", Smooth: true,
		Ref1: math.Abs, Test: Test{Grad: nonZero}},
	{Kind: Unary, Name: "Sign", Doc: "-1, 0 or 1 (NaN stays NaN)", CPU: "signT(x)", CUDA: "x > T(0) ? T(1) : (x < T(0) ? T(-1) : x)", Method: "Sign",
		Ref1: sign, Test: Test{In: Mix(Uniform(-4, 4), Pick(0), 5)}},
	{Kind: Unary, Name: "Exp", Doc: "e^x", CPU: "@expSlice", CUDA: "tg_exp(x)", Method: "Exp", Smooth: true,
		Ref1: math.Exp, Test: Test{In: Uniform(-10, 10), Grad: Uniform(-1, 1), Trans: true, CPU32ULPs: 1, SimULPs: 2}},
	{Kind: Unary, Name: "Log", Doc: "natural logarithm", CPU: "logT(x)", CUDA: "tg_log(x)", Method: "Log", Smooth: true,
		Ref1: math.Log, Test: Test{In: Uniform(0.01, 100), Grad: positive, Trans: true, CPU32ULPs: 1, SimULPs: 2}},
	{Kind: Unary, Name: "Sqrt", Doc: "√x", CPU: "T(math.Sqrt(float64(x)))", CUDA: "tg_sqrt(x)", Method: "Sqrt", Smooth: true,
		Ref1: math.Sqrt, Test: Test{In: Uniform(0, 100), Grad: positive}},
	{Kind: Unary, Name: "Square", Doc: "x²", CPU: "x * x", CUDA: "x * x", Method: "Square", Smooth: true,
		Ref1: func(x float64) float64 { return x * x }},
	{Kind: Unary, Name: "Recip", Doc: "1/x", CPU: "1 / x", CUDA: "T(1) / x", Method: "Recip", Smooth: true,
		Ref1: func(x float64) float64 { return 1 / x }, Test: Test{In: Signed(0.1, 4), Grad: nonZero}},
	{Kind: Unary, Name: "Tanh", Doc: "hyperbolic tangent", CPU: "@tanhSlice", CUDA: "tg_tanh(x)", Method: "Tanh", Smooth: true,
		Ref1: math.Tanh, Test: Test{In: Uniform(-5, 5), Grad: Uniform(-1, 1), Trans: true, CPU32ULPs: 1, SimULPs: 4}},
	{Kind: Unary, Name: "Sigmoid", Doc: "1/(1+e^-x)", CPU: "@sigmoidSlice", CUDA: "tg_sigmoid(x)", Method: "Sigmoid", Smooth: true,
		Ref1: func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }, Test: Test{In: Uniform(-10, 10), Grad: Uniform(-1, 1), Trans: true, CPU32ULPs: 1, SimULPs: 4}},
	{Kind: Unary, Name: "ReLU", Doc: "max(x, 0); NaN stays NaN", CPU: "reluT(x)", CUDA: "x > T(0) ? x : (x != x ? x : T(0))", Method: "ReLU", Smooth: true,
		Ref1: relu, Test: Test{Grad: nonZero}},
	{Kind: Unary, Name: "Sin", Doc: "sine", CPU: "T(math.Sin(float64(x)))", CUDA: "tg_sin(x)", Method: "Sin", Smooth: true,
		Ref1: math.Sin, Test: Test{In: Uniform(-10, 10), Grad: Uniform(-1, 1), Trans: true, SimULPs: 2, LooseF64: true}},
	{Kind: Unary, Name: "Cos", Doc: "cosine", CPU: "T(math.Cos(float64(x)))", CUDA: "tg_cos(x)", Method: "Cos", Smooth: true,
		Ref1: math.Cos, Test: Test{In: Uniform(-10, 10), Grad: Uniform(-1, 1), Trans: true, SimULPs: 2, LooseF64: true}},

	// ---- scalar: op(x, s) ----
	{Kind: Scalar, Name: "AddS", Doc: "x + s", CPU: "x + s", CUDA: "x + s", Method: "AddScalar", Smooth: true,
		Ref2: func(x, s float64) float64 { return x + s }, Test: Test{Scalars: addScalars, GradScalars: []float64{0.7}, Sum: true}},
	{Kind: Scalar, Name: "SubS", Doc: "x - s", CPU: "x - s", CUDA: "x - s", Method: "SubScalar", Smooth: true,
		Ref2: func(x, s float64) float64 { return x - s }, Test: Test{Scalars: addScalars, GradScalars: []float64{-1.3}, Sum: true}},
	{Kind: Scalar, Name: "RSubS", Doc: "s - x", CPU: "s - x", CUDA: "s - x", Method: "RSubScalar", Smooth: true,
		Ref2: func(x, s float64) float64 { return s - x }, Test: Test{Scalars: addScalars, GradScalars: []float64{2.5}, Sum: true}},
	{Kind: Scalar, Name: "MulS", Doc: "x * s", CPU: "x * s", CUDA: "x * s", Method: "MulScalar", Smooth: true,
		Ref2: func(x, s float64) float64 { return x * s }, Test: Test{Scalars: []float64{0, -1, 2.5, 1e-3, 0.1}, GradScalars: []float64{-1.5, 0}}},
	{Kind: Scalar, Name: "DivS", Doc: "x / s", CPU: "x / s", CUDA: "x / s", Method: "DivScalar", Smooth: true,
		Ref2: func(x, s float64) float64 { return x / s }, Test: Test{Scalars: []float64{1, -3, 0.1, 0}, GradScalars: []float64{2.5}}},
	{Kind: Scalar, Name: "RDivS", Doc: "s / x", CPU: "s / x", CUDA: "s / x", Method: "RDivScalar", Smooth: true,
		Ref2: func(x, s float64) float64 { return s / x }, Test: Test{In: Signed(0.1, 4), Grad: nonZero, Scalars: []float64{1, -2, 0, 0.1}, GradScalars: []float64{1.5}}},
	{Kind: Scalar, Name: "PowS", Doc: "x ^ s", CPU: "powT(x, s)", CUDA: "tg_pow(x, s)", Method: "PowScalar", Smooth: true,
		Ref2: math.Pow, Test: Test{In: Mix(Uniform(0.1, 3), Uniform(-3, -0.1), 4), Grad: positive,
			Scalars: []float64{2, 0.5, 3, -1, 0, 1, -2.5, 1.7}, GradScalars: []float64{0, 1, 2, 3, -2, 0.5, 2.5, -1.5},
			Trans: true, SimULPs: 2, LooseF64: true}},
	{Kind: Scalar, Name: "RPowS", Doc: "s ^ x", CPU: "powT(s, x)", CUDA: "tg_pow(s, x)", Method: "RPowScalar", Smooth: true,
		Ref2: func(x, s float64) float64 { return math.Pow(s, x) }, Test: Test{In: Uniform(-3, 3), Grad: Uniform(-2, 2),
			Scalars: []float64{2, 0.5, 10, math.E, 0, 1, -2}, GradScalars: []float64{2, 0.5, math.E},
			Trans: true, SimULPs: 2, LooseF64: true}},
	{Kind: Scalar, Name: "MaxS", Doc: "max(x, s), NaN propagates", CPU: "maxT(x, s)", CUDA: "tg_max(x, s)", Method: "MaximumScalar", Smooth: true,
		Ref2: Maximum, Test: Test{Grad: nonZero, Scalars: []float64{0, 1, -1, math.NaN(), math.Inf(-1)}, GradScalars: []float64{0.05}}},
	{Kind: Scalar, Name: "MinS", Doc: "min(x, s), NaN propagates", CPU: "minT(x, s)", CUDA: "tg_min(x, s)", Method: "MinimumScalar", Smooth: true,
		Ref2: Minimum, Test: Test{Grad: nonZero, Scalars: []float64{0, 1, -1, math.NaN(), math.Inf(1)}, GradScalars: []float64{-0.05}}},
	{Kind: Scalar, Name: "EqS", Doc: "x == s", CPU: "b2f[T](x == s)", CUDA: "x == s ? T(1) : T(0)", Method: "EqScalar",
		Ref2: func(x, s float64) float64 { return b2f(x == s) }, Test: Test{In: cmpIn, Scalars: cmpS}},
	{Kind: Scalar, Name: "NeS", Doc: "x != s", CPU: "b2f[T](x != s)", CUDA: "x != s ? T(1) : T(0)", Method: "NeScalar",
		Ref2: func(x, s float64) float64 { return b2f(x != s) }, Test: Test{In: cmpIn, Scalars: cmpS}},
	{Kind: Scalar, Name: "LtS", Doc: "x < s", CPU: "b2f[T](x < s)", CUDA: "x < s ? T(1) : T(0)", Method: "LtScalar",
		Ref2: func(x, s float64) float64 { return b2f(x < s) }, Test: Test{In: cmpIn, Scalars: cmpS}},
	{Kind: Scalar, Name: "LeS", Doc: "x <= s", CPU: "b2f[T](x <= s)", CUDA: "x <= s ? T(1) : T(0)", Method: "LeScalar",
		Ref2: func(x, s float64) float64 { return b2f(x <= s) }, Test: Test{In: cmpIn, Scalars: cmpS}},
	{Kind: Scalar, Name: "GtS", Doc: "x > s", CPU: "b2f[T](x > s)", CUDA: "x > s ? T(1) : T(0)", Method: "GtScalar",
		Ref2: func(x, s float64) float64 { return b2f(x > s) }, Test: Test{In: cmpIn, Scalars: cmpS}},
	{Kind: Scalar, Name: "GeS", Doc: "x >= s", CPU: "b2f[T](x >= s)", CUDA: "x >= s ? T(1) : T(0)", Method: "GeScalar",
		Ref2: func(x, s float64) float64 { return b2f(x >= s) }, Test: Test{In: cmpIn, Scalars: cmpS}},

	// ---- binary: op(a, b) ----
	{Kind: Binary, Name: "Add", Doc: "a + b", CPU: "a + b", CUDA: "a + b", Method: "Add", Smooth: true,
		Ref2: func(a, b float64) float64 { return a + b }, Test: Test{Sum: true}},
	{Kind: Binary, Name: "Sub", Doc: "a - b", CPU: "a - b", CUDA: "a - b", Method: "Sub", Smooth: true,
		Ref2: func(a, b float64) float64 { return a - b }, Test: Test{Sum: true}},
	{Kind: Binary, Name: "Mul", Doc: "a * b", CPU: "a * b", CUDA: "a * b", Method: "Mul", Smooth: true,
		Ref2: func(a, b float64) float64 { return a * b }},
	{Kind: Binary, Name: "Div", Doc: "a / b", CPU: "a / b", CUDA: "a / b", Method: "Div", Smooth: true,
		Ref2: func(a, b float64) float64 { return a / b }, Test: Test{In2: Signed(0.25, 4), Grad2: positive}},
	{Kind: Binary, Name: "Pow", Doc: "a ^ b", CPU: "powT(a, b)", CUDA: "tg_pow(a, b)", Method: "Pow", Smooth: true,
		Ref2: math.Pow, Test: Test{In: Mix(Uniform(0.1, 3), Uniform(-3, -0.1), 4), In2: Mix(Uniform(-3, 3), Pick(-2, -1, 0, 1, 2, 3), 2),
			Grad: positive, Grad2: Uniform(-1, 1), Trans: true, SimULPs: 2, LooseF64: true}},
	{Kind: Binary, Name: "Maximum", Doc: "max(a, b), NaN propagates", CPU: "maxT(a, b)", CUDA: "tg_max(a, b)", Method: "Maximum", Smooth: true,
		Ref2: Maximum, Test: Test{In: Mix(Uniform(-4, 4), Pick(0, 1), 4), In2: Mix(Uniform(-4, 4), Pick(0, 1), 4), Grad: Uniform(-1, 1), Grad2: Uniform(-1, 1)}},
	{Kind: Binary, Name: "Minimum", Doc: "min(a, b), NaN propagates", CPU: "minT(a, b)", CUDA: "tg_min(a, b)", Method: "Minimum", Smooth: true,
		Ref2: Minimum, Test: Test{In: Mix(Uniform(-4, 4), Pick(0, 1), 4), In2: Mix(Uniform(-4, 4), Pick(0, 1), 4), Grad: Uniform(-1, 1), Grad2: Uniform(-1, 1)}},
	{Kind: Binary, Name: "Eq", Doc: "a == b", CPU: "b2f[T](a == b)", CUDA: "a == b ? T(1) : T(0)", Method: "Eq",
		Ref2: func(a, b float64) float64 { return b2f(a == b) }, Test: Test{In: cmpIn, In2: cmpIn}},
	{Kind: Binary, Name: "Ne", Doc: "a != b", CPU: "b2f[T](a != b)", CUDA: "a != b ? T(1) : T(0)", Method: "Ne",
		Ref2: func(a, b float64) float64 { return b2f(a != b) }, Test: Test{In: cmpIn, In2: cmpIn}},
	{Kind: Binary, Name: "Lt", Doc: "a < b", CPU: "b2f[T](a < b)", CUDA: "a < b ? T(1) : T(0)", Method: "Lt",
		Ref2: func(a, b float64) float64 { return b2f(a < b) }, Test: Test{In: cmpIn, In2: cmpIn}},
	{Kind: Binary, Name: "Le", Doc: "a <= b", CPU: "b2f[T](a <= b)", CUDA: "a <= b ? T(1) : T(0)", Method: "Le",
		Ref2: func(a, b float64) float64 { return b2f(a <= b) }, Test: Test{In: cmpIn, In2: cmpIn}},
	{Kind: Binary, Name: "Gt", Doc: "a > b", CPU: "b2f[T](a > b)", CUDA: "a > b ? T(1) : T(0)", Method: "Gt",
		Ref2: func(a, b float64) float64 { return b2f(a > b) }, Test: Test{In: cmpIn, In2: cmpIn}},
	{Kind: Binary, Name: "Ge", Doc: "a >= b", CPU: "b2f[T](a >= b)", CUDA: "a >= b ? T(1) : T(0)", Method: "Ge",
		Ref2: func(a, b float64) float64 { return b2f(a >= b) }, Test: Test{In: cmpIn, In2: cmpIn}},
	{Kind: Binary, Name: "ReLUGrad", Doc: "b where input a > 0, else 0", CPU: "reluGradT(a, b)", CUDA: "a > T(0) ? b : T(0)", Via: "ReLU", Smooth: true,
		Ref2: func(a, b float64) float64 {
			if a > 0 {
				return b
			}
			return 0
		}, Test: Test{In: Mix(Uniform(-4, 4), Pick(0), 4)}},
	{Kind: Binary, Name: "TanhGrad", Doc: "b * (1 - a²), a = tanh output", CPU: "b * (1 - T(a*a))", CUDA: "b * (T(1) - a * a)", Via: "Tanh", Smooth: true,
		Ref2: func(a, b float64) float64 { return b * (1 - a*a) }, Test: Test{In: Uniform(-0.95, 0.95), NoSpecials: true,
			Mag: func(a, b float64) float64 { return math.Abs(b) * (1 + a*a) }}},
	{Kind: Binary, Name: "SigmoidGrad", Doc: "b * a * (1 - a), a = sigmoid output", CPU: "b * (a * (1 - a))", CUDA: "b * (a * (T(1) - a))", Via: "Sigmoid", Smooth: true,
		Ref2: func(a, b float64) float64 { return b * a * (1 - a) }, Test: Test{In: Uniform(0.01, 0.99), NoSpecials: true,
			Mag: func(a, b float64) float64 { return math.Abs(b) * a * (1 + a) }}},

	// ---- appended rows (see the package doc: append, never insert) ----
	{Kind: Unary, Name: "Softplus", Doc: "log(1 + e^x), as max(x, 0) + log1p(e^-|x|)", CPU: "softplusT(x)", CUDA: "tg_softplus(x)", Method: "Softplus", Smooth: true,
		Ref1: func(x float64) float64 { return math.Max(x, 0) + math.Log1p(math.Exp(-math.Abs(x))) },
		Test: Test{In: Uniform(-20, 20), Trans: true, CPU32ULPs: 1, SimULPs: 4}},
	{Kind: Unary, Name: "Log1p", Doc: "log(1 + x), accurate for small x", CPU: "T(math.Log1p(float64(x)))", CUDA: "tg_log1p(x)", Method: "Log1p", Smooth: true,
		Ref1: math.Log1p, Test: Test{In: Uniform(-0.99, 10), Grad: Uniform(-0.5, 2), Trans: true, SimULPs: 2}},
	{Kind: Unary, Name: "Expm1", Doc: "e^x - 1, accurate for small x", CPU: "T(math.Expm1(float64(x)))", CUDA: "tg_expm1(x)", Method: "Expm1", Smooth: true,
		Ref1: math.Expm1, Test: Test{In: Uniform(-10, 10), Grad: Uniform(-1, 1), Trans: true, SimULPs: 2}},
	{Kind: Unary, Name: "Rsqrt", Doc: "1/√x", CPU: "T(1 / math.Sqrt(float64(x)))", CUDA: "tg_rsqrt(x)", Method: "Rsqrt", Smooth: true,
		Ref1: func(x float64) float64 { return 1 / math.Sqrt(x) }, Test: Test{In: Uniform(0.01, 100), Grad: positive, Trans: true, SimULPs: 1}},
	{Kind: Unary, Name: "Tan", Doc: "tangent", CPU: "T(math.Tan(float64(x)))", CUDA: "tg_tan(x)", Method: "Tan", Smooth: true,
		Ref1: math.Tan, Test: Test{In: Uniform(-1.5, 1.5), Grad: Uniform(-1, 1), Trans: true, SimULPs: 2, LooseF64: true}},
	{Kind: Unary, Name: "Sinh", Doc: "hyperbolic sine", CPU: "T(math.Sinh(float64(x)))", CUDA: "tg_sinh(x)", Method: "Sinh", Smooth: true,
		Ref1: math.Sinh, Test: Test{In: Uniform(-10, 10), Grad: Uniform(-1, 1), Trans: true, SimULPs: 2, LooseF64: true}},
	{Kind: Unary, Name: "Cosh", Doc: "hyperbolic cosine", CPU: "T(math.Cosh(float64(x)))", CUDA: "tg_cosh(x)", Method: "Cosh", Smooth: true,
		Ref1: math.Cosh, Test: Test{In: Uniform(-10, 10), Grad: Uniform(-1, 1), Trans: true, SimULPs: 2, LooseF64: true}},
	{Kind: Unary, Name: "Arcsin", Doc: "inverse sine; NaN outside [-1, 1]", CPU: "T(math.Asin(float64(x)))", CUDA: "tg_asin(x)", Method: "Arcsin", Smooth: true,
		Ref1: math.Asin, Test: Test{In: Uniform(-1, 1), Grad: Uniform(-0.9, 0.9), Trans: true, SimULPs: 2, LooseF64: true}},
	{Kind: Unary, Name: "Arccos", Doc: "inverse cosine; NaN outside [-1, 1]", CPU: "T(math.Acos(float64(x)))", CUDA: "tg_acos(x)", Method: "Arccos", Smooth: true,
		Ref1: math.Acos, Test: Test{In: Uniform(-1, 1), Grad: Uniform(-0.9, 0.9), Trans: true, SimULPs: 2, LooseF64: true}},
	{Kind: Unary, Name: "Arctan", Doc: "inverse tangent", CPU: "T(math.Atan(float64(x)))", CUDA: "tg_atan(x)", Method: "Arctan", Smooth: true,
		Ref1: math.Atan, Test: Test{In: Uniform(-10, 10), Grad: Uniform(-2, 2), Trans: true, SimULPs: 2, LooseF64: true}},
	{Kind: Unary, Name: "Arcsinh", Doc: "inverse hyperbolic sine", CPU: "T(math.Asinh(float64(x)))", CUDA: "tg_asinh(x)", Method: "Arcsinh", Smooth: true,
		Ref1: math.Asinh, Test: Test{In: Uniform(-10, 10), Grad: Uniform(-2, 2), Trans: true, SimULPs: 2, LooseF64: true}},
	{Kind: Unary, Name: "Arccosh", Doc: "inverse hyperbolic cosine; NaN below 1", CPU: "T(math.Acosh(float64(x)))", CUDA: "tg_acosh(x)", Method: "Arccosh", Smooth: true,
		Ref1: math.Acosh, Test: Test{In: Uniform(1, 10), Grad: Uniform(1.2, 3), Trans: true, SimULPs: 2, LooseF64: true}},
	{Kind: Unary, Name: "Arctanh", Doc: "inverse hyperbolic tangent; ±Inf at ±1, NaN outside", CPU: "T(math.Atanh(float64(x)))", CUDA: "tg_atanh(x)", Method: "Arctanh", Smooth: true,
		Ref1: math.Atanh, Test: Test{In: Uniform(-1, 1), Grad: Uniform(-0.9, 0.9), Trans: true, SimULPs: 2, LooseF64: true}},
	{Kind: Unary, Name: "Erf", Doc: "the error function", CPU: "T(math.Erf(float64(x)))", CUDA: "tg_erf(x)", Method: "Erf", Smooth: true,
		Ref1: math.Erf, Test: Test{In: Uniform(-4, 4), Grad: Uniform(-2, 2), Trans: true, SimULPs: 2, LooseF64: true}},
	// GELU, GELUTanh and SiLU in float32 on CUDA compute in float (as
	// PyTorch does), the CPU in float64: for negative x their results are
	// ill-conditioned (relative error ~|x|²·ε for erfc, ~|u|·ε for e^-u), so
	// the simulator may differ from the CPU by tens of ulps there.
	{Kind: Unary, Name: "GELU", Doc: "x·Φ(x) = x/2·erfc(-x/√2) (exact form; NaN at -Inf, as PyTorch)", CPU: "@geluSlice", CUDA: "tg_gelu(x)", Method: "GELU", Smooth: true,
		Ref1: func(x float64) float64 { return 0.5 * x * math.Erfc(-x/math.Sqrt2) }, Test: Test{Grad: Uniform(-3, 3), Trans: true, SimULPs: 64, LooseF64: true}},
	{Kind: Unary, Name: "GELUTanh", Doc: "x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³))) = x/(1 + e^-u), u = 2√(2/π)·(x + 0.044715·x³) (tanh form)", CPU: "geluTanhT(x)", CUDA: "tg_gelu_tanh(x)", Method: "GELUTanh", Smooth: true,
		Ref1: func(x float64) float64 {
			u := 1.5957691216057308 * (x + float64(0.044715*x*x*x))
			return x / (1 + math.Exp(-u))
		},
		Test: Test{Grad: Uniform(-3, 3), Trans: true, SimULPs: 64, LooseF64: true}},
	{Kind: Unary, Name: "SiLU", Doc: "x·sigmoid(x) = x/(1 + e^-x) (NaN at -Inf, as PyTorch)", CPU: "siluT(x)", CUDA: "tg_silu(x)", Method: "SiLU", Smooth: true,
		Ref1: func(x float64) float64 { return x / (1 + math.Exp(-x)) }, Test: Test{In: Uniform(-20, 20), Grad: Uniform(-3, 3), Trans: true, SimULPs: 16}},
	// GELU's backward in one pass (a = GELU's input). In float32 the CPU
	// computes in float64 (fastmath.go), CUDA in float; near the root of
	// Φ(a) + a·φ(a) (a ≈ −0.75) the result cancels, so errors are measured
	// against |b|·(Φ(a) + |a|·φ(a)).
	{Kind: Binary, Name: "GELUGrad", Doc: "b·(Φ(a) + a·φ(a)): GELU's derivative at its input a, times b", CPU: "geluGradT(a, b)", CUDA: "tg_gelu_grad(a, b)", Via: "GELU", Smooth: true,
		Ref2: func(a, b float64) float64 {
			return b * (0.5*math.Erfc(-a/math.Sqrt2) + a*math.Exp(-0.5*a*a)/math.Sqrt(2*math.Pi))
		},
		Test: Test{In: Uniform(-8, 8), Trans: true, SimULPs: 64, LooseF64: true,
			Mag: func(a, b float64) float64 {
				return math.Abs(b) * (0.5*math.Erfc(-a/math.Sqrt2) + math.Abs(a)*math.Exp(-0.5*a*a)/math.Sqrt(2*math.Pi))
			}}},
}

// Domains shared by several rows.
var (
	nonZero    = Signed(0.2, 1)
	positive   = Uniform(0.5, 2)
	cmpIn      = Mix(Pick(-1, 0, 0.5, 1, 2), Uniform(-2, 2), 3)
	cmpS       = []float64{0, 1, 0.5, -1.5, math.NaN(), math.Inf(1)}
	addScalars = []float64{0, 1.5, -2.25, 0.1}
)

func sign(x float64) float64 {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return x // ±0 or NaN
}

func relu(x float64) float64 {
	if x > 0 || math.IsNaN(x) {
		return x
	}
	return 0
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Maximum and Minimum are NumPy's maximum and minimum: NaN from either
// side propagates (math.Max and math.Min order signed zeros as these do).
func Maximum(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	return math.Max(a, b)
}

func Minimum(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	return math.Min(a, b)
}
