#!/usr/bin/env python3
"""PyTorch peer benchmark for tapegrad (same workloads and JSON schema as the
Go peers in bench/peers/gorgonia and bench/peers/gomlx).

    python3 torch_bench.py [--device cuda|cpu] [--quick] [--json FILE]
                           [--cases REGEXP] [--no-compile] [--selftest]

Every case runs in eager mode; unless --no-compile, a "compile" entry is also
measured with torch.compile (default inductor mode, dynamic=False); a compile
failure is recorded as a skipped entry with the reason.

Timing: a warm-up (>= 3 runs and >= 100 ms; 20 ms with --quick), then
repetitions until ~0.2 s are covered (>= 5 reps). A repetition is a batch of
back-to-back calls lasting >= 1 ms; its time is the batch time over the batch
size (so sub-microsecond kernels are resolved). On CUDA a repetition is timed
with torch.cuda.Event pairs; on CPU with time.perf_counter_ns. The median,
min and max over repetitions are reported, per call.

Inputs that fit in 50 MB (an H100's L2 is 50 MB) rotate among several copies
(enough for > 100 MB of inputs, at most 16; at most 4 for matmul) so that a
cache does not flatter the result; the case note says so. fp32 matmuls run
with torch.set_float32_matmul_precision("highest") (no TF32).
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import statistics
import sys
import time
import traceback

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # allows --help and py_compile without torch
    torch = None

L2_BYTES = 50 << 20

ELEMENTWISE_KINDS = [
    "copy", "unary/exp", "unary/tanh", "unary/relu", "binary/add", "binary/mul", "scalar/mul",
    "broadcast/row/add", "broadcast/col/add", "reduce/sum/all", "reduce/sum/inner", "reduce/sum/outer", "norm",
]


def rotate_copies(input_bytes, cap=16):
    """Copies to rotate through: enough for > 2x50 MB of inputs, at most cap."""
    if input_bytes <= 0 or input_bytes > L2_BYTES:
        return 1
    return max(1, min(cap, -(-2 * L2_BYTES // input_bytes)))


def rot_note(k):
    return "inputs rotate among %d copies" % k if k > 1 else ""


def join_notes(*parts):
    return "; ".join(p for p in parts if p)


class Options:
    def __init__(self, args):
        self.quick = args.quick or args.selftest
        self.selftest = args.selftest
        self.device = args.device
        self.compile = not args.no_compile
        self.cases = re.compile(args.cases) if args.cases else None
        self.json = args.json
        self.reps_min = 5
        self.reps_max = 2000
        self.rep_min_s = 1e-3
        self.warmup_runs = 3
        if args.selftest:
            self.warmup_s, self.target_s, self.budget_s = 0.001, 0.005, 0.3
            self.reps_min, self.warmup_runs = 2, 1
        elif self.quick:
            self.warmup_s, self.target_s, self.budget_s = 0.02, 0.05, 1.0
        else:
            self.warmup_s, self.target_s, self.budget_s = 0.1, 0.2, 10.0

    def cuda(self):
        return self.device.startswith("cuda")

    def sizes(self):
        if self.quick:
            return [1024, 65536, 1048576]
        s = [1024, 65536, 1048576, 16777216]
        if self.cuda():
            s.append(67108864)
        return s

    def matmul_shapes(self):
        sq = [256, 512, 1024, 2048] + ([4096] if self.cuda() else [])
        shapes = [(n, n, n) for n in sq] + [(256, 784, 512), (256, 512, 10)]
        if self.quick:
            lim = 1 << 20
            shapes = [s for s in shapes if s[0] * s[1] <= lim and s[1] * s[2] <= lim and s[0] * s[2] <= lim]
        return shapes

    def want(self, name):
        return self.cases is None or self.cases.search(name) is not None


SELFTEST_CASES = (r"^(copy/1024|unary/(exp|relu)/1024|binary/add/1024|scalar/mul/1024|broadcast/(row|col)/add/1024|"
                  r"reduce/sum/(all|inner|outer)/1024|norm/1024|matmul/256x512x10|seed/1024|layernorm/4096x128|overhead/op|mlp/step)$")


class Timer:
    """Times fn(i) (i is a running call index, used to rotate inputs)."""

    def __init__(self, opt):
        self.opt = opt
        self.cuda = opt.cuda()

    def _sync(self):
        if self.cuda:
            torch.cuda.synchronize()

    def run(self, fn):
        opt = self.opt
        i = 0
        # Warm-up, estimating the cost of one call.
        self._sync()
        t0 = time.perf_counter()
        n = 0
        while n < opt.warmup_runs or time.perf_counter() - t0 < opt.warmup_s:
            fn(i)
            i += 1
            n += 1
            if n % 8 == 0 or n < 8:
                self._sync()
            if time.perf_counter() - t0 > opt.budget_s:
                break
        self._sync()
        per = (time.perf_counter() - t0) / n
        batch = 1 if per >= opt.rep_min_s else int(opt.rep_min_s / max(per, 1e-9)) + 1
        samples = []
        total = 0.0
        if self.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        while len(samples) < opt.reps_min or (total < opt.target_s and len(samples) < opt.reps_max):
            if self.cuda:
                start.record()
                for _ in range(batch):
                    fn(i)
                    i += 1
                end.record()
                end.synchronize()
                d = start.elapsed_time(end) * 1e-3
            else:
                t = time.perf_counter_ns()
                for _ in range(batch):
                    fn(i)
                    i += 1
                d = (time.perf_counter_ns() - t) * 1e-9
            total += d
            samples.append(d / batch)
            if total > opt.budget_s and len(samples) >= min(3, opt.reps_min):
                break
        samples.sort()
        return statistics.median(samples), samples[0], samples[-1], len(samples)


class Runner:
    def __init__(self, opt):
        self.opt = opt
        self.timer = Timer(opt)
        self.cases = []
        self.start = time.time()
        dev = torch.device(opt.device)
        if opt.cuda():
            machine = torch.cuda.get_device_name(dev)
        else:
            machine = cpu_model()
        self.report = {
            "peer": "torch",
            "version": torch.__version__ + (" (CUDA %s)" % torch.version.cuda if opt.cuda() and torch.version.cuda
                                            else " (BLAS: %s)" % blas_library()),
            "device": "cuda" if opt.cuda() else "cpu",
            "machine": machine,
            "date": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
            "mode": "eager",
            "cases": self.cases,
        }

    def add(self, case):
        case.setdefault("dtype", "float32")
        case = {k: v for k, v in case.items() if v not in (None, "", 0) or k in ("name",)}
        case.setdefault("dtype", "float32")
        self.cases.append(case)
        if case.get("skipped"):
            print("%-28s %-8s skipped: %s" % (case["name"], case.get("mode", ""), case["skipped"]), file=sys.stderr)
        else:
            extra = "  %10.3f %s" % (case["value"], case["unit"]) if case.get("unit") else ""
            print("%-28s %-8s median %12s  (min %s, max %s, %d reps)%s" % (
                case["name"], case.get("mode", ""), fmt_ns(case["median_ns"]), fmt_ns(case["min_ns"]),
                fmt_ns(case["max_ns"]), case["reps"], extra), file=sys.stderr)

    def measure(self, case, fn, check=None, value_fn=None, setup=None):
        """Times fn(i) for case (a dict with name, mode, size, bytes/flops/note).

        setup() (optional) builds the callable: for compile entries it runs
        torch.compile, and any failure (compile or check) becomes "skipped".
        check(fn) (optional) runs the callable on every input copy and raises
        if a result is wrong; a string it returns is added to the note.
        """
        case = dict(case)
        try:
            if setup is not None:
                fn = setup()
            if check is not None:
                extra = check(fn)
                if isinstance(extra, str) and extra:
                    case["note"] = join_notes(case.get("note", ""), extra)
            med, lo, hi, reps = self.timer.run(fn)
        except Exception as e:  # noqa: BLE001 - recorded in the JSON
            msg = "%s: %s" % (type(e).__name__, str(e).strip().splitlines()[0] if str(e).strip() else "")
            case["skipped"] = msg[:300]
            if os.environ.get("TORCH_BENCH_TRACE"):
                traceback.print_exc()
            self.add(case)
            return
        case["median_ns"] = max(1, int(round(med * 1e9)))
        case["min_ns"] = int(round(lo * 1e9))
        case["max_ns"] = int(round(hi * 1e9))
        case["reps"] = reps
        if value_fn is not None:
            case["value"] = round(value_fn(med), 3)
        elif case.get("flops"):
            case["value"], case["unit"] = round(case["flops"] / case["median_ns"], 3), "GFLOP/s"
        elif case.get("bytes"):
            case["value"], case["unit"] = round(case["bytes"] / case["median_ns"], 3), "GB/s"
        self.add(case)

    def finish(self):
        print("torch: %d cases in %.1fs" % (len(self.cases), time.time() - self.start), file=sys.stderr)
        errs = validate(self.report)
        if errs:
            raise SystemExit("result does not match the schema:\n  " + "\n  ".join(errs))
        if self.opt.json:
            with open(self.opt.json, "w") as f:
                json.dump(self.report, f, indent=2)
                f.write("\n")
            print("wrote %s" % self.opt.json, file=sys.stderr)


SCHEMA_CASE_FIELDS = {"name", "mode", "size", "dtype", "median_ns", "min_ns", "max_ns", "reps", "bytes", "flops",
                      "value", "unit", "note", "skipped"}
SCHEMA_TOP_FIELDS = {"peer", "version", "device", "machine", "date", "go", "mode", "cases"}


def validate(rep):
    """The same checks as ValidateJSON in bench/internal/peerkit."""
    errs = []
    for k in set(rep) - SCHEMA_TOP_FIELDS:
        errs.append("unknown field %r" % k)
    for k in ("peer", "version", "device", "machine", "date", "mode"):
        if not rep.get(k):
            errs.append("missing %r" % k)
    try:
        datetime.datetime.strptime(rep.get("date", ""), "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        errs.append("date is not RFC3339 UTC: %r" % rep.get("date"))
    cases = rep.get("cases") or []
    if not cases:
        errs.append("no cases")
    seen = set()
    for i, c in enumerate(cases):
        cid = "case %d (%s)" % (i, c.get("name"))
        for k in set(c) - SCHEMA_CASE_FIELDS:
            errs.append("%s: unknown field %r" % (cid, k))
        if not c.get("name"):
            errs.append(cid + ": no name")
        key = (c.get("name"), c.get("mode"))
        if key in seen:
            errs.append(cid + ": duplicate name+mode")
        seen.add(key)
        if not c.get("size") and not c.get("value"):
            errs.append(cid + ": neither size nor value")
        if not c.get("dtype"):
            errs.append(cid + ": no dtype")
        if c.get("skipped"):
            continue
        if not c.get("median_ns", 0) > 0 or not c.get("reps", 0) > 0:
            errs.append(cid + ": median_ns and reps must be > 0")
        elif not c.get("min_ns", 0) <= c["median_ns"] <= c.get("max_ns", 0):
            errs.append(cid + ": want min_ns <= median_ns <= max_ns")
        if c.get("value") and not c.get("unit"):
            errs.append(cid + ": value without unit")
        v = c.get("value", 0)
        if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
            errs.append(cid + ": bad value")
    return errs


def blas_library():
    """The BLAS library this process loaded for torch's CPU matrix products
    (Debian's torch links libblas.so.3, which the alternatives system points
    at OpenBLAS or at the 20-times-slower reference BLAS), from
    /proc/self/maps after one product; "unknown" elsewhere."""
    a = torch.ones(8, 8)
    (a @ a).sum().item()
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                if "blas" in os.path.basename(path) or "mkl" in os.path.basename(path):
                    libs.add(os.path.realpath(path))
    except OSError:
        return "unknown"
    if not libs:
        return "unknown (none of this process's libraries is a BLAS)"
    kind = "OpenBLAS" if any("openblas" in p for p in libs) else (
        "MKL" if any("mkl" in p for p in libs) else "reference BLAS or other")
    return "%s: %s" % (kind, ", ".join(sorted(libs)))


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return "%s (%d logical CPUs)" % (line.split(":", 1)[1].strip(), os.cpu_count() or 0)
    except OSError:
        pass
    return "%s (%d logical CPUs)" % (platform.processor() or platform.machine(), os.cpu_count() or 0)


def fmt_ns(ns):
    if ns >= 1e9:
        return "%.3fs" % (ns / 1e9)
    if ns >= 1e6:
        return "%.3fms" % (ns / 1e6)
    if ns >= 1e3:
        return "%.3fus" % (ns / 1e3)
    return "%dns" % ns


# ---------------------------------------------------------------- workloads

def modes(opt):
    return ["eager", "compile"] if opt.compile else ["eager"]


def compiled(fn):
    """torch.compile with a clean dynamo cache (each case has its own shapes)."""
    torch._dynamo.reset()
    return torch.compile(fn, dynamic=False)


def assert_close(got, want, tol, what):
    got = got.detach().double().cpu().flatten()
    want = want.detach().double().cpu().flatten()
    if got.shape != want.shape:
        raise AssertionError("%s: shape %s, want %s" % (what, tuple(got.shape), tuple(want.shape)))
    err = ((got - want).abs() / (1 + want.abs())).max().item() if got.numel() else 0.0
    if not err <= tol:
        raise AssertionError("%s: max relative error %.3g > %.3g" % (what, err, tol))


def check_reduce(got, want, scale, what):
    """Like checkReduce in the Go peers: fail if off by > 5% of the scale of
    the reduced terms; return a note if off the float64 reference by > 1e-4
    (relative), since that is the peer's float32 accumulation accuracy."""
    got = got.detach().double().cpu().flatten()
    want = want.detach().double().cpu().flatten()
    scale = scale.detach().double().cpu().flatten()
    if got.shape != want.shape:
        raise AssertionError("%s: shape %s, want %s" % (what, tuple(got.shape), tuple(want.shape)))
    d = (got - want).abs()
    if bool((d > 0.05 * scale + 1e-6).any()):
        i = int(torch.argmax(d - 0.05 * scale))
        raise AssertionError("%s: element %d = %g, want %g" % (what, i, got[i].item(), want[i].item()))
    rel = d / want.abs().clamp(min=1)
    i = int(torch.argmax(rel))
    if rel[i].item() > 1e-4:
        return "float32 accuracy: element %d = %.7g, float64 reference %.7g (relative error %.2g)" % (
            i, got[i].item(), want[i].item(), rel[i].item())
    return ""


