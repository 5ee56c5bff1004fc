package kernels

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tapegrad/tapegrad/device"
)

// The op-name lists follow the device package's enums.
func TestOpNamesMatchDevice(t *testing.T) {
	check := func(kind string, names []string, str func(i int) string, past string) {
		t.Helper()
		for i, name := range names {
			if want := strings.ToLower(str(i)); name != want {
				t.Errorf("%s[%d] = %q, want %q (lower-case of %s)", kind, i, name, want, str(i))
			}
		}
		if past != "" {
			if s := str(len(names)); s != past {
				t.Errorf("%s has %d names, but the device package has more (value %d is %s)", kind, len(names), len(names), s)
			}
		}
	}
	check("UnaryOps", UnaryOps, func(i int) string { return device.UnaryOp(i).String() }, "UnaryOp(?)")
	check("ScalarOps", ScalarOps, func(i int) string { return device.ScalarOp(i).String() }, "ScalarOp(?)")
	check("BinaryOps", BinaryOps, func(i int) string { return device.BinaryOp(i).String() }, "BinaryOp(?)")
	check("ReduceOps", ReduceOps, func(i int) string { return device.ReduceOp(i).String() }, "ReduceOp(?)")
	// ArgOp's String has no out-of-range value; there are two.
	check("ArgOps", ArgOps, func(i int) string { return device.ArgOp(i).String() }, "")
	if len(ArgOps) != 2 || device.ArgMax != 0 || device.ArgMin != 1 {
		t.Errorf("ArgOps = %q, want argmax, argmin at device.ArgMax, device.ArgMin", ArgOps)
	}
	if len(Dists) != 2 || Dists[device.Uniform] != "uniform" || Dists[device.Normal] != "normal" {
		t.Errorf("Dists = %q does not follow device.Uniform, device.Normal", Dists)
	}
	if len(DTypes) != device.NumDTypes || DT(device.Float32) != "f32" || DT(device.Float64) != "f64" ||
		DT(device.Int32) != "i32" || DT(device.Int64) != "i64" ||
		DT(device.BFloat16) != "bf16" || DT(device.Float16) != "f16" {
		t.Errorf("DTypes = %q does not follow device.Float32, Float64, Int32, Int64", DTypes)
	}
	if len(Variants) != int(numVariants) || Variants[Strided] != "s" {
		t.Errorf("Variants = %q, want %d with Strided = s", Variants, numVariants)
	}
}

func TestNames(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{UnaryName(device.ReLU, device.Float32, false), "tg_unary_relu_f32"},
		{UnaryName(device.Cos, device.Float64, true), "tg_unary_cos_f64_s"},
		{ScalarName(device.RPowS, device.Float32, true), "tg_scalar_rpows_f32_s"},
		{BinaryName(device.SigmoidGrad, device.Float64, ColR), "tg_binary_sigmoidgrad_f64_colr"},
		{BinaryName(device.Add, device.Float32, Strided), "tg_binary_add_f32_s"},
		{AxpbyName(device.Float32, false), "tg_axpby_f32"},
		{WhereName(device.Float64), "tg_where_f64_s"},
		{CopyName(device.Float32, device.Float64), "tg_copy_f32_f64_s"},
		{ConvertName(device.Float64, device.Float32), "tg_convert_f64_f32"},
		{FillName(device.Float32, true), "tg_fill_f32_s"},
		{ArangeName(device.Float64), "tg_arange_f64"},
		{RandomName(device.Normal, device.Float32), "tg_random_normal_f32"},
		{ReduceName(device.Norm2, device.Float64, Final), "tg_reduce_norm2_f64_final"},
		{ArgReduceName(device.ArgMin, device.Float32), "tg_argmin_f32"},
		{GemmName(device.Float64), "tg_gemm_f64"},
		{LayerNormName(device.Float32, NormWarp), "tg_layernorm_f32_warp"},
		{LayerNormGradName(device.Float64, NormFinal), "tg_layernormgrad_f64_final"},
		{CumSumName(device.Float32, ScanCols), "tg_cumsum_f32_cols"},
		{CumSumName(device.Float64, ScanLines), "tg_cumsum_f64_lines"},
		{CopyName(device.Int64, device.Float32), "tg_copy_i64_f32_s"},
		{CopyName(device.Float64, device.BFloat16), "tg_copy_f64_bf16_s"},
		{CopyName(device.Float16, device.BFloat16), "tg_copy_f16_bf16_s"},
		{FillName(device.Float16, true), "tg_fill_f16_s"},
		{GatherName(device.Int32, device.Int64), "tg_gather_i32_i64"},
		{ScatterAddName(device.Float32, device.Int32, true), "tg_scatteradd_f32_i32_owner"},
		{CompareName(device.Le, device.Int64), "tg_compare_le_i64_s"},
		{AttentionName("dkdv", device.Float64), "tg_attn_dkdv_f64"},
		{UnaryName(device.Exp, device.BFloat16, false), "tg_unary_exp_bf16"},
		{ScalarName(device.MulS, device.Float16, true), "tg_scalar_muls_f16_s"},
		{BinaryName(device.Add, device.BFloat16, RowR), "tg_binary_add_bf16_rowr"},
		{AxpbyName(device.Float16, true), "tg_axpby_f16_s"},
		{ReduceName(device.Mean, device.BFloat16, Outer), "tg_reduce_mean_bf16_outer"},
		{HalfModule(device.BFloat16), "half_bf16"},
		{HalfModule(device.Float16), "half_f16"},
		{HalfModule(device.Float32), ""},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	// Per op-table row: 4 map kernels (dense and strided, two dtypes) or 16
	// zip kernels (8 variants, two dtypes); 18 fixed ones (axpby, where,
	// fill, arange, copy, convert).
	ew := 4*device.NumUnaryOps + 4*device.NumScalarOps + 16*device.NumBinaryOps + 18
	// A half module: 2 map kernels per unary or scalar row, 8 zip kernels
	// per binary row, axpby (2) and the reductions (5 ops, 3 passes).
	half := 2*device.NumUnaryOps + 2*device.NumScalarOps + 8*device.NumBinaryOps + 2 + 15
	counts := map[string]int{Elementwise: ew, Random: 4, Reduce: 34, Gemm: 2, NN: 18, Scan: 4, Index: 70, LayerNorm: 12, Attention: 8,
		HalfBF16: half, HalfF16: half}
	seen := map[string]bool{}
	for _, m := range ModuleNames {
		ks := Kernels(m)
		if len(ks) != counts[m] {
			t.Errorf("module %s: %d kernels, want %d", m, len(ks), counts[m])
		}
		for _, k := range ks {
			if seen[k.Name] {
				t.Errorf("kernel %s listed twice", k.Name)
			}
			seen[k.Name] = true
		}
	}
	if Kernels("nope") != nil {
		t.Error(`Kernels("nope") != nil`)
	}
	if _, err := PTX("nope"); err == nil {
		t.Error(`PTX("nope") gave no error`)
	}
}

