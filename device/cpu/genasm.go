//go:build ignore

// genasm writes kernels_amd64.s and kernels_amd64.go: AVX2 versions of the
// memory-bound elementwise loops of kernels_gen.go, of AddScaled, of the
// float32/float64 conversions, of the Sum/Norm2 reductions (along runs,
// and column by column over leading axes) and of the float32 exp (in
// float32 lanes), tanh and sigmoid (in float64 lanes, with FMA) loops of
// fastmath.go, and the tables that map
// operations to them (simd_amd64.go dispatches).
//
// Every elementwise kernel has the same shape: a loop over unrolled 32-byte
// vectors with ordinary stores; with nt set (the stores type of simd.go), a
// scalar head up to a 32-byte aligned destination, then a loop with
// non-temporal stores (VMOVNTPS/PD) and, for nt = 1, an SFENCE (for nt = 2
// the caller fences once after many calls); the remainder is done by the
// vector loop one vector at a time and a scalar tail. The scalar head and tail run the same instruction
// sequence as the vectors, in its scalar (SS/SD) form.
//
// The sequences reproduce what the Go compiler emits for the loops of
// kernels_gen.go on amd64 instruction by instruction, so that results are
// the same bits: x86 gives the same results for a packed instruction and its
// scalar form, NaN payloads included. In particular Go's min(x, y) is
// MINSS(MINSS(x, y), x) | MINSS(x, y) and max(x, y) is -min(-x, -y)
// (cmd/compile/internal/ssa/_gen/AMD64.rules), which propagates NaN and
// orders -0 below +0; VMAXPS alone does neither. Where both operands of an
// addition or multiplication are NaNs the result is the first one's, so even
// the operand order of these commutative operations follows the compiler's
// (go1.26: the loop-invariant operand, and a value loaded from memory in the
// same statement, come second). simd_test.go checks every kernel against the
// Go loops bit for bit.
//
// Run with: go generate ./device/cpu
package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
)

// An op is an elementwise operation as a sequence of instructions in Go
// assembler syntax ("OP src2, src1, dst" computes dst = src1 OP src2).
// Placeholders: {A} and {B} the operands (read-only), {T0} and {T1}
// temporaries, the result in {T0}; {P} the arithmetic suffix (PS, PD in a
// vector, SS, SD in the scalar tail), {L} the suffix of instructions that
// only exist packed (logic, blends: PS, PD; in the tail they act on X
// registers); {SIGN} a register of -0s, {ZERO} of +0s, {ONE} of 1s, {S1} and
// {S2} the kernel's scalar parameters; {SQ} is ", {A}" in the scalar form
// (VSQRTSS takes a second source).
type op struct {
	name  string // Go name stem
	temps int
	code  []string
}

var ops = map[string]op{
	"add": {"add", 1, []string{"VADD{P} {B}, {A}, {T0}"}},
	"sub": {"sub", 1, []string{"VSUB{P} {B}, {A}, {T0}"}},
	"mul": {"mul", 1, []string{"VMUL{P} {B}, {A}, {T0}"}},
	"div": {"div", 1, []string{"VDIV{P} {B}, {A}, {T0}"}},
	// min(a, b) = MIN(MIN(a, b), a) | MIN(a, b), with MIN(x, y) = x < y ? x : y.
	"min": {"min", 2, []string{
		"VMIN{P} {B}, {A}, {T0}",
		"VMIN{P} {A}, {T0}, {T1}",
		"VOR{L} {T1}, {T0}, {T0}",
	}},
	// max(a, b) = -min(-a, -b).
	"max": {"max", 2, []string{
		"VXOR{L} {SIGN}, {A}, {T0}",
		"VXOR{L} {SIGN}, {B}, {T1}",
		"VMIN{P} {T1}, {T0}, {T1}",
		"VMIN{P} {T0}, {T1}, {T0}",
		"VOR{L} {T1}, {T0}, {T0}",
		"VXOR{L} {SIGN}, {T0}, {T0}",
	}},
	// relu(x) = max(x, 0) = -min(-x, -0).
	"relu": {"relu", 2, []string{
		"VXOR{L} {SIGN}, {A}, {T0}",
		"VMIN{P} {SIGN}, {T0}, {T1}",
		"VMIN{P} {T0}, {T1}, {T0}",
		"VOR{L} {T1}, {T0}, {T0}",
		"VXOR{L} {SIGN}, {T0}, {T0}",
	}},
	"neg": {"neg", 1, []string{"VXOR{L} {SIGN}, {A}, {T0}"}},
	// absT: NaN as it is, else the sign cleared (|-0| = +0).
	"abs": {"abs", 2, []string{
		"VANDN{L} {A}, {SIGN}, {T0}",
		"VCMP{P} $3, {A}, {A}, {T1}", // unordered: A is NaN
		"VBLENDV{L} {T1}, {A}, {T0}, {T0}",
	}},
	"square": {"square", 1, []string{"VMUL{P} {A}, {A}, {T0}"}},
	"recip":  {"recip", 1, []string{"VDIV{P} {A}, {ONE}, {T0}"}},
	// float32(math.Sqrt(float64(x))) is the correctly rounded float32 root.
	"sqrt": {"sqrt", 1, []string{"VSQRT{P} {A}{SQ}, {T0}"}},
	// Comparisons: 1 where true, +0 where false (VCMP predicates: EQ_OQ,
	// NEQ_UQ, LT_OS, LE_OS, GT_OS, GE_OS; only NEQ is true for NaN).
	"eq": cmpOp("eq", 0x00),
	"ne": cmpOp("ne", 0x04),
	"lt": cmpOp("lt", 0x01),
	"le": cmpOp("le", 0x02),
	"gt": cmpOp("gt", 0x0e),
	"ge": cmpOp("ge", 0x0d),
	// reluGradT(x, g): g where x > 0, else +0.
	"reluGrad": {"reluGrad", 1, []string{
		"VCMP{P} $0x0e, {ZERO}, {A}, {T0}",
		"VAND{L} {B}, {T0}, {T0}",
	}},
	// b * (1 - a*a), computed as (1 - a*a) * b
	"tanhGrad": {"tanhGrad", 1, []string{
		"VMUL{P} {A}, {A}, {T0}",
		"VSUB{P} {T0}, {ONE}, {T0}",
		"VMUL{P} {B}, {T0}, {T0}",
	}},
	// b * (a * (1 - a)), computed as ((1 - a) * a) * b
	"sigmoidGrad": {"sigmoidGrad", 1, []string{
		"VSUB{P} {A}, {ONE}, {T0}",
		"VMUL{P} {A}, {T0}, {T0}",
		"VMUL{P} {B}, {T0}, {T0}",
	}},
	// AddScaled: alpha*a + beta*b (S1 = alpha, S2 = beta) computed as
	// a*alpha + b*beta; a + beta*b (S1 = beta) as b*beta + a.
	"axpby": {"axpby", 2, []string{
		"VMUL{P} {S1}, {A}, {T0}",
		"VMUL{P} {S2}, {B}, {T1}",
		"VADD{P} {T1}, {T0}, {T0}",
	}},
	"xpby": {"xpby", 1, []string{
		"VMUL{P} {S1}, {B}, {T0}",
		"VADD{P} {A}, {T0}, {T0}",
	}},
}

func cmpOp(name string, pred int) op {
	return op{name, 1, []string{
		fmt.Sprintf("VCMP{P} $0x%02x, {B}, {A}, {T0}", pred),
		"VAND{L} {ONE}, {T0}, {T0}",
	}}
}

// Operand patterns: V one vector operand, VV two, VS a vector and a
// scalar, SV a scalar and a vector, VVp two vectors and scalar parameters.
type pattern struct {
	name    string
	vectors []string // the pointer arguments read, in order, bound to A, B
	bind    [2]string
	params  []string // scalar parameters, bound to S1, S2
}

type dtype struct {
	bits       int
	size       int
	p, s       string // packed and scalar suffixes
	goType     string
	bcast, mov string
	movu, movn string
	signBits   string
	oneBits    string
}

var dtypes = []dtype{
	{32, 4, "PS", "SS", "float32", "VBROADCASTSS", "VMOVSS", "VMOVUPS", "VMOVNTPS", "$0x80000000", "$0x3f800000"},
	{64, 8, "PD", "SD", "float64", "VBROADCASTSD", "VMOVSD", "VMOVUPD", "VMOVNTPD", "$0x8000000000000000", "$0x3ff0000000000000"},
}

// kernel is one generated function.
type kernel struct {
	fn      string // Go name
	op      op
	dt      dtype
	a, b    string // what A and B are: "x", "a", "b" (pointer args) or "s", "ZERO"
	ptrs    []string
	params  []string // scalar parameters of type T
	comment string
}

type arg struct {
	name string
	size int
	typ  string
}

// frame lays out ABI0 arguments: each at an offset aligned to its size.
func frame(args []arg) (map[string]int, int) {
	offs := map[string]int{}
	off := 0
	for _, a := range args {
		off = (off + a.size - 1) / a.size * a.size
		offs[a.name] = off
		off += a.size
	}
	return offs, off
}

type gen struct {
	s, g bytes.Buffer
}

func (g *gen) asm(format string, args ...any) { fmt.Fprintf(&g.s, format, args...) }