def elementwise(r, n):
    opt = r.opt
    dev = torch.device(opt.device)
    rows, cols = n // 1024, 1024
    g = torch.Generator(device="cpu").manual_seed(n)

    def rand(*shape):
        return (torch.rand(*shape, generator=g) * 2 - 1).to(dev)

    specs = []  # (kind, n_inputs builder, fn, ref(float64 inputs), bytes, note, tol)
    one = lambda: [rand(n)]  # noqa: E731
    specs.append(("unary/exp", one, lambda x: torch.exp(x), lambda x: torch.exp(x), 8 * n, "", 1e-5))
    specs.append(("unary/tanh", one, lambda x: torch.tanh(x), lambda x: torch.tanh(x), 8 * n, "", 1e-5))
    specs.append(("unary/relu", one, lambda x: torch.relu(x), lambda x: torch.relu(x), 8 * n, "", 0))
    specs.append(("scalar/mul", one, lambda x: x * 2.0, lambda x: x * 2.0, 8 * n, "", 0))
    two = lambda: [rand(n), rand(n)]  # noqa: E731
    specs.append(("binary/add", two, lambda a, b: a + b, lambda a, b: a + b, 12 * n, "", 1e-6))
    specs.append(("binary/mul", two, lambda a, b: a * b, lambda a, b: a * b, 12 * n, "", 1e-6))
    specs.append(("broadcast/row/add", lambda: [rand(rows, cols), rand(cols)], lambda x, b: x + b,
                  lambda x, b: x + b, 8 * n + 4 * cols, "[R,1024] + [1024]", 1e-6))
    specs.append(("broadcast/col/add", lambda: [rand(rows, cols), rand(rows, 1)], lambda x, b: x + b,
                  lambda x, b: x + b, 8 * n + 4 * rows, "[R,1024] + [R,1]", 1e-6))
    # Reductions: ref returns (float64 result, scale of the reduced terms) and
    # the check is check_reduce (tol None).
    mat = lambda: [rand(rows, cols)]  # noqa: E731
    specs.append(("reduce/sum/all", mat, lambda x: x.sum(), lambda x: (x.sum(), x.abs().sum()), 4 * n, "", None))
    specs.append(("reduce/sum/inner", mat, lambda x: x.sum(dim=1), lambda x: (x.sum(dim=1), x.abs().sum(dim=1)),
                  4 * n, "", None))
    specs.append(("reduce/sum/outer", mat, lambda x: x.sum(dim=0), lambda x: (x.sum(dim=0), x.abs().sum(dim=0)),
                  4 * n, "", None))
    specs.append(("norm", one, lambda x: torch.linalg.vector_norm(x),
                  lambda x: (torch.linalg.vector_norm(x), torch.linalg.vector_norm(x)),
                  4 * n, "torch.linalg.vector_norm", None))

    # copy: dst.copy_(src); (src, dst) pairs rotate together.
    name = "copy/%d" % n
    if opt.want(name):
        k = rotate_copies(4 * n)
        pairs = [(rand(n), torch.empty(n, device=dev)) for _ in range(k)]

        def copy_fn(s, d):
            d.copy_(s)
            return d

        for mode in modes(opt):
            holder = {}

            def setup(mode=mode, holder=holder):
                holder["f"] = compiled(copy_fn) if mode == "compile" else copy_fn
                return lambda i: holder["f"](*pairs[i % k])

            def check(fn, holder=holder):
                for j, (s, d) in enumerate(pairs):
                    d.zero_()
                    fn(j)
                    assert_close(d, s, 0, "copy")

            r.measure({"name": name, "mode": mode, "size": n, "bytes": 8 * n, "note": rot_note(k)},
                      None, check=check, setup=setup)
        del pairs

    for kind, build, fn, ref, nbytes, note, tol in specs:
        name = "%s/%d" % (kind, n)
        if not opt.want(name):
            continue
        first = build()
        k = rotate_copies(sum(t.numel() * 4 for t in first))
        inputs = [first] + [build() for _ in range(k - 1)]
        for mode in modes(opt):
            holder = {}

            def setup(mode=mode, fn=fn, holder=holder, inputs=inputs, k=k):
                holder["f"] = compiled(fn) if mode == "compile" else fn
                return lambda i: holder["f"](*inputs[i % k])

            def check(f, inputs=inputs, ref=ref, tol=tol, kind=kind):
                note = ""
                for j, ins in enumerate(inputs):
                    want = ref(*[t.double() for t in ins])
                    if tol is None:
                        note = check_reduce(f(j), want[0], want[1], kind) or note
                    else:
                        assert_close(f(j), want, tol, kind)
                return note

            r.measure({"name": name, "mode": mode, "size": n, "bytes": nbytes, "note": join_notes(note, rot_note(k))},
                      None, check=check, setup=setup)
        del inputs, first