// The sizes in Args are those written in tg_args.h.
func TestArgSizesMatchHeader(t *testing.T) {
	h, err := os.ReadFile("tg_args.h")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^\}\s*(Tg\w+);\s*//\s*(\d+) bytes`)
	sizes := map[string]int{}
	for _, m := range re.FindAllStringSubmatch(string(h), -1) {
		sizes[m[1]], _ = strconv.Atoi(m[2])
	}
	for _, a := range Args {
		if s, ok := sizes[a.Name]; !ok {
			t.Errorf("%s is not in tg_args.h", a.Name)
		} else if s != a.Size {
			t.Errorf("%s: %d bytes here, %d in tg_args.h", a.Name, a.Size, s)
		}
		delete(sizes, a.Name)
	}
	if sizes["TgErrRecord"] != ErrRecordSize {
		t.Errorf("TgErrRecord: %d bytes in tg_args.h, ErrRecordSize %d", sizes["TgErrRecord"], ErrRecordSize)
	}
	for name := range sizes {
		if name != "TgShape" && name != "TgView" && name != "TgConvGeom" && name != "TgErrRecord" {
			t.Errorf("tg_args.h defines %s, which Args does not list", name)
		}
	}
}

var (
	entryRE = regexp.MustCompile(`(?m)^(?:\.visible\s+|\.weak\s+)?\.entry\s+(\w+)\(([^)]*)\)`)
	paramRE = regexp.MustCompile(`^\.param \.align 8 \.b8 (\w+)\[(\d+)\]$`)
)

// Each embedded module has exactly the expected entries, each with a single
// by-value parameter of its argument struct's size.
func TestPTXEntries(t *testing.T) {
	for _, m := range ModuleNames {
		text, err := PTX(m)
		if err != nil {
			t.Fatal(err)
		}
		for _, dir := range []string{".version 7.8", ".target sm_80", ".address_size 64"} {
			if !strings.Contains(text, "\n"+dir+"\n") {
				t.Errorf("%s.ptx: no %q line", m, dir)
			}
		}
		want := map[string]int{}
		for _, k := range Kernels(m) {
			want[k.Name] = k.Args.Size
		}
		found := map[string]bool{}
		for _, e := range entryRE.FindAllStringSubmatch(text, -1) {
			name := e[1]
			if found[name] {
				t.Errorf("%s.ptx: entry %s twice", m, name)
			}
			found[name] = true
			size, ok := want[name]
			if !ok {
				t.Errorf("%s.ptx: unexpected entry %s", m, name)
				continue
			}
			params := strings.FieldsFunc(strings.TrimSpace(e[2]), func(r rune) bool { return r == ',' || r == '\n' })
			for i := range params {
				params[i] = strings.TrimSpace(params[i])
			}
			params = slices.DeleteFunc(params, func(s string) bool { return s == "" })
			if len(params) != 1 {
				t.Errorf("%s.ptx: %s has %d parameters, want 1: %q", m, name, len(params), params)
				continue
			}
			pm := paramRE.FindStringSubmatch(params[0])
			if pm == nil {
				t.Errorf("%s.ptx: %s: parameter %q is not .param .align 8 .b8 NAME[SIZE]", m, name, params[0])
				continue
			}
			if got, _ := strconv.Atoi(pm[2]); got != size {
				t.Errorf("%s.ptx: %s takes %d bytes, want %d", m, name, got, size)
			}
		}
		for name := range want {
			if !found[name] {
				t.Errorf("%s.ptx: entry %s missing", m, name)
			}
		}
		if n := strings.Count(text, ".entry "); n != len(found) {
			t.Errorf("%s.ptx: %d .entry directives, %d parsed", m, n, len(found))
		}
	}
}