func main() {
	var g gen
	g.asm("// Code generated by genasm.go; DO NOT EDIT.\n\n#include \"textflag.h\"\n\n")
	for _, dt := range dtypes {
		g.asm("DATA sign%d<>+0(SB)/%d, %s\nGLOBL sign%d<>(SB), RODATA|NOPTR, $%d\n", dt.bits, dt.size, dt.signBits, dt.bits, dt.size)
		g.asm("DATA one%d<>+0(SB)/%d, %s\nGLOBL one%d<>(SB), RODATA|NOPTR, $%d\n", dt.bits, dt.size, dt.oneBits, dt.bits, dt.size)
	}
	// Masks for the partial last group of a reduction: 4 lanes of -1, then 4 of 0.
	g.asm("DATA mask32<>+0(SB)/8, $-1\nDATA mask32<>+8(SB)/8, $-1\nDATA mask32<>+16(SB)/8, $0\nDATA mask32<>+24(SB)/8, $0\nGLOBL mask32<>(SB), RODATA|NOPTR, $32\n")
	g.asm("DATA mask64<>+0(SB)/8, $-1\nDATA mask64<>+8(SB)/8, $-1\nDATA mask64<>+16(SB)/8, $-1\nDATA mask64<>+24(SB)/8, $-1\n")
	g.asm("DATA mask64<>+32(SB)/8, $0\nDATA mask64<>+40(SB)/8, $0\nDATA mask64<>+48(SB)/8, $0\nDATA mask64<>+56(SB)/8, $0\nGLOBL mask64<>(SB), RODATA|NOPTR, $64\n\n")

	var decls []string
	tables := map[string]map[string]string{} // table name -> op constant -> fn

	addTable := func(table, key, fn string) {
		if tables[table] == nil {
			tables[table] = map[string]string{}
		}
		tables[table][key] = fn
	}

	unary := []struct{ op, konst string }{
		{"neg", "Neg"}, {"abs", "Abs"}, {"square", "Square"}, {"relu", "ReLU"}, {"recip", "Recip"}, {"sqrt", "Sqrt"},
	}
	binary := []struct{ op, konst string }{
		{"add", "Add"}, {"sub", "Sub"}, {"mul", "Mul"}, {"div", "Div"}, {"max", "Maximum"}, {"min", "Minimum"},
		{"eq", "Eq"}, {"ne", "Ne"}, {"lt", "Lt"}, {"le", "Le"}, {"gt", "Gt"}, {"ge", "Ge"},
		{"reluGrad", "ReLUGrad"}, {"tanhGrad", "TanhGrad"}, {"sigmoidGrad", "SigmoidGrad"},
	}
	// Scalar ops: the binary kernel and whether x is the second operand (s op x).
	scalar := []struct {
		konst, op string
		rev       bool
	}{
		{"AddS", "add", false}, {"SubS", "sub", false}, {"RSubS", "sub", true}, {"MulS", "mul", false},
		{"DivS", "div", false}, {"RDivS", "div", true}, {"MaxS", "max", false}, {"MinS", "min", false},
		{"EqS", "eq", false}, {"NeS", "ne", false}, {"LtS", "lt", false}, {"LeS", "le", false},
		{"GtS", "gt", false}, {"GeS", "ge", false},
	}

	for _, dt := range dtypes {
		sfx := fmt.Sprint(dt.bits)
		for _, u := range unary {
			k := kernel{fn: u.op + sfx, op: ops[u.op], dt: dt, a: "x", ptrs: []string{"d", "x"}}
			decls = append(decls, g.elementwise(k))
			addTable("unary"+sfx, u.konst, k.fn)
		}
		for _, b := range binary {
			vv := kernel{fn: b.op + "VV" + sfx, op: ops[b.op], dt: dt, a: "a", b: "b", ptrs: []string{"d", "a", "b"}}
			vs := kernel{fn: b.op + "VS" + sfx, op: ops[b.op], dt: dt, a: "x", b: "s", ptrs: []string{"d", "x"}, params: []string{"s"}}
			sv := kernel{fn: b.op + "SV" + sfx, op: ops[b.op], dt: dt, a: "s", b: "x", ptrs: []string{"d", "x"}, params: []string{"s"}}
			ks := []kernel{vv, vs, sv}
			if b.op == "add" || b.op == "mul" {
				// Go computes s + x[i] as x[i] + s (and s * x[i] as x[i] * s).
				sv.fn = vs.fn
				ks = ks[:2]
			}
			for _, k := range ks {
				decls = append(decls, g.elementwise(k))
			}
			addTable("binaryVV"+sfx, b.konst, vv.fn)
			addTable("binaryVS"+sfx, b.konst, vs.fn)
			addTable("binarySV"+sfx, b.konst, sv.fn)
		}
		for _, s := range scalar {
			if s.rev {
				addTable("scalar"+sfx, s.konst, s.op+"SV"+sfx)
			} else {
				addTable("scalar"+sfx, s.konst, s.op+"VS"+sfx)
			}
		}
		decls = append(decls, g.elementwise(kernel{fn: "axpby" + sfx, op: ops["axpby"], dt: dt, a: "a", b: "b", ptrs: []string{"d", "a", "b"}, params: []string{"alpha", "beta"}}))
		decls = append(decls, g.elementwise(kernel{fn: "xpby" + sfx, op: ops["xpby"], dt: dt, a: "a", b: "b", ptrs: []string{"d", "a", "b"}, params: []string{"beta"}}))
		decls = append(decls, g.reduction(dt, false), g.reduction(dt, true))
		decls = append(decls, g.colsum(dt, false), g.colsum(dt, true))
	}
	decls = append(decls, g.convert(dtypes[0], dtypes[1]), g.convert(dtypes[1], dtypes[0]))
	for _, dt := range dtypes {
		for mode := range 3 {
			decls = append(decls, g.adam(dt, mode))
		}
	}
	decls = append(decls, g.sqDev32(), g.normAffine32(), g.normGradSums32(), g.normGradRow32())
	g.fastmathConsts()
	// exp32x8: three groups of five registers; tanh32x8: two of seven.
	decls = append(decls, g.lanes32("exp32x8", expfGroup, 5, 4, 3))
	decls = append(decls, g.lanes32("tanh32x8", tanhfGroup, 7, 2, 2))
	decls = append(decls, g.lanes32("sigmoid32x8", sigmoidGroup, 16, 0, 1))
	decls = append(decls, g.lanes32("gelu32x8", geluGroup(false), 16, 0, 1))
	decls = append(decls, g.lanes32n("geluGrad32x8", geluGroup(true), 16, 0, 1, 2))
	g.asm("// func ntFence()\nTEXT ·ntFence(SB), NOSPLIT, $0-0\n\tSFENCE\n\tRET\n")
	decls = append(decls, "func ntFence()")

	// The Go side: declarations and tables.
	w := &g.g
	fmt.Fprintf(w, "// Code generated by genasm.go; DO NOT EDIT.\n\n//go:build amd64\n\npackage cpu\n\nimport (\n\t\"unsafe\"\n\n\t\"github.com/tapegrad/tapegrad/device\"\n)\n\n")
	for _, d := range decls {
		fmt.Fprintf(w, "//go:noescape\n%s\n\n", d)
	}
	fmt.Fprintf(w, "type (\n")
	fmt.Fprintf(w, "\tkernV32 = func(d, x unsafe.Pointer, n int, nt uint8)\n\tkernV64 = kernV32\n")
	fmt.Fprintf(w, "\tkernVV32 = func(d, a, b unsafe.Pointer, n int, nt uint8)\n\tkernVV64 = kernVV32\n")
	fmt.Fprintf(w, "\tkernS32 = func(d, x unsafe.Pointer, s float32, n int, nt uint8)\n")
	fmt.Fprintf(w, "\tkernS64 = func(d, x unsafe.Pointer, s float64, n int, nt uint8)\n)\n\n")
	names := make([]string, 0, len(tables))
	for t := range tables {
		names = append(names, t)
	}
	sort.Strings(names)
	for _, t := range names {
		sfx := t[len(t)-2:]
		var typ, count string
		switch {
		case strings.HasPrefix(t, "unary"):
			typ, count = "kernV"+sfx, "device.NumUnaryOps"
		case strings.HasPrefix(t, "scalar"):
			typ, count = "kernS"+sfx, "device.NumScalarOps"
		case strings.HasPrefix(t, "binaryVV"):
			typ, count = "kernVV"+sfx, "device.NumBinaryOps"
		default:
			typ, count = "kernS"+sfx, "device.NumBinaryOps"
		}
		fmt.Fprintf(w, "var %sTab = [%s]%s{\n", t, count, typ)
		for _, k := range sortedKeys(tables[t]) {
			fmt.Fprintf(w, "\tdevice.%s: %s,\n", k, tables[t][k])
		}
		fmt.Fprintf(w, "}\n\n")
	}
	src, err := format.Source(w.Bytes())
	if err != nil {
		os.Stdout.Write(w.Bytes())
		panic(err)
	}
	if err := os.WriteFile("kernels_amd64.go", src, 0o644); err != nil {
		panic(err)
	}
	if err := os.WriteFile("kernels_amd64.s", g.s.Bytes(), 0o644); err != nil {
		panic(err)
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// regs hands out vector registers: constants from Y15 down, the rest from Y0 up.
type regs struct{ lo, hi int }

func (r *regs) top() int  { r.hi--; return r.hi + 1 }
func (r *regs) next() int { r.lo++; return r.lo - 1 }

// elementwise writes one elementwise kernel and returns its Go declaration.
func (g *gen) elementwise(k kernel) string {
	dt := k.dt
	var args []arg
	for _, p := range k.ptrs {
		args = append(args, arg{p, 8, "unsafe.Pointer"})
	}
	for _, p := range k.params {
		args = append(args, arg{p, dt.size, dt.goType})
	}
	args = append(args, arg{"n", 8, "int"}, arg{"nt", 1, "uint8"})
	offs, size := frame(args)

	var decl []string
	for _, a := range args {
		decl = append(decl, a.name+" "+a.typ)
	}

	g.asm("// func %s(%s)\n", k.fn, strings.Join(decl, ", "))
	g.asm("TEXT ·%s(SB), NOSPLIT, $0-%d\n", k.fn, size)
	ptrReg := map[string]string{"d": "DI", "x": "SI", "a": "SI", "b": "DX"}
	for _, p := range k.ptrs {
		g.asm("\tMOVQ %s+%d(FP), %s\n", p, offs[p], ptrReg[p])
	}
	g.asm("\tMOVQ n+%d(FP), CX\n", offs["n"])

	code := strings.Join(k.op.code, "\n")
	if k.a == "s" || k.b == "s" {
		code = strings.ReplaceAll(code, "{"+map[bool]string{true: "A", false: "B"}[k.a == "s"]+"}", "{S1}")
	}
	// Constants and parameters.
	r := regs{0, 15}
	konst := map[string]int{}
	need := func(name string) bool { return strings.Contains(code, "{"+name+"}") }
	if need("SIGN") {
		konst["SIGN"] = r.top()
		g.asm("\tVBROADCAST%s sign%d<>(SB), Y%d\n", dt.s, dt.bits, konst["SIGN"])
	}
	if need("ONE") {
		konst["ONE"] = r.top()
		g.asm("\tVBROADCAST%s one%d<>(SB), Y%d\n", dt.s, dt.bits, konst["ONE"])
	}
	if need("ZERO") {
		konst["ZERO"] = r.top()
		g.asm("\tVXORPS Y%d, Y%d, Y%d\n", konst["ZERO"], konst["ZERO"], konst["ZERO"])
	}
	for i, p := range k.params {
		name := fmt.Sprintf("S%d", i+1)
		konst[name] = r.top()
		g.asm("\tVBROADCAST%s %s+%d(FP), Y%d\n", dt.s, p, offs[p], konst[name])
	}
	var loads []string // the pointer args loaded per element, bound to A then B
	for _, p := range []string{k.a, k.b} {
		if p != "" && p != "s" {
			loads = append(loads, p)
		}
	}
	perSlot := len(loads) + k.op.temps
	unroll := min(4, (r.hi+1)/perSlot)
	type slot struct {
		in   []int
		temp []int
	}
	slots := make([]slot, unroll)
	for i := range slots {
		for range loads {
			slots[i].in = append(slots[i].in, r.next())
		}
		for range k.op.temps {
			slots[i].temp = append(slots[i].temp, r.next())
		}
	}
	W := 32 / dt.size

	// body emits u slots (0: the scalar form of slot 0) and the stores.
	body := func(u int, store string) {
		scalarForm := u == 0
		if scalarForm {
			u = 1
		}
		reg := func(i int) string {
			if scalarForm {
				return fmt.Sprintf("X%d", i)
			}
			return fmt.Sprintf("Y%d", i)
		}
		for s := 0; s < u; s++ {
			for j, p := range loads {
				if scalarForm {
					g.asm("\t%s (%s), %s\n", dt.mov, ptrReg[p], reg(slots[s].in[j]))
				} else {
					g.asm("\t%s %d(%s), %s\n", dt.movu, 32*s, ptrReg[p], reg(slots[s].in[j]))
				}
			}
		}
		for s := 0; s < u; s++ {
			sub := map[string]string{"P": dt.p, "L": dt.p, "SQ": ""}
			if scalarForm {
				sub["P"] = dt.s
				sub["SQ"] = ", {A}"
			}
			li := 0
			for _, name := range []string{"A", "B"} {
				p := map[string]string{"A": k.a, "B": k.b}[name]
				switch p {
				case "":
				case "s":
					sub[name] = reg(konst["S1"])
				default:
					sub[name] = reg(slots[s].in[li])
					li++
				}
			}
			for name, i := range konst {
				sub[name] = reg(i)
			}
			for i, t := range slots[s].temp {
				sub[fmt.Sprintf("T%d", i)] = reg(t)
			}
			for _, line := range strings.Split(code, "\n") {
				for range 2 { // {SQ} expands to a placeholder
					for key, v := range sub {
						line = strings.ReplaceAll(line, "{"+key+"}", v)
					}
				}
				if strings.Contains(line, "{") {
					panic(k.fn + ": unbound placeholder in " + line)
				}
				g.asm("\t%s\n", line)
			}
		}
		for s := 0; s < u; s++ {
			if scalarForm {
				g.asm("\t%s %s, (DI)\n", dt.mov, reg(slots[s].temp[0]))
			} else {
				g.asm("\t%s %s, %d(DI)\n", store, reg(slots[s].temp[0]), 32*s)
			}
		}
		step := 32 * u
		if scalarForm {
			step = dt.size
		}
		for _, p := range loads {
			g.asm("\tADDQ $%d, %s\n", step, ptrReg[p])
		}
		g.asm("\tADDQ $%d, DI\n", step)
	}
	g.loops(k.fn, offs["nt"], W, unroll, body, dt)
	return fmt.Sprintf("func %s(%s)", k.fn, strings.Join(decl, ", "))
}

// loops writes the loop skeleton around body (see the file comment).
func (g *gen) loops(fn string, ntOff, W, unroll int, body func(u int, store string), dt dtype) {
	l := func(s string) string { return fn + "_" + s }
	g.asm("\tCMPB nt+%d(FP), $0\n\tJNE %s\n", ntOff, l("head"))
	g.asm("%s:\n\tCMPQ CX, $%d\n\tJB %s\n", l("loop"), unroll*W, l("one"))
	body(unroll, dt.movu)
	g.asm("\tSUBQ $%d, CX\n\tJMP %s\n", unroll*W, l("loop"))
	g.asm("%s:\n\tCMPQ CX, $%d\n\tJB %s\n", l("one"), W, l("tail"))
	body(1, dt.movu)
	g.asm("\tSUBQ $%d, CX\n\tJMP %s\n", W, l("one"))
	g.asm("%s:\n\tTESTQ CX, CX\n\tJEQ %s\n", l("tail"), l("done"))
	body(0, "")
	g.asm("\tDECQ CX\n\tJMP %s\n", l("tail"))
	g.asm("%s:\n\tVZEROUPPER\n\tRET\n", l("done"))
	// Non-temporal stores: align the destination to 32 bytes first.
	g.asm("%s:\n\tTESTQ $31, DI\n\tJEQ %s\n\tTESTQ CX, CX\n\tJEQ %s\n", l("head"), l("nt"), l("done"))
	body(0, "")
	g.asm("\tDECQ CX\n\tJMP %s\n", l("head"))
	g.asm("%s:\n\tCMPQ CX, $%d\n\tJB %s\n", l("nt"), unroll*W, l("ntend"))
	body(unroll, dt.movn)
	g.asm("\tSUBQ $%d, CX\n\tJMP %s\n", unroll*W, l("nt"))
	g.asm("%s:\n\tCMPB nt+%d(FP), $1\n\tJNE %s\n\tSFENCE\n\tJMP %s\n\n", l("ntend"), ntOff, l("one"), l("one"))
}

// convert writes the conversion kernel from s to d.
func (g *gen) convert(from, to dtype) string {
	fn := fmt.Sprintf("cvt%dto%d", from.bits, to.bits)
	args := []arg{{"d", 8, "unsafe.Pointer"}, {"s", 8, "unsafe.Pointer"}, {"n", 8, "int"}, {"nt", 1, "uint8"}}
	offs, size := frame(args)
	g.asm("// func %s(d, s unsafe.Pointer, n int, nt uint8)\n", fn)
	g.asm("TEXT ·%s(SB), NOSPLIT, $0-%d\n", fn, size)
	g.asm("\tMOVQ d+0(FP), DI\n\tMOVQ s+8(FP), SI\n\tMOVQ n+16(FP), CX\n")
	W := 32 / to.size
	body := func(u int, store string) {
		if u == 0 {
			// VCVTSS2SD / VCVTSD2SS: like Go's conversion, the scalar form.
			g.asm("\tVCVT%s2%s (SI), X0, X0\n\t%s X0, (DI)\n", from.s, to.s, to.mov)
			g.asm("\tADDQ $%d, SI\n\tADDQ $%d, DI\n", from.size, to.size)
			return
		}
		for s := 0; s < u; s++ {
			if from.bits == 32 {
				g.asm("\tVCVTPS2PD %d(SI), Y%d\n", 16*s, s)
			} else {
				g.asm("\tVCVTPD2PSY %d(SI), X%d\n\tVCVTPD2PSY %d(SI), X%d\n\tVINSERTF128 $1, X%d, Y%d, Y%d\n", 64*s, s, 64*s+32, s+8, s+8, s, s)
			}
		}
		for s := 0; s < u; s++ {
			g.asm("\t%s Y%d, %d(DI)\n", store, s, 32*s)
		}
		g.asm("\tADDQ $%d, SI\n\tADDQ $%d, DI\n", u*W*from.size, 32*u)
	}
	g.loops(fn, offs["nt"], W, 4, body, to)
	return fmt.Sprintf("func %s(d, s unsafe.Pointer, n int, nt uint8)", fn)
}

// reduction writes lanes32 or lanes64 (sq: lanesSq32, lanesSq64), which
// accumulate up to four runs into 8 float64 lanes each, as lanes (simd.go)
// defines: element i of a run is added to lane i mod 8 of its run's lanes,
// in order. Run k goes to Y(2k) and Y(2k+1), four lanes each. The runs are
// read side by side while they all last, four streams that keep more cache
// misses in flight than one; then the rest of each run. The lanes are
// stored to out[k].
func (g *gen) reduction(dt dtype, sq bool) string {
	fn := fmt.Sprintf("lanes%d", dt.bits)
	if sq {
		fn = fmt.Sprintf("lanesSq%d", dt.bits)
	}
	l := func(s string) string { return fn + "_" + s }
	ptrs := []string{"SI", "DX", "R8", "R9"}
	counts := []string{"CX", "BX", "R10", "R11"}
	g.asm("// func %s(p *[4]unsafe.Pointer, n *[4]int, out *[4][8]float64)\n", fn)
	g.asm("TEXT ·%s(SB), NOSPLIT, $0-24\n", fn)
	g.asm("\tMOVQ p+0(FP), AX\n")
	for k, r := range ptrs {
		g.asm("\tMOVQ %d(AX), %s\n", 8*k, r)
	}
	g.asm("\tMOVQ n+8(FP), AX\n")
	for k, r := range counts {
		g.asm("\tMOVQ %d(AX), %s\n", 8*k, r)
	}
	// AX = min(n) / 8: blocks of 8 read from every run.
	g.asm("\tMOVQ CX, AX\n")
	for _, r := range counts[1:] {
		g.asm("\tCMPQ %s, AX\n\tCMOVQLT %s, AX\n", r, r)
	}
	g.asm("\tSHRQ $3, AX\n")
	for i := 0; i < 8; i++ {
		g.asm("\tVXORPD Y%d, Y%d, Y%d\n", i, i, i)
	}
	// group loads 4 elements at off(ptr) into Y(dst) as float64.
	group := func(ptr string, off, dst int) {
		if dt.bits == 32 {
			g.asm("\tVCVTPS2PD %d(%s), Y%d\n", off, ptr, dst)
		} else {
			g.asm("\tVMOVUPD %d(%s), Y%d\n", off, ptr, dst)
		}
	}
	acc := func(src, acc int) {
		if sq {
			g.asm("\tVMULPD Y%d, Y%d, Y%d\n", src, src, src)
		}
		g.asm("\tVADDPD Y%d, Y%d, Y%d\n", src, acc, acc)
	}
	gb := 4 * dt.size // bytes of a group
	// Reading alone, one core keeps too few cache misses in flight to reach
	// the memory's bandwidth: 17.5 GB/s with one stream on two cores here,
	// 20.6 with two, 24.8 with four (a parallel copy: 27.3).
	prefetch := func(ptr string) {
		for off := 0; off < 2*gb; off += 64 {
			g.asm("\tPREFETCHNTA %d(%s)\n", 1024+off, ptr)
		}
	}
	g.asm("%s:\n\tTESTQ AX, AX\n\tJEQ %s\n", l("quad"), l("rest0"))
	for k, p := range ptrs {
		prefetch(p)
		group(p, 0, 8+2*k)
		group(p, gb, 9+2*k)
	}
	for k := range ptrs {
		acc(8+2*k, 2*k)
		acc(9+2*k, 2*k+1)
	}
	for k, p := range ptrs {
		g.asm("\tADDQ $%d, %s\n\tSUBQ $8, %s\n", 2*gb, p, counts[k])
	}
	g.asm("\tDECQ AX\n\tJMP %s\n", l("quad"))
	// The rest of each run: blocks of 8, then a whole group into the first
	// accumulator, then the partial group, masked, into the next.
	for k, p := range ptrs {
		c := counts[k]
		name := func(s string) string { return l(fmt.Sprintf("rest%d%s", k, s)) }
		next := l(fmt.Sprintf("rest%d", k+1))
		if k == 3 {
			next = l("store")
		}
		g.asm("%s:\n\tCMPQ %s, $8\n\tJB %s\n", name(""), c, name("tail"))
		prefetch(p)
		group(p, 0, 8)
		group(p, gb, 9)
		acc(8, 2*k)
		acc(9, 2*k+1)
		g.asm("\tADDQ $%d, %s\n\tSUBQ $8, %s\n\tJMP %s\n", 2*gb, p, c, name(""))
		g.asm("%s:\n\tCMPQ %s, $4\n\tJB %s\n", name("tail"), c, name("part0"))
		group(p, 0, 8)
		acc(8, 2*k)
		g.asm("\tADDQ $%d, %s\n\tSUBQ $4, %s\n", gb, p, c)
		for j := 1; j >= 0; j-- {
			if j == 0 {
				g.asm("\tJMP %s\n%s:\n", next, name("part0"))
			}
			g.asm("\tTESTQ %s, %s\n\tJEQ %s\n", c, c, next)
			g.asm("\tMOVQ $4, R12\n\tSUBQ %s, R12\n\tLEAQ mask%d<>(SB), R13\n", c, dt.bits)
			if dt.bits == 32 {
				g.asm("\tVMOVDQU (R13)(R12*4), X9\n\tVMASKMOVPS (%s), X9, X8\n\tVCVTPS2PD X8, Y8\n", p)
			} else {
				g.asm("\tVMOVDQU (R13)(R12*8), Y9\n\tVMASKMOVPD (%s), Y9, Y8\n", p)
			}
			acc(8, 2*k+j)
		}
	}
	g.asm("%s:\n\tMOVQ out+16(FP), DI\n", l("store"))
	for j := 0; j < 8; j++ {
		g.asm("\tVMOVUPD Y%d, %d(DI)\n", j, 32*j)
	}
	g.asm("\tVZEROUPPER\n\tRET\n\n")
	return fmt.Sprintf("func %s(p *[4]unsafe.Pointer, n *[4]int, out *[4][8]float64)", fn)
}

// vec4 emits a 32-byte read-only constant of four copies of a float64 (or of
// a 64-bit integer, with bits).
func (g *gen) vec4(name string, bits uint64) {
	for i := 0; i < 4; i++ {
		g.asm("DATA %s<>+%d(SB)/8, $%#016x\n", name, 8*i, bits)
	}
	g.asm("GLOBL %s<>(SB), RODATA|NOPTR, $32\n", name)
}

// fastmathConsts emits the constants of the fastmath kernels.
func (g *gen) fastmathConsts() {
	f := func(name string, v float64) { g.vec4(name, math.Float64bits(v)) }
	f("fmLog2e", 1.4426950408889634)
	f("fmMagic", 6755399441055744.0)
	f("fmNegLn2", -0.6931471805599453)
	fact := 1.0
	for n := 1; n <= 10; n++ {
		fact *= float64(n)
		f(fmt.Sprintf("fmC%d", n), 1/fact) // 1/n!, rounded as Go rounds 1.0/n! constants
	}
	g.vec4("fmBias", 0xbcc80000000003ff)
	g.vec4("fmSign", 0x8000000000000000)
	f("fmOne", 1)
	f("fmTwo", 2)
	f("fmSigLo", -40)
	f("fmSigHi", 700)
	// expf32's constants, eight float32 lanes.
	f32 := func(name string, v float32) { g.vec8(name, math.Float32bits(v)) }
	f32("efLo", -104)
	f32("efHi", 89)
	f32("efLog2e", 1.44269504)
	f32("efMagic", 12582912)
	f32("efC1", 0.693359375)
	f32("efC2", -2.12194440e-4)
	f32("efP0", 1.9875691500e-4)
	f32("efP1", 1.3981999507e-3)
	f32("efP2", 8.3334519073e-3)
	f32("efP3", 4.1665795894e-2)
	f32("efP4", 1.6666665459e-1)
	f32("efP5", 5.0000001201e-1)
	f32("efOne", 1)
	g.vec8("efBias", 127)
	// tanhf32's.
	g.vec8("tfAbs", 0x7fffffff)
	g.vec8("tfSign", 0x80000000)
	f32("tfMax", 9.1)
	f32("tfSmall", 0.625)
	f32("tfQ0", -5.70498872745e-3)
	f32("tfQ1", 2.06390887954e-2)
	f32("tfQ2", -5.37397155531e-2)
	f32("tfQ3", 1.33314422036e-1)
	f32("tfQ4", -3.33332819422e-1)
	// gelu32's, read from fastmath.go (TestSIMDGELU checks that the
	// kernels give gelu32's bits).
	readFastmath()
	f("geNegHalf", -0.5)
	f("geHalf", 0.5)
	f("geLim", fm("geluLim"))
	g.vec4("geAbs", 0x7fffffffffffffff)
	f("geP", fm("geluP"))
	f("geA", fm("geluA"))
	f("geB", fm("geluB"))
	f("geInvSqrt2Pi", fm("invSqrt2Pi"))
	for i, c := range fastmathSrc.geluQ {
		f(fmt.Sprintf("geQ%d", i), c)
	}
	g.asm("\n")
}

// vec8 emits a 32-byte read-only constant of eight copies of a float32 (or
// of a 32-bit integer, with bits).
func (g *gen) vec8(name string, bits uint32) {
	for i := 0; i < 8; i++ {
		g.asm("DATA %s<>+%d(SB)/4, $%#08x\n", name, 4*i, bits)
	}
	g.asm("GLOBL %s<>(SB), RODATA|NOPTR, $32\n", name)
}

// emitter returns a function that formats instructions ("\n\t"-separated
// when several) and appends them to *out.
func emitter(out *[]string) func(format string, args ...any) {
	return func(format string, args ...any) {
		*out = append(*out, strings.Split(fmt.Sprintf(format, args...), "\n\t")...)
	}
}

// expfCore emits expf32's steps after the clamp (fastmath.go): e^Y(x)
// into Y(p), with Y(t), Y(k) and Y(r) as temporaries and Y(x) taking z = r²
// once r is computed. Each step is the instruction that computes the Go
// code's step with the same rounding (no FMA: the Go code rounds every
// product).
func expfCore(e func(string, ...any), x, t, k, r, p int) {
	z := x
	e("VMULPS efLog2e<>(SB), Y%d, Y%d", x, t) // x·log2e
	e("VADDPS efMagic<>(SB), Y%d, Y%d", t, t) // t = that + magic
	e("VSUBPS efMagic<>(SB), Y%d, Y%d", t, k) // k = t − magic
	e("VMULPS efC1<>(SB), Y%d, Y%d", k, r)    // k·c1
	e("VSUBPS Y%d, Y%d, Y%d", r, x, r)        // r = x − k·c1
	e("VMULPS efC2<>(SB), Y%d, Y%d", k, p)    // k·c2
	e("VSUBPS Y%d, Y%d, Y%d", p, r, r)        // r −= k·c2
	e("VMULPS Y%d, Y%d, Y%d", r, r, z)        // z = r·r
	// Estrin: a = P0·r+P1 in p, b = P2·r+P3 in k, p = a·z+b, then
	// c = P4·r+P5 in k, p = p·z+c.
	e("VMULPS efP0<>(SB), Y%d, Y%d\n\tVADDPS efP1<>(SB), Y%d, Y%d", r, p, p, p)
	e("VMULPS efP2<>(SB), Y%d, Y%d\n\tVADDPS efP3<>(SB), Y%d, Y%d", r, k, k, k)
	e("VMULPS Y%d, Y%d, Y%d\n\tVADDPS Y%d, Y%d, Y%d", z, p, p, k, p, p)
	e("VMULPS efP4<>(SB), Y%d, Y%d\n\tVADDPS efP5<>(SB), Y%d, Y%d", r, k, k, k)
	e("VMULPS Y%d, Y%d, Y%d\n\tVADDPS Y%d, Y%d, Y%d", z, p, p, k, p, p)
	e("VMULPS Y%d, Y%d, Y%d", z, p, p)        // p·z
	e("VADDPS Y%d, Y%d, Y%d", r, p, p)        // + r
	e("VADDPS efOne<>(SB), Y%d, Y%d", p, p)   // + 1
	e("VPSUBD efMagic<>(SB), Y%d, Y%d", t, t) // k = bits(t) − bits(magic)
	e("VPSRAD $1, Y%d, Y%d", t, k)            // k1 = k >> 1
	e("VPSUBD Y%d, Y%d, Y%d", k, t, t)        // k2 = k − k1
	e("VPADDD efBias<>(SB), Y%d, Y%d\n\tVPSLLD $23, Y%d, Y%d", k, k, k, k)
	e("VPADDD efBias<>(SB), Y%d, Y%d\n\tVPSLLD $23, Y%d, Y%d", t, t, t, t)
	e("VMULPS Y%d, Y%d, Y%d", k, p, p) // y·2^k1
	e("VMULPS Y%d, Y%d, Y%d", t, p, p) // ·2^k2
}

// expfGroup returns the instructions of exp32x8 for the eight elements at
// off(SI) in Y(b)..Y(b+4), the result in Y(b+4). Five registers a group let
// three groups run side by side.
func expfGroup(b, off int) []string {
	x, t, k, r, p := b, b+1, b+2, b+3, b+4
	var out []string
	e := emitter(&out)
	e("VMOVUPS %d(SI), Y%d", off, x)
	// if x < lo { x = lo }; if x > hi { x = hi }: VMAXPS and VMINPS with x
	// first give x unless the constant is greater (smaller) or x is NaN
	// (then the constant: a NaN lane takes the input at the end anyway);
	// equal values are the same value.
	e("VMAXPS efLo<>(SB), Y%d, Y%d", x, x)
	e("VMINPS efHi<>(SB), Y%d, Y%d", x, x)
	expfCore(e, x, t, k, r, p)
	e("VMOVUPS %d(SI), Y%d", off, k) // NaN: the input
	e("VCMPPS $3, Y%d, Y%d, Y%d", k, k, t)
	e("VBLENDVPS Y%d, Y%d, Y%d, Y%d", t, k, p, p)
	return out
}

// tanhfGroup returns the instructions of tanh32x8 (tanhf32 in fastmath.go)
// for the eight elements at off(SI) in Y(b)..Y(b+6), the result in Y(b+2).
// Both branches are computed and the lanes picked by a < 0.625; the
// exponential branch's last steps run in two groups of four float64 lanes.
// expf32's clamps are left out: its argument 2a lies in [0, 18.2], where
// they change nothing. Two groups run side by side (seven registers each);
// the kernel takes about 30 cycles per group, of which the float64 steps
// cost about 12 (measured by leaving them out).
func tanhfGroup(b, off int) []string {
	a, q, x, t, k, r, p := b, b+1, b+2, b+3, b+4, b+5, b+6
	var head, poly, core, tail []string
	e := emitter(&head)
	e("VMOVUPS %d(SI), Y%d", off, x)
	e("VANDPS tfAbs<>(SB), Y%d, Y%d", x, a)
	// if a > 9.1 { a = 9.1 }, as for the clamps of expfGroup.
	e("VMINPS tfMax<>(SB), Y%d, Y%d", a, a)
	e("VADDPS Y%d, Y%d, Y%d", a, a, x) // 2a
	// a + a·z·Q(z), z = a², by Horner; z in Y(r) until the core needs it.
	e = emitter(&poly)
	e("VMULPS Y%d, Y%d, Y%d", a, a, r) // z
	e("VMULPS tfQ0<>(SB), Y%d, Y%d", r, q)
	e("VADDPS tfQ1<>(SB), Y%d, Y%d", q, q)
	for i := 2; i <= 4; i++ {
		e("VMULPS Y%d, Y%d, Y%d", r, q, q)
		e("VADDPS tfQ%d<>(SB), Y%d, Y%d", i, q, q)
	}
	e("VMULPS Y%d, Y%d, Y%d", r, q, q) // q·z
	e("VMULPS Y%d, Y%d, Y%d", a, q, q) // ·a
	e("VADDPS Y%d, Y%d, Y%d", a, q, q) // + a
	expfCore(emitter(&core), x, t, k, r, p)
	// 1 − 2/(e+1) in float64: low lanes in Y(x), high lanes in Y(t).
	e = emitter(&tail)
	e("VCVTPS2PD X%d, Y%d", p, x)
	e("VEXTRACTF128 $1, Y%d, X%d\n\tVCVTPS2PD X%d, Y%d", p, t, t, t)
	e("VADDPD fmOne<>(SB), Y%d, Y%d\n\tVADDPD fmOne<>(SB), Y%d, Y%d", x, x, t, t)
	e("VMOVUPD fmTwo<>(SB), Y%d", k)
	e("VDIVPD Y%d, Y%d, Y%d\n\tVDIVPD Y%d, Y%d, Y%d", x, k, x, t, k, t)
	e("VMOVUPD fmOne<>(SB), Y%d", k)
	e("VSUBPD Y%d, Y%d, Y%d\n\tVSUBPD Y%d, Y%d, Y%d", x, k, x, t, k, t)
	e("VCVTPD2PSY Y%d, X%d\n\tVCVTPD2PSY Y%d, X%d", x, x, t, t)
	e("VINSERTF128 $1, X%d, Y%d, Y%d", t, x, x)
	e("VCMPPS $1, tfSmall<>(SB), Y%d, Y%d", a, r)
	e("VBLENDVPS Y%d, Y%d, Y%d, Y%d", r, q, x, x) // a < 0.625: the polynomial
	e("VMOVUPS %d(SI), Y%d", off, t)
	e("VANDPS tfSign<>(SB), Y%d, Y%d\n\tVORPS Y%d, Y%d, Y%d", t, k, k, x, x) // x's sign
	e("VCMPPS $3, Y%d, Y%d, Y%d", t, t, k)                                   // NaN: the input
	e("VBLENDVPS Y%d, Y%d, Y%d, Y%d", k, t, x, x)
	// The polynomial uses Y(r) for z, so it goes before the core.
	out := append(head, poly...)
	out = append(out, core...)
	return append(out, tail...)
}

// lanes32 writes fn, a float32 loop for n a multiple of 8: group(b, off)
// gives the instructions for the eight elements at off(SI) in the regs
// registers from Y(b), the result in Y(b+res); per groups side by side per
// iteration (their instructions interleaved: independent chains keep the
// pipes busy) while 8·per elements are left, then one at a time (only the
// latter loop for per = 1). With nt, d
// must be 32-byte aligned; the stores are non-temporal, followed by an
// SFENCE for nt = 1.
func (g *gen) lanes32(fn string, group func(b, off int) []string, regs, res, per int) string {
	return g.lanes32n(fn, group, regs, res, per, 1)
}

// lanes32n is lanes32 for kernels of one input x (SI) or two, x and y (SI
// and BX, the group reading y at the same offsets from BX).
func (g *gen) lanes32n(fn string, group func(b, off int) []string, regs, res, per, inputs int) string {
	l := func(s string) string { return fn + "_" + s }
	params, ntOff := "d, x unsafe.Pointer, n int, nt uint8", 24
	if inputs == 2 {
		params, ntOff = "d, x, y unsafe.Pointer, n int, nt uint8", 32
	}
	g.asm("// func %s(%s)\n", fn, params)
	g.asm("TEXT ·%s(SB), NOSPLIT, $0-%d\n", fn, ntOff+1)
	g.asm("\tMOVQ d+0(FP), DI\n\tMOVQ x+8(FP), SI\n")
	if inputs == 2 {
		g.asm("\tMOVQ y+16(FP), BX\n")
	}
	g.asm("\tMOVQ n+%d(FP), CX\n", ntOff-8)
	body := func(store string, groups int) {
		var gs [][]string
		for i := range groups {
			gs = append(gs, group(regs*i, 32*i))
		}
		for i := range len(gs[0]) {
			for _, gr := range gs {
				g.asm("\t%s\n", gr[i])
			}
		}
		n := 8 * groups
		for i := range gs {
			g.asm("\t%s Y%d, %d(DI)\n", store, regs*i+res, 32*i)
		}
		g.asm("\tADDQ $%d, SI\n\tADDQ $%d, DI\n\tSUBQ $%d, CX\n", 4*n, 4*n, n)
		if inputs == 2 {
			g.asm("\tADDQ $%d, BX\n", 4*n)
		}
	}
	first := "1" // the label each loop starts at
	if per > 1 {
		first = "N"
	}
	for _, v := range []struct{ name, store string }{{"c", "VMOVUPS"}, {"nt", "VMOVNTPS"}} {
		if v.name == "c" {
			g.asm("\tCMPB nt+%d(FP), $0\n\tJNE %s\n", ntOff, l("nt"+first))
		}
		if per > 1 {
			g.asm("%s:\n\tCMPQ CX, $%d\n\tJB %s\n", l(v.name+"N"), 8*per, l(v.name+"1"))
			body(v.store, per)
			g.asm("\tJMP %s\n", l(v.name+"N"))
		}
		g.asm("%s:\n\tCMPQ CX, $8\n\tJB %s\n", l(v.name+"1"), l(v.name+"end"))
		body(v.store, 1)
		g.asm("\tJMP %s\n", l(v.name+"1"))
		g.asm("%s:\n", l(v.name+"end"))
		if v.name == "c" {
			g.asm("\tJMP %s\n", l("done"))
		}
	}
	g.asm("\tCMPB nt+%d(FP), $1\n\tJNE %s\n\tSFENCE\n", ntOff, l("done"))
	g.asm("%s:\n\tVZEROUPPER\n\tRET\n\n", l("done"))
	return fmt.Sprintf("func %s(%s)", fn, params)
}

// sigmoidGroup returns the instructions of sigmoid32x8, the float32 loop
// of sigmoidSlice (fastmath.go), for the eight elements at off(SI): two
// groups of four float64 lanes side by side (Y(b)..Y(b+6) and
// Y(b+7)..Y(b+13); Y14 and Y15 for the NaN test), the result in Y(b). Each
// step is the instruction that computes the Go code's step with the same
// rounding: expPoly's fused multiply-adds as VFMADD, Go's "if x < c { x = c
// }" as VMAXPD with c first (the first operand wins only when it is
// greater), "if x > c { x = c }" as VMINPD likewise. NaN inputs are copied
// to the output unchanged at the end, as the Go loop does.
func sigmoidGroup(b, off int) []string {
	var lines []string
	emit := emitter(&lines)
	expPoly := func(a, f, r, y, y2, y4, p, q int) { expPolyAsm(emit, a, f, r, y, y2, y4, p, q) }
	// clamp emits Go's "if x < lo { x = lo }; if x > hi { x = hi }" on Y(x):
	// VMAXPD and VMINPD return their second source unless the first (the
	// constant, loaded into Y(t)) is strictly greater (smaller).
	clamp := func(x, t int, lo, hi string) {
		emit("VMOVUPD %s<>(SB), Y%d\n\tVMAXPD Y%d, Y%d, Y%d", lo, t, x, t, x)
		emit("VMOVUPD %s<>(SB), Y%d\n\tVMINPD Y%d, Y%d, Y%d", hi, t, x, t, x)
	}
	// half returns the instructions that compute the four elements at
	// off(SI), converted to float64 in Y(h), into Y(h+5).
	half := func(h int) []string {
		lines = nil
		f, r, y, y2, y4, p, q := h, h+1, h+2, h+3, h+4, h+5, h+6
		emit("VXORPD fmSign<>(SB), Y%d, Y%d", f, f) // z = −f
		clamp(f, q, "fmSigLo", "fmSigHi")
		expPoly(f, f, r, y, y2, y4, p, q)
		emit("VADDPD fmOne<>(SB), Y%d, Y%d", p, p) // 1 + e
		emit("VMOVUPD fmOne<>(SB), Y%d\n\tVDIVPD Y%d, Y%d, Y%d", r, p, r, p)
		return lines
	}
	out := []string{fmt.Sprintf("VCVTPS2PD %d(SI), Y%d", off, b), fmt.Sprintf("VCVTPS2PD %d(SI), Y%d", off+16, b+7)}
	// The two halves' instructions interleaved: two dependency chains side
	// by side keep both FMA pipes busy.
	g0, g1 := half(b), half(b+7)
	for i := range max(len(g0), len(g1)) {
		for _, gr := range [][]string{g0, g1} {
			if i < len(gr) {
				out = append(out, gr[i])
			}
		}
	}
	return append(out,
		fmt.Sprintf("VCVTPD2PSY Y%d, X%d", b+5, b), fmt.Sprintf("VCVTPD2PSY Y%d, X%d", b+12, b+1),
		fmt.Sprintf("VINSERTF128 $1, X%d, Y%d, Y%d", b+1, b, b),
		fmt.Sprintf("VMOVUPS %d(SI), Y14", off), "VCMPPS $3, Y14, Y14, Y15", // NaN: the input
		fmt.Sprintf("VBLENDVPS Y15, Y14, Y%d, Y%d", b, b))
}

// expPolyAsm emits expPoly (fastmath.go) of Y(a) into Y(p), with
// temporaries Y(r) (2^k), Y(y), Y(y2), Y(y4), Y(q) and Y(f) (a may be f or
// q); Estrin's scheme as in fastmath.go, each FMA with its operands in the
// same roles.
func expPolyAsm(emit func(string, ...any), a, f, r, y, y2, y4, p, q int) {
	emit("VMOVUPD fmLog2e<>(SB), Y%d", r)
	emit("VFMADD213PD fmMagic<>(SB), Y%d, Y%d", a, r)  // r = a·log2e + magic
	emit("VSUBPD fmMagic<>(SB), Y%d, Y%d", r, y)       // k = r − magic
	emit("VFMADD132PD fmNegLn2<>(SB), Y%d, Y%d", a, y) // y = k·(−ln2) + a
	emit("VMULPD Y%d, Y%d, Y%d", y, y, y2)
	emit("VMULPD Y%d, Y%d, Y%d", y2, y2, y4)
	emit("VMOVUPD fmC9<>(SB), Y%d", p)
	emit("VFMADD213PD fmC8<>(SB), Y%d, Y%d", y, p)   // c9·y + c8
	emit("VFMADD231PD fmC10<>(SB), Y%d, Y%d", y2, p) // r2 = c10·y2 + that
	emit("VMOVUPD fmC7<>(SB), Y%d", q)
	emit("VFMADD213PD fmC6<>(SB), Y%d, Y%d", y, q) // c7·y + c6
	emit("VMOVUPD fmC5<>(SB), Y%d", f)
	emit("VFMADD213PD fmC4<>(SB), Y%d, Y%d", y, f) // c5·y + c4
	emit("VFMADD231PD Y%d, Y%d, Y%d", q, y2, f)    // r1
	emit("VMOVUPD fmC3<>(SB), Y%d", q)
	emit("VFMADD213PD fmC2<>(SB), Y%d, Y%d", y, q) // c3·y + c2
	emit("VADDPD fmOne<>(SB), Y%d, Y%d", y, y)     // 1 + y
	emit("VFMADD231PD Y%d, Y%d, Y%d", q, y2, y)    // r0
	emit("VFMADD231PD Y%d, Y%d, Y%d", f, y4, y)    // r1·y4 + r0
	emit("VMULPD Y%d, Y%d, Y%d", y4, y4, y4)       // y8
	emit("VFMADD213PD Y%d, Y%d, Y%d", y, y4, p)    // p = r2·y8 + that
	emit("VPADDQ fmBias<>(SB), Y%d, Y%d\n\tVPSLLQ $52, Y%d, Y%d", r, r, r, r)
	emit("VMULPD Y%d, Y%d, Y%d", r, p, p) // p·2^k
}

// adam writes adam<bits>_<mode>, the AVX2 form of adamLoop (train.go) for
// one mode (0 plain, 1 L2, 2 decoupled): n elements (a multiple of the
// vector width) of w, m, v and g, the constants read from k in
// adamConsts' order and broadcast into Y6-Y15 (wd or lr·wd, whichever the
// mode uses). Each step is the instruction of adamLoop's step with the
// same rounding and operand roles ("OP src2, src1, dst" computes src1 OP
// src2).
func (g *gen) adam(dt dtype, mode int) string {
	fn := fmt.Sprintf("adam%d_%d", dt.bits, mode)
	p, w := dt.p, 32/dt.size
	decl := fmt.Sprintf("func %s(w, m, v, grad unsafe.Pointer, n int, k *%s)", fn, dt.goType)
	g.asm("// %s\n", decl[len("func "):])
	g.asm("TEXT ·%s(SB), NOSPLIT, $0-48\n", fn)
	g.asm("\tMOVQ w+0(FP), DI\n\tMOVQ m+8(FP), SI\n\tMOVQ v+16(FP), DX\n\tMOVQ grad+24(FP), BX\n\tMOVQ n+32(FP), CX\n\tMOVQ k+40(FP), AX\n")
	// Y6 β1, Y7 1−β1, Y8 β2, Y9 1−β2, Y10 c1, Y11 c2, Y12 lr, Y13 eps,
	// Y14 lr·wd (decoupled) or wd (L2).
	for i := range 8 {
		g.asm("\t%s %d(AX), Y%d\n", dt.bcast, i*dt.size, 6+i)
	}
	if mode == 2 {
		g.asm("\t%s %d(AX), Y14\n", dt.bcast, 8*dt.size)
	} else if mode == 1 {
		g.asm("\t%s %d(AX), Y14\n", dt.bcast, 9*dt.size)
	}
	l := func(s string) string { return fn + "_" + s }
	g.asm("%s:\n\tCMPQ CX, $%d\n\tJB %s\n", l("loop"), w, l("done"))
	e := func(format string, args ...any) { g.asm("\t"+format+"\n", args...) }
	e("%s (BX), Y0", dt.movu) // g
	e("%s (DI), Y1", dt.movu) // w
	e("%s (SI), Y2", dt.movu) // m
	e("%s (DX), Y3", dt.movu) // v
	switch mode {
	case 2:
		e("VMUL%s Y1, Y14, Y4", p) // lr·wd·w
		e("VSUB%s Y4, Y1, Y1", p)  // w − that
	case 1:
		e("VMUL%s Y1, Y14, Y4", p) // wd·w
		e("VADD%s Y4, Y0, Y0", p)  // g + that
	}
	e("VMUL%s Y2, Y6, Y4", p)  // β1·m
	e("VMUL%s Y0, Y7, Y5", p)  // (1−β1)·g
	e("VADD%s Y5, Y4, Y2", p)  // m
	e("VMUL%s Y3, Y8, Y4", p)  // β2·v
	e("VMUL%s Y0, Y9, Y5", p)  // (1−β2)·g
	e("VMUL%s Y0, Y5, Y5", p)  // ·g
	e("VADD%s Y5, Y4, Y3", p)  // v
	e("%s Y2, (SI)", dt.movu)  //
	e("%s Y3, (DX)", dt.movu)  //
	e("VDIV%s Y10, Y2, Y4", p) // m/c1
	e("VDIV%s Y11, Y3, Y5", p) // v/c2
	e("VSQRT%s Y5, Y5", p)     // √
	e("VADD%s Y13, Y5, Y5", p) // + eps
	e("VMUL%s Y4, Y12, Y4", p) // lr·m̂
	e("VDIV%s Y5, Y4, Y4", p)  // / (√v̂ + eps)
	e("VSUB%s Y4, Y1, Y1", p)  // w − that
	e("%s Y1, (DI)", dt.movu)
	e("ADDQ $32, DI\n\tADDQ $32, SI\n\tADDQ $32, DX\n\tADDQ $32, BX\n\tSUBQ $%d, CX\n\tJMP %s", w, l("loop"))
	g.asm("%s:\n\tVZEROUPPER\n\tRET\n\n", l("done"))
	return decl
}

// sqDev32 writes sqDev32(x *float32, n int, mu float64, out *[4]float64):
// out[k] = Σ (x[j] − mu)² over j ≡ k mod 4, j < n (n a multiple of 4),
// each term rounded before it is added (no FMA), in increasing j: the four
// partial sums of rowSqDev (norm.go), one per float64 lane.
func (g *gen) sqDev32() string {
	const fn = "sqDev32"
	g.asm("// sqDev32(x *float32, n int, mu float64, out *[4]float64)\n")
	g.asm("TEXT ·%s(SB), NOSPLIT, $0-32\n", fn)
	g.asm("\tMOVQ x+0(FP), SI\n\tMOVQ n+8(FP), CX\n\tVBROADCASTSD mu+16(FP), Y1\n\tMOVQ out+24(FP), DI\n")
	g.asm("\tVXORPD Y0, Y0, Y0\n")
	g.asm("%s_loop:\n\tCMPQ CX, $4\n\tJB %s_done\n", fn, fn)
	g.asm("\tVCVTPS2PD (SI), Y2\n\tVSUBPD Y1, Y2, Y2\n\tVMULPD Y2, Y2, Y2\n\tVADDPD Y2, Y0, Y0\n")
	g.asm("\tADDQ $16, SI\n\tSUBQ $4, CX\n\tJMP %s_loop\n", fn)
	g.asm("%s_done:\n\tVMOVUPD Y0, (DI)\n\tVZEROUPPER\n\tRET\n\n", fn)
	return "func sqDev32(x *float32, n int, mu float64, out *[4]float64)"
}

// normAffine32 writes normAffine32(y, x, w, b *float32, n int, mu, r
// float64): y[j] = float32(((x[j] − mu)·r)·w[j] + b[j]) in float64, each
// step rounded (layerNorm's affine loop, norm.go), four elements at a
// time; n a multiple of 4.
func (g *gen) normAffine32() string {
	const fn = "normAffine32"
	g.asm("// normAffine32(y, x, w, b *float32, n int, mu, r float64)\n")
	g.asm("TEXT ·%s(SB), NOSPLIT, $0-56\n", fn)
	g.asm("\tMOVQ y+0(FP), DI\n\tMOVQ x+8(FP), SI\n\tMOVQ w+16(FP), DX\n\tMOVQ b+24(FP), BX\n\tMOVQ n+32(FP), CX\n")
	g.asm("\tVBROADCASTSD mu+40(FP), Y0\n\tVBROADCASTSD r+48(FP), Y1\n")
	g.asm("%s_loop:\n\tCMPQ CX, $4\n\tJB %s_done\n", fn, fn)
	g.asm("\tVCVTPS2PD (SI), Y2\n\tVSUBPD Y0, Y2, Y2\n\tVMULPD Y1, Y2, Y2\n")
	g.asm("\tVCVTPS2PD (DX), Y3\n\tVMULPD Y3, Y2, Y2\n\tVCVTPS2PD (BX), Y3\n\tVADDPD Y3, Y2, Y2\n")
	g.asm("\tVCVTPD2PSY Y2, X2\n\tVMOVUPS X2, (DI)\n")
	g.asm("\tADDQ $16, SI\n\tADDQ $16, DI\n\tADDQ $16, DX\n\tADDQ $16, BX\n\tSUBQ $4, CX\n\tJMP %s_loop\n", fn)
	g.asm("%s_done:\n\tVZEROUPPER\n\tRET\n\n", fn)
	return "func normAffine32(y, x, w, b *float32, n int, mu, r float64)"
}

// normGradSums32 writes normGradSums32(gs, xs *float64, x, dy, w *float32,
// n int, mu, r float64, st *[8]float64): normGradSums' loop (norm.go) over
// n elements (a multiple of 4), its four partial sums of g and of g·x̂ in
// the lanes of st[0:4] and st[4:8] (added to what they hold); w may be nil.
func (g *gen) normGradSums32() string {
	const fn = "normGradSums32"
	g.asm("// normGradSums32(gs, xs *float64, x, dy, w *float32, n int, mu, r float64, st *[8]float64)\n")
	g.asm("TEXT ·%s(SB), NOSPLIT, $0-72\n", fn)
	g.asm("\tMOVQ gs+0(FP), DI\n\tMOVQ xs+8(FP), R8\n\tMOVQ x+16(FP), SI\n\tMOVQ dy+24(FP), DX\n\tMOVQ w+32(FP), BX\n\tMOVQ n+40(FP), CX\n")
	g.asm("\tVBROADCASTSD mu+48(FP), Y0\n\tVBROADCASTSD r+56(FP), Y1\n\tMOVQ st+64(FP), AX\n")
	g.asm("\tVMOVUPD (AX), Y2\n\tVMOVUPD 32(AX), Y3\n") // s, t
	g.asm("%s_loop:\n\tCMPQ CX, $4\n\tJB %s_done\n", fn, fn)
	g.asm("\tVCVTPS2PD (DX), Y4\n") // g = dy
	g.asm("\tTESTQ BX, BX\n\tJZ %s_now\n\tVCVTPS2PD (BX), Y5\n\tVMULPD Y5, Y4, Y4\n\tADDQ $16, BX\n%s_now:\n", fn, fn)
	g.asm("\tVCVTPS2PD (SI), Y5\n\tVSUBPD Y0, Y5, Y5\n\tVMULPD Y1, Y5, Y5\n") // x̂ = (x − mu)·r
	g.asm("\tVMOVUPD Y4, (DI)\n\tVMOVUPD Y5, (R8)\n")
	g.asm("\tVADDPD Y4, Y2, Y2\n\tVMULPD Y5, Y4, Y6\n\tVADDPD Y6, Y3, Y3\n")
	g.asm("\tADDQ $32, DI\n\tADDQ $32, R8\n\tADDQ $16, SI\n\tADDQ $16, DX\n\tSUBQ $4, CX\n\tJMP %s_loop\n", fn)
	g.asm("%s_done:\n\tVMOVUPD Y2, (AX)\n\tVMOVUPD Y3, 32(AX)\n\tVZEROUPPER\n\tRET\n\n", fn)
	return "func normGradSums32(gs, xs *float64, x, dy, w *float32, n int, mu, r float64, st *[8]float64)"
}

// normGradRow32 writes normGradRow32(dx, dy *float32, gs, xs, cw, cb
// *float64, n int, r, a, k float64): normGradRow's loop with both cw and cb
// (norm.go), dx[j] = float32(r·((g − a) − x̂·k)), cw[j] += dy·x̂, cb[j] +=
// dy, over n elements (a multiple of 4), each product rounded.
func (g *gen) normGradRow32() string {
	const fn = "normGradRow32"
	g.asm("// normGradRow32(dx, dy *float32, gs, xs, cw, cb *float64, n int, r, a, k float64)\n")
	g.asm("TEXT ·%s(SB), NOSPLIT, $0-80\n", fn)
	g.asm("\tMOVQ dx+0(FP), DI\n\tMOVQ dy+8(FP), SI\n\tMOVQ gs+16(FP), DX\n\tMOVQ xs+24(FP), BX\n\tMOVQ cw+32(FP), R8\n\tMOVQ cb+40(FP), R9\n\tMOVQ n+48(FP), CX\n")
	g.asm("\tVBROADCASTSD r+56(FP), Y0\n\tVBROADCASTSD a+64(FP), Y1\n\tVBROADCASTSD k+72(FP), Y2\n")
	g.asm("%s_loop:\n\tCMPQ CX, $4\n\tJB %s_done\n", fn, fn)
	g.asm("\tVMOVUPD (BX), Y3\n\tVCVTPS2PD (SI), Y4\n")                                                               // x̂, d
	g.asm("\tVMOVUPD (DX), Y5\n\tVSUBPD Y1, Y5, Y5\n\tVMULPD Y2, Y3, Y6\n\tVSUBPD Y6, Y5, Y5\n\tVMULPD Y5, Y0, Y5\n") // r·((g − a) − x̂·k)
	g.asm("\tVCVTPD2PSY Y5, X5\n\tVMOVUPS X5, (DI)\n")
	g.asm("\tVMULPD Y3, Y4, Y6\n\tVADDPD (R8), Y6, Y6\n\tVMOVUPD Y6, (R8)\n") // cw += d·x̂
	g.asm("\tVADDPD (R9), Y4, Y7\n\tVMOVUPD Y7, (R9)\n")                      // cb += d
	g.asm("\tADDQ $16, DI\n\tADDQ $16, SI\n\tADDQ $32, DX\n\tADDQ $32, BX\n\tADDQ $32, R8\n\tADDQ $32, R9\n\tSUBQ $4, CX\n\tJMP %s_loop\n", fn)
	g.asm("%s_done:\n\tVZEROUPPER\n\tRET\n\n", fn)
	return "func normGradRow32(dx, dy *float32, gs, xs, cw, cb *float64, n int, r, a, k float64)"
}

// fastmathSrc holds values read from fastmath.go, where they are written
// once: its float constants by name and the elements of geluQ (Q's
// coefficients, constant term first).
var fastmathSrc struct {
	consts map[string]float64
	geluQ  []float64
}

// readFastmath fills fastmathSrc from fastmath.go's declarations.
func readFastmath() {
	f, err := parser.ParseFile(token.NewFileSet(), "fastmath.go", nil, 0)
	if err != nil {
		panic(err)
	}
	num := func(e ast.Expr) (float64, bool) {
		neg := false
		if u, ok := e.(*ast.UnaryExpr); ok && u.Op == token.SUB {
			neg, e = true, u.X
		}
		b, ok := e.(*ast.BasicLit)
		if !ok || (b.Kind != token.FLOAT && b.Kind != token.INT) {
			return 0, false
		}
		v, err := strconv.ParseFloat(b.Value, 64)
		if err != nil { // hex bit patterns and the like: not float constants
			return 0, false
		}
		if neg {
			v = -v
		}
		return v, true
	}
	fastmathSrc.consts = map[string]float64{}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || len(vs.Values) != 1 {
			return true
		}
		if cl, ok := vs.Values[0].(*ast.CompositeLit); ok && vs.Names[0].Name == "geluQ" {
			for _, e := range cl.Elts {
				v, ok := num(e)
				if !ok {
					panic("genasm: geluQ holds a non-literal")
				}
				fastmathSrc.geluQ = append(fastmathSrc.geluQ, v)
			}
		} else if v, ok := num(vs.Values[0]); ok {
			fastmathSrc.consts[vs.Names[0].Name] = v
		}
		return false
	})
	if len(fastmathSrc.geluQ) == 0 {
		panic("genasm: no geluQ in fastmath.go")
	}
}