def matmul(r, m, kk, n):
    opt = r.opt
    name = "matmul/%dx%dx%d" % (m, kk, n)
    if not opt.want(name):
        return
    dev = torch.device(opt.device)
    g = torch.Generator(device="cpu").manual_seed(m * 7 + kk * 3 + n)
    k = rotate_copies(4 * (m * kk + kk * n), cap=4)
    inputs = [((torch.rand(m, kk, generator=g) * 2 - 1).to(dev), (torch.rand(kk, n, generator=g) * 2 - 1).to(dev))
              for _ in range(k)]

    def mm(a, b):
        return a @ b

    for mode in modes(opt):
        holder = {}

        def setup(mode=mode, holder=holder):
            holder["f"] = compiled(mm) if mode == "compile" else mm
            return lambda i: holder["f"](*inputs[i % k])

        def check(f):
            for j, (a, b) in enumerate(inputs):
                assert_close(f(j), a.double() @ b.double(), 1e-3, "matmul")

        r.measure({"name": name, "mode": mode, "size": m * n, "flops": 2 * m * kk * n,
                   "note": join_notes("fp32, TF32 off", rot_note(k))}, None, check=check, setup=setup)


def seed(r, n):
    """x attached to grad; y = sum(2*x*x); y.backward() per iteration."""
    opt = r.opt
    name = "seed/%d" % n
    if not opt.want(name):
        return
    dev = torch.device(opt.device)
    g = torch.Generator(device="cpu").manual_seed(7)
    x = (torch.rand(n, generator=g) * 2 - 1).to(dev).requires_grad_(True)

    def fwd(x):
        return (2 * x * x).sum()

    for mode in modes(opt):
        holder = {}

        def setup(mode=mode, holder=holder):
            holder["f"] = compiled(fwd) if mode == "compile" else fwd

            def step(i):
                x.grad = None
                holder["f"](x).backward()
            return step

        def check(step):
            step(0)
            assert_close(x.grad, 4 * x.detach().double(), 1e-6, "seed grad")

        note = "y = sum(2*x*x); y.backward(); x.grad = None per iteration"
        if mode == "compile":
            note += "; forward compiled, backward by AOTAutograd"
        r.measure({"name": name, "mode": mode, "size": n, "note": note}, None, check=check, setup=setup)


def layernorm_shapes(opt):
    """The [rows, cols] of the layernorm cases: the charlm example's
    activations (32*128 tokens of 128) and 4096x1024 (not with -quick)."""
    return [(4096, 128)] if opt.quick else [(4096, 128), (4096, 1024)]


def layernorm(r, rows, cols):
    """F.layer_norm over the last axis with weight and bias, forward and
    backward (dx, dweight, dbias) for a fixed head gradient."""
    opt = r.opt
    name = "layernorm/%dx%d" % (rows, cols)
    if not opt.want(name):
        return
    dev = torch.device(opt.device)
    g = torch.Generator(device="cpu").manual_seed(rows + cols)
    x = torch.randn(rows, cols, generator=g).to(dev).requires_grad_(True)
    w = (torch.rand(cols, generator=g) + 0.5).to(dev).requires_grad_(True)
    b = (torch.rand(cols, generator=g) * 2 - 1).to(dev).requires_grad_(True)
    head = torch.randn(rows, cols, generator=g).to(dev)

    def fwd(x, w, b):
        return F.layer_norm(x, (cols,), w, b, 1e-5)

    # Reference gradients in float64 by autograd.
    xd, wd, bd = (t.detach().double().requires_grad_(True) for t in (x, w, b))
    fwd(xd, wd, bd).backward(head.double())
    want = [t.grad.detach() for t in (xd, wd, bd)]

    for mode in modes(opt):
        holder = {}

        def setup(mode=mode, holder=holder):
            holder["f"] = compiled(fwd) if mode == "compile" else fwd

            def step(i):
                x.grad = w.grad = b.grad = None
                holder["f"](x, w, b).backward(head)
            return step

        def check(step):
            step(0)
            for got, wnt, what in zip((x.grad, w.grad, b.grad), want, ("dx", "dweight", "dbias")):
                assert_close(got, wnt, 1e-3, "layernorm " + what)

        note = "F.layer_norm over the last axis, weight and bias, eps 1e-5; backward for a fixed head gradient; grads set to None per iteration; bytes = 20*rows*cols (read x, dy, x; write y, dx)"
        if mode == "compile":
            note += "; forward compiled, backward by AOTAutograd"
        r.measure({"name": name, "mode": mode, "size": rows * cols, "bytes": 20 * rows * cols, "note": note}, None,
                  check=check, setup=setup)