// fm returns fastmath.go's constant name.
func fm(name string) float64 {
	v, ok := fastmathSrc.consts[name]
	if !ok {
		panic("genasm: no float constant " + name + " in fastmath.go")
	}
	return v
}

// geluGroup returns the group of gelu32x8 (grad false: x·Φ(x), NaN inputs
// copied to the output as geluSlice does) or geluGrad32x8 (grad: g·(Φ(x) +
// x·φ(x)), g read from BX; a NaN x, else a NaN g, copied to the output as
// geluGradT does), the eight elements at off(SI) as two halves of
// four float64 lanes, Y0-Y7 and Y8-Y15, their instructions interleaved.
// Each step is the instruction that computes geluParts' step with the same
// rounding and operand roles: Go's "if !(a >= lim) { e = 0 }" as a
// GE_OQ comparison (false for NaN) ANDed into e, "if x < 0" as LT_OS and a
// blend.
func geluGroup(grad bool) func(b, off int) []string {
	return func(b, off int) []string {
		var lines []string
		emit := emitter(&lines)
		half := func(h, o int) []string {
			lines = nil
			x, a, r, y, y2, y4, e, q := h, h+1, h+2, h+3, h+4, h+5, h+6, h+7
			emit("VCVTPS2PD %d(SI), Y%d", o, x)
			emit("VMULPD Y%d, Y%d, Y%d", x, x, a)          // x·x
			emit("VMULPD geNegHalf<>(SB), Y%d, Y%d", a, a) // a = x·x·(−0.5)
			expPolyAsm(emit, a, a, r, y, y2, y4, e, q)     // e = expPoly(a)
			emit("VMULPD Y%d, Y%d, Y%d", x, x, a)
			emit("VMULPD geNegHalf<>(SB), Y%d, Y%d", a, a)
			emit("VCMPPD $0x1d, geLim<>(SB), Y%d, Y%d", a, a) // a >= lim
			emit("VANDPD Y%d, Y%d, Y%d", a, e, e)             // else e = 0
			t, sv := r, y
			emit("VANDPD geAbs<>(SB), Y%d, Y%d", x, a)       // |x|
			emit("VMOVUPD geP<>(SB), Y%d", y2)               //
			emit("VFMADD213PD fmOne<>(SB), Y%d, Y%d", a, y2) // |x|·P + 1
			emit("VMOVUPD fmOne<>(SB), Y%d", t)
			emit("VDIVPD Y%d, Y%d, Y%d", y2, t, t) // t = 1/that
			emit("VMOVUPD geA<>(SB), Y%d", sv)
			emit("VFMADD213PD geB<>(SB), Y%d, Y%d", t, sv) // s = t·A + B
			emit("VMOVUPD geQ%d<>(SB), Y%d", len(fastmathSrc.geluQ)-1, q)
			for i := len(fastmathSrc.geluQ) - 2; i >= 0; i-- {
				emit("VFMADD213PD geQ%d<>(SB), Y%d, Y%d", i, sv, q) // q = q·s + c_i
			}
			emit("VMULPD Y%d, Y%d, Y%d", q, t, q)       // t·q
			emit("VMULPD Y%d, Y%d, Y%d", e, q, q)       // ·e
			emit("VMULPD geHalf<>(SB), Y%d, Y%d", q, q) // h = ·0.5
			emit("VMOVUPD fmOne<>(SB), Y%d", y2)
			emit("VSUBPD Y%d, Y%d, Y%d", q, y2, y2) // 1 − h
			emit("VXORPD Y%d, Y%d, Y%d", a, a, a)
			emit("VCMPPD $0x01, Y%d, Y%d, Y%d", a, x, a)      // x < 0
			emit("VBLENDVPD Y%d, Y%d, Y%d, Y%d", a, q, y2, q) // phi = x < 0 ? h : 1 − h
			if !grad {
				emit("VMULPD Y%d, Y%d, Y%d", q, x, x) // x·phi
				return lines
			}
			emit("VMULPD geInvSqrt2Pi<>(SB), Y%d, Y%d", x, a) // x·(1/√(2π))
			emit("VFMADD213PD Y%d, Y%d, Y%d", q, e, a)        // ·e + phi
			emit("VCVTPS2PD %d(BX), Y%d", o, x)
			emit("VMULPD Y%d, Y%d, Y%d", a, x, x) // g·that
			return lines
		}
		g0, g1 := half(b, off), half(b+8, off+16)
		var out []string
		for i := range max(len(g0), len(g1)) {
			for _, gr := range [][]string{g0, g1} {
				if i < len(gr) {
					out = append(out, gr[i])
				}
			}
		}
		out = append(out,
			fmt.Sprintf("VCVTPD2PSY Y%d, X%d", b, b), fmt.Sprintf("VCVTPD2PSY Y%d, X%d", b+8, b+1),
			fmt.Sprintf("VINSERTF128 $1, X%d, Y%d, Y%d", b+1, b, b))
		if grad { // a NaN g: g
			out = append(out, fmt.Sprintf("VMOVUPS %d(BX), Y14", off), "VCMPPS $3, Y14, Y14, Y15",
				fmt.Sprintf("VBLENDVPS Y15, Y14, Y%d, Y%d", b, b))
		}
		return append(out, fmt.Sprintf("VMOVUPS %d(SI), Y14", off), "VCMPPS $3, Y14, Y14, Y15", // a NaN x: x
			fmt.Sprintf("VBLENDVPS Y15, Y14, Y%d, Y%d", b, b))
	}
}