def overhead(r):
    """100 elementwise ops (50 x {tanh, add x}) on 16 elements + sum, fwd+bwd."""
    opt = r.opt
    name = "overhead/op"
    if not opt.want(name):
        return
    dev = torch.device(opt.device)
    g = torch.Generator(device="cpu").manual_seed(3)
    x = ((torch.rand(16, generator=g) * 2 - 1) * 0.1).to(dev).requires_grad_(True)
    pairs = 50

    def chain(x):
        y = x
        for _ in range(pairs):
            y = torch.tanh(y) + x
        return y.sum()

    # Reference gradient in float64 by autograd.
    xd = x.detach().double().requires_grad_(True)
    chain(xd).backward()
    want = xd.grad.detach()

    for mode in modes(opt):
        holder = {}

        def setup(mode=mode, holder=holder):
            holder["f"] = compiled(chain) if mode == "compile" else chain

            def step(i):
                x.grad = None
                holder["f"](x).backward()
            return step

        def check(step):
            step(0)
            assert_close(x.grad, want, 1e-4, "overhead grad")

        note = "100 ops = 50x(tanh, add x) on [16], then sum; recorded and differentiated each run; value = median/100"
        if mode == "compile":
            note = "compiled (fused) chain: " + note
        r.measure({"name": name, "mode": mode, "size": 16, "unit": "ns/op", "note": note}, None, check=check,
                  setup=setup, value_fn=lambda med: med * 1e9 / (2 * pairs))


def mlp(r):
    """784-512-10, batch 256, ReLU, cross-entropy with int labels, SGD 0.01."""
    opt = r.opt
    name = "mlp/step"
    if not opt.want(name):
        return
    dev = torch.device(opt.device)
    batch, n_in, hid, n_out = 256, 784, 512, 10
    g = torch.Generator(device="cpu").manual_seed(11)
    x = (torch.rand(batch, n_in, generator=g) * 2 - 1).to(dev)
    labels = torch.tensor([(i * 7 + 3) % n_out for i in range(batch)], dtype=torch.long, device=dev)

    for mode in modes(opt):
        holder = {}

        def setup(mode=mode, holder=holder):
            torch.manual_seed(0)
            model = torch.nn.Sequential(torch.nn.Linear(n_in, hid), torch.nn.ReLU(), torch.nn.Linear(hid, n_out)).to(dev)
            sgd = torch.optim.SGD(model.parameters(), lr=0.01)

            def loss_fn(x, labels):
                return F.cross_entropy(model(x), labels)

            f = compiled(loss_fn) if mode == "compile" else loss_fn
            holder["losses"] = []

            def step(i, record=False):
                sgd.zero_grad(set_to_none=True)
                loss = f(x, labels)
                loss.backward()
                sgd.step()
                if record:
                    holder["losses"].append(loss.item())
            return step

        def check(step, holder=holder):
            for _ in range(3):
                step(0, record=True)
            ls = holder["losses"]
            if not all(b < a for a, b in zip(ls, ls[1:])) or not ls[-1] < 10:
                raise AssertionError("loss not decreasing: %s" % ls)

        note = ("784-512-10, batch 256, nn.Linear+ReLU, F.cross_entropy with int64 labels, "
                "torch.optim.SGD lr 0.01 (zero_grad, forward, backward, step)")
        if mode == "compile":
            note += "; model+loss compiled, backward by AOTAutograd, optimizer step eager"
        r.measure({"name": name, "mode": mode, "size": batch, "unit": "steps/s", "note": note}, None,
                  check=check, setup=setup, value_fn=lambda med: 1.0 / med)


ATTENTION_HEADS, ATTENTION_DIM = 4, 32


def attention_lengths(opt):
    return [128] if opt.quick else [128, 512, 2048]


def attention_batch(t):
    return 32 if t <= 128 else 4 if t <= 512 else 1


def attention(r, t):
    """Causal attention on q, k, v [B, 4, T, 32], forward and backward."""
    opt = r.opt
    name = "attention/%d" % t
    if not opt.want(name):
        return
    dev = torch.device(opt.device)
    b, h, d = attention_batch(t), ATTENTION_HEADS, ATTENTION_DIM
    g = torch.Generator(device="cpu").manual_seed(t)
    q, k, v, dout = [(torch.rand(b, h, t, d, generator=g) * 2 - 1).to(dev) for _ in range(4)]
    for x in (q, k, v):
        x.requires_grad_(True)
    scale = 1 / math.sqrt(d)
    mask = torch.ones(t, t, dtype=torch.bool, device=dev).triu(1)
    fused = hasattr(F, "scaled_dot_product_attention")

    def composed(q, k, v):
        s = (q @ k.transpose(-2, -1)) * scale
        return torch.softmax(s.masked_fill(mask, float("-inf")), dim=-1) @ v

    def sdpa(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True) if fused else composed(q, k, v)

    for mode in modes(opt):
        def setup(mode=mode):
            f = compiled(sdpa) if mode == "compile" else sdpa

            def step(i):
                for x in (q, k, v):
                    x.grad = None
                y = f(q, k, v)
                y.backward(dout)
                return y
            return step

        def check(step):
            y = step(0)
            qd, kd, vd, gd = (x.detach().double() for x in (q, k, v, dout))
            qd.requires_grad_(True)
            s = (qd @ kd.transpose(-2, -1)) * scale
            yd = torch.softmax(s.masked_fill(mask, float("-inf")), dim=-1) @ vd
            yd.backward(gd)
            assert_close(y.detach(), yd.detach(), 1e-4, "attention out")
            assert_close(q.grad, qd.grad, 1e-4, "attention dq")

        how = ("F.scaled_dot_product_attention(is_causal=True)" if fused else
               "composed: q @ k.T * scale, masked_fill(-inf), softmax, @ v (this torch has no "
               "F.scaled_dot_product_attention, which came in 2.0)")
        note = "causal, q k v [%d, %d, %d, %d], %s, forward+backward; flops 6*B*H*T^2*D" % (b, h, t, d, how)
        r.measure({"name": name, "mode": mode, "size": t, "flops": 6 * b * h * t * t * d, "note": note}, None,
                  check=check, setup=setup)


def fashion_dir():
    """The Fashion-MNIST directory: $TAPEGRAD_FASHION_MNIST, Debian's, or the
    repository's .cache/fashion-mnist (scripts/fashion-mnist.sh)."""
    here = os.path.dirname(os.path.abspath(__file__))
    for d in (os.environ.get("TAPEGRAD_FASHION_MNIST", ""), "/usr/share/datasets/fashion-mnist",
              os.path.join(here, "..", "..", ".cache", "fashion-mnist")):
        if d and os.path.exists(os.path.join(d, "train-images-idx3-ubyte.gz")):
            return d
    return None


def read_idx(path):
    import gzip
    import struct
    with gzip.open(path, "rb") as f:
        b = f.read()
    magic, = struct.unpack(">I", b[:4])
    nd = magic & 0xFF
    dims = struct.unpack(">" + "I" * nd, b[4:4 + 4 * nd])
    return torch.frombuffer(bytearray(b[4 + 4 * nd:]), dtype=torch.uint8).reshape(dims)


def fashion_epoch(r):
    """One epoch of the Fashion-MNIST MLP 784-256-128-10, batch 128, Adam 1e-3,
    as tapegrad's harness runs it (loss read every step)."""
    opt = r.opt
    name = "fashion/epoch"
    if not opt.want(name):
        return
    note = ("Fashion-MNIST, MLP 784-256-128-10, batch 128, torch.optim.Adam lr 1e-3, one epoch after 20 "
            "warm-up steps, loss.item() every step")
    d = fashion_dir()
    if d is None:
        # The schema wants a size or a value: the images one epoch would take.
        r.add({"name": name, "mode": "eager", "note": note, "size": 6000 if opt.quick else 60000,
               "skipped": "dataset not available (bash scripts/fashion-mnist.sh, or TAPEGRAD_FASHION_MNIST)"})
        return
    dev = torch.device(opt.device)
    x = read_idx(os.path.join(d, "train-images-idx3-ubyte.gz")).reshape(-1, 784).to(dev).float().div_(255)
    y = read_idx(os.path.join(d, "train-labels-idx1-ubyte.gz")).to(dev).long()
    if opt.quick:
        x, y = x[:6000], y[:6000]
    n = x.shape[0]
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128),
                                torch.nn.ReLU(), torch.nn.Linear(128, 10)).to(dev)
    adam = torch.optim.Adam(model.parameters(), lr=1e-3)

    def epoch(seed, limit=None):
        g = torch.Generator(device="cpu").manual_seed(seed)
        perm = torch.randperm(n, generator=g).to(dev)
        losses = []
        for k, lo in enumerate(range(0, n, 128)):
            if limit is not None and k == limit:
                break
            idx = perm[lo:lo + 128]
            adam.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            adam.step()
            losses.append(loss.item())
        return losses

    epoch(99, limit=20)
    if opt.cuda():
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    losses = epoch(1)
    if opt.cuda():
        torch.cuda.synchronize()
    sec = time.perf_counter() - t0
    if not losses[-1] < losses[0]:
        r.add({"name": name, "mode": "eager", "note": note, "size": n,
               "skipped": "loss not decreasing: %s -> %s" % (losses[0], losses[-1])})
        return
    ns = int(sec * 1e9)
    r.add({"name": name, "mode": "eager", "size": n, "median_ns": ns, "min_ns": ns, "max_ns": ns, "reps": 1,
           "value": round(n / sec, 3), "unit": "images/s",
           "note": note + "; %d steps, loss %.3f -> %.3f" % (len(losses), losses[0], losses[-1])})


CHARLM = dict(vocab=114, layers=4, heads=4, width=128, context=128, batch=32)
EMBEDDING_SHAPES = [(114, 128, 32, 128), (8192, 512, 8, 512)]  # vocab, width, batch, context


def charlm_flops():
    """Multiply-adds ×2 of a training step (3× the forward) of the charlm model, as the Go harness counts."""
    c = CHARLM
    n, e, t = c["batch"] * c["context"], c["width"], c["context"]
    fwd = c["layers"] * (2 * n * e * (3 * e + e + 8 * e) + 4 * c["batch"] * t * t * e) + 2 * n * e * c["vocab"]
    return 3 * fwd