// colPrefetch is how far ahead, in bytes, colsum prefetches each row it
// reads.
const colPrefetch = 256

// colsum writes colSum32 or colSum64 (sq: colSumSq32, colSumSq64), the
// column sums of reduceOuter (colSums in reduce.go): acc[j] for j < n gets
// the j-th elements of the m rows that rows points to, four rows at a time
// as acc[j] + ((r0[j]+r1[j]) + (r2[j]+r3[j])), then the last m mod 4 rows
// one at a time as acc[j] + r[j] (with sq, each element squared first,
// rounded: no fused multiply-add). Blocks of 16 columns, then of 4, then
// single columns (the scalar forms) are taken through all m rows while
// their accumulators stay in registers, Y0-Y3 (X0 for one column); so the
// m rows are read side by side, m streams through memory. Within a block
// the loads go row by row: loads of different rows at the same column hit
// the same L1 bank and set where rows are a multiple of 4 KiB apart.
//
// The hardware prefetchers stop at 4 KiB pages and start over at every
// row, so the blocks of 16 columns prefetch colPrefetch bytes ahead in each
// row and, near the end of the n columns, at the start of rows[m+i], the
// row that takes the place of row i in the caller's next call (rows holds
// 2m pointers; a prefetch never faults, whatever the address).
func (g *gen) colsum(dt dtype, sq bool) string {
	fn := fmt.Sprintf("colSum%d", dt.bits)
	if sq {
		fn = fmt.Sprintf("colSumSq%d", dt.bits)
	}
	l := func(s string) string { return fn + "_" + s }
	decl := fmt.Sprintf("func %s(acc *float64, rows *unsafe.Pointer, m, n int)", fn)
	g.asm("// %s\n", decl[len("func "):])
	g.asm("TEXT ·%s(SB), NOSPLIT, $0-32\n", fn)
	g.asm("\tMOVQ acc+0(FP), DI\n\tMOVQ rows+8(FP), SI\n\tMOVQ m+16(FP), DX\n\tMOVQ n+24(FP), AX\n")
	// BX: the first column of the block, AX: the columns left from it;
	// R14: colPrefetch - n*size, the offset from column BX of the
	// prefetches in the next rows.
	g.asm("\tXORQ BX, BX\n\tMOVQ AX, R14\n\tSHLQ $%d, R14\n\tNEGQ R14\n\tADDQ $%d, R14\n", map[int]int{4: 2, 8: 3}[dt.size], colPrefetch)
	rowRegs := []string{"R10", "R11", "R12", "R13"}
	// elem addresses element BX + i of the row in reg; accAt of acc.
	elem := func(reg string, i int) string {
		return fmt.Sprintf("%d(%s)(BX*%d)", i*dt.size, reg, dt.size)
	}
	accAt := func(i int) string { return fmt.Sprintf("%d(DI)(BX*8)", 8*i) }
	// block writes the loop over blocks of w columns, w/4 groups of four
	// (Y registers) or one column (X registers), while at least atLeast
	// columns are left. pf: "in" prefetches ahead in the rows, "next" in
	// the next rows, "" not at all.
	block := func(name, next string, w, atLeast int, pf string) {
		q, r, p, mov := w/4, "Y", "PD", "VMOVUPD"
		if w == 1 {
			q, r, p, mov = 1, "X", "SD", "VMOVSD"
		}
		reg := func(i int) string { return fmt.Sprintf("%s%d", r, i) }
		// load reads group c of the row in row into register t, as float64.
		load := func(row string, c, t int) {
			switch {
			case dt.bits == 32 && w == 1:
				g.asm("\tVCVTSS2SD %s, %s, %s\n", elem(row, 0), reg(t), reg(t))
			case dt.bits == 32:
				g.asm("\tVCVTPS2PD %s, %s\n", elem(row, 4*c), reg(t))
			default:
				g.asm("\t%s %s, %s\n", mov, elem(row, 4*c), reg(t))
			}
			if sq {
				g.asm("\tVMUL%s %s, %s, %s\n", p, reg(t), reg(t), reg(t))
			}
		}
		add := func(a, b int) { g.asm("\tVADD%s %s, %s, %s\n", p, reg(b), reg(a), reg(a)) }
		// prefetch fetches the block's lines ahead for the row in row, the
		// k-th from R8.
		prefetch := func(row string, k int) {
			for off := 0; off < w*dt.size; off += 64 {
				switch pf {
				case "in":
					g.asm("\tPREFETCHNTA %d(%s)(BX*%d)\n", colPrefetch+off, row, dt.size)
				case "next":
					g.asm("\tMOVQ %d(R8)(DX*8), CX\n\tADDQ R14, CX\n\tPREFETCHNTA %d(CX)(BX*%d)\n", 8*k, off, dt.size)
				}
			}
		}
		// each emits f for the groups of the block.
		each := func(f func(c int)) {
			for c := 0; c < q; c++ {
				f(c)
			}
		}
		g.asm("%s:\n\tCMPQ AX, $%d\n\tJB %s\n", l(name), atLeast, l(next))
		each(func(c int) { g.asm("\t%s %s, %s\n", mov, accAt(4*c), reg(c)) })
		g.asm("\tMOVQ SI, R8\n\tMOVQ DX, R9\n")
		// Four rows: group c sums in temporaries 4+c, 8+c and 12+c.
		t := func(k, c int) int { return 4 + 4*k + c }
		g.asm("%s:\n\tCMPQ R9, $4\n\tJB %s\n", l(name+"four"), l(name+"one"))
		for k, rr := range rowRegs {
			g.asm("\tMOVQ %d(R8), %s\n", 8*k, rr)
		}
		for k, rr := range rowRegs {
			prefetch(rr, k)
		}
		each(func(c int) { load(rowRegs[0], c, t(0, c)) })
		each(func(c int) { load(rowRegs[1], c, t(1, c)) })
		each(func(c int) { add(t(0, c), t(1, c)) }) // r0 + r1
		each(func(c int) { load(rowRegs[2], c, t(1, c)) })
		each(func(c int) { load(rowRegs[3], c, t(2, c)) })
		each(func(c int) { add(t(1, c), t(2, c)) }) // r2 + r3
		each(func(c int) { add(t(0, c), t(1, c)) }) // (r0+r1) + (r2+r3)
		each(func(c int) { add(c, t(0, c)) })       // acc + that
		g.asm("\tADDQ $32, R8\n\tSUBQ $4, R9\n\tJMP %s\n", l(name+"four"))
		// The last rows, one at a time.
		g.asm("%s:\n\tTESTQ R9, R9\n\tJEQ %s\n\tMOVQ (R8), R10\n", l(name+"one"), l(name+"store"))
		prefetch("R10", 0)
		each(func(c int) { load("R10", c, t(0, c)) })
		each(func(c int) { add(c, t(0, c)) })
		g.asm("\tADDQ $8, R8\n\tDECQ R9\n\tJMP %s\n", l(name+"one"))
		g.asm("%s:\n", l(name+"store"))
		each(func(c int) { g.asm("\t%s %s, %s\n", mov, reg(c), accAt(4*c)) })
		g.asm("\tADDQ $%d, BX\n\tSUBQ $%d, AX\n\tJMP %s\n", w, w, l(name))
	}
	// Blocks whose prefetches stay in the rows, then those that reach past
	// their ends.
	block("w16in", "w16next", 16, 16+colPrefetch/dt.size, "in")
	block("w16next", "w4", 16, 16, "next")
	block("w4", "w1", 4, 4, "")
	block("w1", "done", 1, 1, "")
	g.asm("%s:\n\tVZEROUPPER\n\tRET\n\n", l("done"))
	return decl
}