def charlm_step(r, bf16=False):
    """A training step of examples/charlm's model: the PyTorch model of
    examples/charlm/reference.py, AdamW (two groups), clipping, loss read;
    with bf16, the forward pass under torch.autocast(bfloat16) (float32
    parameters), as tapegrad's charlm/step/bf16 runs under amp.Autocast."""
    opt = r.opt
    name = "charlm/step/bf16" if bf16 else "charlm/step"
    if not opt.want(name):
        return
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "..", "examples", "charlm"))
    import reference  # noqa: E402 - examples/charlm/reference.py's GPT
    c = CHARLM
    dev = torch.device(opt.device)
    b, t, v = c["batch"], c["context"], c["vocab"]
    ids = torch.tensor([(i * 7919 + i // t * 104729) % v for i in range(b * t)], dtype=torch.long)
    x, y = ids.reshape(b, t).to(dev), ((ids + 1) % v).to(dev)
    threads = torch.get_num_threads()
    note = ("examples/charlm/reference.py's GPT (nn.MultiheadAttention with a float causal mask, nn.LayerNorm, exact "
            "GELU), batch %d, float32: forward, F.cross_entropy, backward, clip_grad_norm_ 1.0, torch.optim.AdamW "
            "lr 3e-3 wd 0.1 (two groups), loss.item()" % b)
    if not opt.cuda():
        # On the CPU the matrix products run in OpenBLAS's own threads;
        # torch's intra-op threads beside them halve the speed on a small
        # machine (examples/charlm/RESULTS.md), so the step runs with one.
        torch.set_num_threads(1)
        note += "; torch.set_num_threads(1) (OpenBLAS keeps its own threads)"
    try:
        holder = {}

        def setup():
            torch.manual_seed(1)
            model = reference.GPT(v, c["layers"], c["heads"], c["width"], t).to(dev)
            decay = [p for p in model.parameters() if p.dim() >= 2]
            plain = [p for p in model.parameters() if p.dim() < 2]
            adamw = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": plain, "weight_decay": 0.0}],
                                      lr=3e-3, betas=(0.9, 0.95), eps=1e-8)
            holder["losses"] = []
            if opt.cuda():
                model.masks[t] = torch.triu(torch.full((t, t), float("-inf"), device=dev), diagonal=1)

            def step(i, record=False):
                adamw.zero_grad(set_to_none=True)
                if bf16:
                    with torch.autocast(device_type=dev.type, dtype=torch.bfloat16):
                        loss = F.cross_entropy(model(x).reshape(-1, v), y)
                else:
                    loss = F.cross_entropy(model(x).reshape(-1, v), y)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                adamw.step()
                val = loss.item()
                if record:
                    holder["losses"].append(val)
            return step

        def check(step):
            for _ in range(5):
                step(0, record=True)
            ls = holder["losses"]
            if not ls[-1] < ls[0] or ls[0] > 6:
                raise AssertionError("loss %s after 5 steps from %s: not training" % (ls[-1], ls[0]))
            return "loss %.3f -> %.3f over the 5 check steps" % (ls[0], ls[-1])

        if bf16:
            note += "; forward under torch.autocast(bfloat16)"
        r.measure({"name": name, "mode": "eager", "size": b * t, "flops": charlm_flops(), "unit": "tokens/s",
                   "dtype": "bfloat16" if bf16 else "float32", "note": note}, None, check=check, setup=setup, value_fn=lambda med: b * t / med)
    finally:
        torch.set_num_threads(threads)


def embedding_name(e):
    return "embedding/%dx%d/%dx%d" % e


def embedding(r, e):
    """F.embedding forward and backward (dense gradient) with a given output gradient."""
    opt = r.opt
    name = embedding_name(e)
    if not opt.want(name):
        return
    vocab, width, batch, context = e
    n = batch * context
    dev = torch.device(opt.device)
    torch.manual_seed(2)
    w = torch.randn(vocab, width, device=dev, requires_grad=True)
    ids = torch.tensor([(i * 7919 + 13) % vocab for i in range(n)], dtype=torch.long, device=dev).reshape(batch, context)
    g = (torch.rand(batch, context, width, generator=torch.Generator().manual_seed(3)) * 2 - 1).to(dev)

    def run(i):
        w.grad = None
        F.embedding(ids, w).backward(g)

    def check(fn):
        fn(0)
        r0 = int(ids.reshape(-1)[0])
        want = g.reshape(n, width)[ids.reshape(-1) == r0].sum(0)
        assert_close(w.grad[r0], want, 1e-4, "embedding grad row")

    r.measure({"name": name, "mode": "eager", "size": n * width, "bytes": 4 * (3 * n * width + vocab * width),
               "note": "table [%d, %d] float32, ids [%d, %d] int64: F.embedding forward and backward (dense "
                       "gradient, w.grad set to None before each call) with a given output gradient"
                       % (vocab, width, batch, context)}, run, check=check)


HALF_DTYPES = (("bfloat16", "bfloat16"), ("float16", "float16"))
HALF_KINDS = ("binary/add", "reduce/sum/all", "reduce/sum/inner")


def half_sizes(opt):
    if opt.quick:
        return [1 << 20]
    return [1 << 24, 1 << 26] if opt.cuda() else [1 << 24]


def half_matmul_shapes(opt):
    return [(256, 784, 512)] if opt.quick else [(256, 784, 512), (4096, 128, 512)]


def half_case_names(opt):
    names = []
    for dname, _ in HALF_DTYPES:
        for n in half_sizes(opt):
            names += ["half/%s/%s/%d" % (dname, k, n) for k in HALF_KINDS]
        names += ["half/%s/matmul/%dx%dx%d" % ((dname,) + s) for s in half_matmul_shapes(opt)]
    return names


def half_cases(r):
    """The half-precision cases: the same names as tapegrad's (bench/half.go),
    inputs uniform in [-1, 1) rounded to the dtype, eager only."""
    opt = r.opt
    dev = torch.device(opt.device)
    for dname, tname in HALF_DTYPES:
        dt = getattr(torch, tname)
        ulp = 1.0 / 128 if dname == "bfloat16" else 1.0 / 1024
        for n in half_sizes(opt):
            rows, cols = n // 1024, 1024
            g = torch.Generator(device="cpu").manual_seed(n + 11)

            def rand(*shape, g=g, dt=dt):
                return (torch.rand(*shape, generator=g) * 2 - 1).to(dt).to(dev)

            specs = [("binary/add", lambda rand=rand, n=n: [rand(n), rand(n)], lambda a, b: a + b, 6 * n),
                     ("reduce/sum/all", lambda rand=rand, rows=rows, cols=cols: [rand(rows, cols)], lambda x: x.sum(), 2 * n),
                     ("reduce/sum/inner", lambda rand=rand, rows=rows, cols=cols: [rand(rows, cols)], lambda x: x.sum(dim=1), 2 * n)]
            for kind, build, fn, nbytes in specs:
                name = "half/%s/%s/%d" % (dname, kind, n)
                if not opt.want(name):
                    continue
                first = build()
                k = rotate_copies(sum(t.numel() * 2 for t in first))
                inputs = [first] + [build() for _ in range(k - 1)]

                def check(f, inputs=inputs, fn=fn, kind=kind, ulp=ulp):
                    for j, ins in enumerate(inputs):
                        got = f(j).double()
                        want = fn(*[t.double() for t in ins])
                        scale = fn(*[t.double().abs() for t in ins]) if kind != "binary/add" else want.abs()
                        bad = (got - want).abs() > ulp * want.abs() + 1e-3 * scale + 1e-6
                        if bool(bad.any()):
                            raise AssertionError("%s: %d results off (first %s)" % (kind, int(bad.sum()), got[bad][0].item()))
                    return ""

                r.measure({"name": name, "mode": "eager", "size": n, "dtype": dname, "bytes": nbytes, "note": rot_note(k)},
                          lambda i, fn=fn, inputs=inputs, k=k: fn(*inputs[i % k]), check=check)
                del inputs, first
        for m, kk, n in half_matmul_shapes(opt):
            name = "half/%s/matmul/%dx%dx%d" % (dname, m, kk, n)
            if not opt.want(name):
                continue
            g = torch.Generator(device="cpu").manual_seed(m * 7 + kk * 3 + n)
            k = rotate_copies(2 * (m * kk + kk * n), cap=4)
            inputs = [((torch.rand(m, kk, generator=g) * 2 - 1).to(dt).to(dev),
                       (torch.rand(kk, n, generator=g) * 2 - 1).to(dt).to(dev)) for _ in range(k)]

            def check(f, inputs=inputs, ulp=ulp):
                # Only gross errors fail: torch's CPU bfloat16 product may
                # round its partial sums; its worst error is noted instead.
                worst = 0.0
                for j, (a, b) in enumerate(inputs):
                    got, want = f(j).double(), a.double() @ b.double()
                    scale = a.double().abs() @ b.double().abs()
                    if bool(((got - want).abs() > 0.05 * scale + 1e-6).any()):
                        raise AssertionError("matmul: results off by more than 5% of the terms' scale")
                    worst = max(worst, float(((got - want).abs() / (want.abs() + 1e-3 * scale + 1e-6)).max()) / ulp)
                return "largest error %.1f %s ulps of the result" % (worst, "bfloat16" if ulp > 1e-3 else "float16")

            r.measure({"name": name, "mode": "eager", "size": m * n, "dtype": dname, "flops": 2 * m * kk * n,
                       "note": rot_note(k)}, lambda i, inputs=inputs, k=k: inputs[i % k][0] @ inputs[i % k][1], check=check)
            del inputs


def case_names(opt):
    names = []
    for n in opt.sizes():
        names += ["%s/%d" % (k, n) for k in ELEMENTWISE_KINDS]
    names += ["matmul/%dx%dx%d" % s for s in opt.matmul_shapes()]
    names += ["seed/%d" % n for n in opt.sizes()]
    names += ["layernorm/%dx%d" % s for s in layernorm_shapes(opt)]
    return (names + ["overhead/op", "mlp/step", "fashion/epoch", "charlm/step", "charlm/step/bf16"] + [embedding_name(e) for e in EMBEDDING_SHAPES]
            + ["attention/%d" % t for t in attention_lengths(opt)] + half_case_names(opt))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default=None, help="cuda (default when available), cuda:N or cpu")
    ap.add_argument("--quick", "-quick", action="store_true", help="sizes up to 1M elements only, fewer repetitions")
    ap.add_argument("--json", "-json", default="", help="write the results as JSON to this file")
    ap.add_argument("--cases", "-cases", default="", help="only run cases whose name matches this regular expression")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile entries")
    ap.add_argument("--selftest", "-selftest", action="store_true",
                    help="one small case of each kind, minimal timing; checks results and the JSON schema")
    ap.add_argument("--list", "-list", action="store_true", help="list the case names and exit")
    args = ap.parse_args(argv)
    if torch is None:
        raise SystemExit("torch is not installed")
    if args.device is None:
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.selftest and not args.cases:
        args.cases = SELFTEST_CASES
    opt = Options(args)
    if args.list:
        print("\n".join(n for n in case_names(opt) if opt.want(n)))
        return 0
    if opt.cuda() and torch.device(opt.device).index is not None:
        torch.cuda.set_device(torch.device(opt.device))
    torch.set_float32_matmul_precision("highest")

    r = Runner(opt)
    with torch.no_grad():
        for n in opt.sizes():
            elementwise(r, n)
        for s in opt.matmul_shapes():
            matmul(r, *s)
    for n in opt.sizes():
        seed(r, n)
    for s in layernorm_shapes(opt):
        layernorm(r, *s)
    overhead(r)
    mlp(r)
    fashion_epoch(r)
    charlm_step(r)
    charlm_step(r, bf16=True)
    for e in EMBEDDING_SHAPES:
        embedding(r, e)
    for t in attention_lengths(opt):
        attention(r, t)
    with torch.no_grad():
        half_cases(r)
    r.finish()
    if opt.selftest:
        bad = [c["name"] + " (" + c.get("mode", "") + "): " + c["skipped"]
               for c in r.cases if c.get("skipped") and c.get("mode") != "compile"]
        if bad or not r.cases:
            print("selftest FAILED:\n  " + "\n  ".join(bad or ["no case ran"]), file=sys.stderr)
            return 1
        print("selftest ok: %d entries checked, JSON valid (compile entries may be skipped)" % len(r.cases),
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
