// elementwise.cu: module "elementwise" — unary, scalar and binary ops,
// axpby, where, copy/convert, fill and arange, for float32 (f32) and
// float64 (f64).
//
// Launch geometry: every kernel here is a 1-D grid-stride loop with 64-bit
// indices, so any 1-D grid and block size computes the whole result (and
// every element exactly once). Suggested: 256 threads per block and
// ceil(n / (256·V)) blocks (a cap of some waves of blocks is fine), where
// V = 4 for kernels whose operands are all float32 and 2 otherwise (a dense
// kernel handles one 16-byte vector per thread and step when its pointers
// are aligned). A launch with n == 0 does nothing. No shared memory, no
// atomics. The grid-stride loops are deliberately not unrolled: with a
// grid that covers the data they run about once, and unrolling would more
// than double the module (3.8 MB instead of 1.8 MB) and its JIT time.
//
// Kernels (dt = f32 | f64; argument struct in tg_args.h):
//   tg_unary_<op>_<dt>          TgMapArgs          dst[i] = op(src[i])
//   tg_unary_<op>_<dt>_s        TgMapStridedArgs   dst[i] = op(src at x, i)
//   tg_scalar_<op>_<dt>[_s]     same, with s = (T)args.s
//   tg_binary_<op>_<dt>_<v>     TgZipArgs          v = vv vs sv row rowr col colr
//   tg_binary_<op>_<dt>_s       TgZipStridedArgs
//   tg_axpby_<dt>               TgZipArgs (vv)     dst[i] = alpha*a[i] + beta*b[i]
//   tg_axpby_<dt>_s             TgZipStridedArgs
//   tg_where_<dt>_s             TgWhereArgs
//   tg_copy_<src>_<dst>_s       TgCopyArgs         all four dtype pairs
//   tg_convert_<src>_<dst>      TgMapArgs          f32_f64 and f64_f32, dense
//   tg_fill_<dt>                TgMapArgs          dst[i] = (T)s
//   tg_fill_<dt>_s              TgFillArgs
//   tg_arange_<dt>              TgArangeArgs       dst[i] = (T)(start + (double)i*step)
//
// Dense kernels use 16-byte loads and stores (float4 / double2) when every
// pointer they index per element is 16-byte aligned (checked at run time),
// else scalar accesses. dst may be the same memory as a (or src) in the
// dense kernels: each element is read before it is written, by the same
// thread. Scalars (s, alpha, beta) arrive as double and are rounded to T
// first, as on the CPU.
#include "tg_common.cuh"
#include "tg_elementwise.cuh"

// ---- bodies ---------------------------------------------------------------

// Map: dst[i] = op(src[i], s), dense.
template <typename T, typename Op> __device__ __forceinline__ void map_dense(const TgMapArgs &p, Op op) {
    constexpr int V = TgVec<T>::N;
    T *d = (T *)p.dst;
    const T *x = (const T *)p.src;
    const T s = T(p.s);
    const tg_i64 n = p.n, tid = tg_tid(), nt = tg_nthreads();
    tg_i64 i0 = 0;
    if (tg_aligned16(d) && tg_aligned16(x)) {
        const tg_i64 nv = n / V;
#pragma unroll 1
        for (tg_i64 k = tid; k < nv; k += nt) {
            T v[V];
            tg_vload<V>(x + k * V, v);
#pragma unroll
            for (int j = 0; j < V; j++) v[j] = op(v[j], s);
            tg_vstore<V>(d + k * V, v);
        }
        i0 = nv * V;
    }
#pragma unroll 1
    for (tg_i64 i = i0 + tid; i < n; i += nt) d[i] = op(x[i], s);
}

// Map: dst[i] = op(src at view x, s), strided source.
template <typename T, typename Op> __device__ __forceinline__ void map_strided(const TgMapStridedArgs &p, Op op) {
    T *d = (T *)p.dst;
    const T *x = (const T *)p.src;
    const T s = T(p.s);
    const tg_i64 n = p.shape.n, nt = tg_nthreads();
#pragma unroll 1
    for (tg_i64 i = tg_tid(); i < n; i += nt) d[i] = op(x[tg_off1(p.shape, i, p.x)], s);
}

// The dense binary variants: which operand is indexed by i and how the
// other one is broadcast.
enum { ZVV, ZVS, ZSV, ZROW, ZROWR, ZCOL, ZCOLR };

// Zip: dst[i] = op(a[ia(i)], b[ib(i)]), dense operands, variant Z.
template <typename T, int Z, typename Op> __device__ __forceinline__ void zip_dense(const TgZipArgs &p, Op op) {
    constexpr int V = TgVec<T>::N;
    // a (b) is read per element with index i in these variants.
    constexpr bool aFull = Z == ZVV || Z == ZVS || Z == ZROW || Z == ZCOL;
    constexpr bool bFull = Z == ZVV || Z == ZSV || Z == ZROWR || Z == ZCOLR;
    T *d = (T *)p.dst;
    const T *a = (const T *)p.a, *b = (const T *)p.b;
    const tg_i64 n = p.n, cols = p.cols, tid = tg_tid(), nt = tg_nthreads();
    // The broadcast operand's element for index i.
    auto bcast = [&](const T *y, tg_i64 q, tg_i64 r) -> T {
        if (Z == ZVS || Z == ZSV) return y[0];
        if (Z == ZROW || Z == ZROWR) return y[r];
        return y[q];
    };
    tg_i64 i0 = 0;
    if (tg_aligned16(d) && (!aFull || tg_aligned16(a)) && (!bFull || tg_aligned16(b))) {
        const tg_i64 nv = n / V;
#pragma unroll 1
        for (tg_i64 k = tid; k < nv; k += nt) {
            T va[V], vb[V];
            const tg_i64 i = k * V;
            if (aFull) tg_vload<V>(a + i, va);
            if (bFull) tg_vload<V>(b + i, vb);
            if (Z != ZVV) {
                // q = i / cols, r = i % cols, stepped along the vector.
                tg_i64 q = 0, r = 0;
                if (Z != ZVS && Z != ZSV) q = i / cols, r = i - q * cols;
#pragma unroll
                for (int j = 0; j < V; j++) {
                    if (aFull) vb[j] = bcast(b, q, r);
                    else va[j] = bcast(a, q, r);
                    if (Z != ZVS && Z != ZSV && ++r == cols) r = 0, q++;
                }
            }
#pragma unroll
            for (int j = 0; j < V; j++) va[j] = op(va[j], vb[j]);
            tg_vstore<V>(d + i, va);
        }
        i0 = nv * V;
    }
#pragma unroll 1
    for (tg_i64 i = i0 + tid; i < n; i += nt) {
        tg_i64 q = 0, r = 0;
        if (Z != ZVV && Z != ZVS && Z != ZSV) q = i / cols, r = i - q * cols;
        const T x = aFull ? a[i] : bcast(a, q, r);
        const T y = bFull ? b[i] : bcast(b, q, r);
        d[i] = op(x, y);
    }
}

// Zip: dst[i] = op(a at va, b at vb), strided operands.
template <typename T, typename Op> __device__ __forceinline__ void zip_strided(const TgZipStridedArgs &p, Op op) {
    T *d = (T *)p.dst;
    const T *a = (const T *)p.a, *b = (const T *)p.b;
    const tg_i64 n = p.shape.n, nt = tg_nthreads();
#pragma unroll 1
    for (tg_i64 i = tg_tid(); i < n; i += nt) {
        tg_i64 oa, ob;
        tg_off2(p.shape, i, p.va, oa, p.vb, ob);
        d[i] = op(a[oa], b[ob]);
    }
}

template <typename T> __device__ __forceinline__ void where_strided(const TgWhereArgs &p) {
    T *d = (T *)p.dst;
    const T *c = (const T *)p.c, *a = (const T *)p.a, *b = (const T *)p.b;
    const tg_i64 n = p.shape.n, nt = tg_nthreads();
#pragma unroll 1
    for (tg_i64 i = tg_tid(); i < n; i += nt) {
        tg_i64 oc, oa, ob;
        tg_off3(p.shape, i, p.vc, oc, p.va, oa, p.vb, ob);
        d[i] = c[oc] != T(0) ? a[oa] : b[ob];
    }
}

template <typename S, typename D> __device__ __forceinline__ void copy_strided(const TgCopyArgs &p) {
    D *d = (D *)p.dst;
    const S *s = (const S *)p.src;
    const tg_i64 n = p.shape.n, nt = tg_nthreads();
#pragma unroll 1
    for (tg_i64 i = tg_tid(); i < n; i += nt) {
        tg_i64 od, os;
        tg_off2(p.shape, i, p.vd, od, p.vs, os);
        d[od] = D(s[os]);
    }
}

// Dense conversion, 4 elements per step (one float4, two double2).
template <typename S, typename D> __device__ __forceinline__ void convert_dense(const TgMapArgs &p) {
    constexpr int W = 4;
    D *d = (D *)p.dst;
    const S *s = (const S *)p.src;
    const tg_i64 n = p.n, tid = tg_tid(), nt = tg_nthreads();
    tg_i64 i0 = 0;
    if (tg_aligned16(d) && tg_aligned16(s)) {
        const tg_i64 nv = n / W;
#pragma unroll 1
        for (tg_i64 k = tid; k < nv; k += nt) {
            S vs[W];
            D vd[W];
            tg_vload<W>(s + k * W, vs);
#pragma unroll
            for (int j = 0; j < W; j++) vd[j] = D(vs[j]);
            tg_vstore<W>(d + k * W, vd);
        }
        i0 = nv * W;
    }
#pragma unroll 1
    for (tg_i64 i = i0 + tid; i < n; i += nt) d[i] = D(s[i]);
}

// Dense generator: dst[i] = gen(i).
template <typename T, typename Gen> __device__ __forceinline__ void generate_dense(T *d, tg_i64 n, Gen gen) {
    constexpr int V = TgVec<T>::N;
    const tg_i64 tid = tg_tid(), nt = tg_nthreads();
    tg_i64 i0 = 0;
    if (tg_aligned16(d)) {
        const tg_i64 nv = n / V;
#pragma unroll 1
        for (tg_i64 k = tid; k < nv; k += nt) {
            T v[V];
#pragma unroll
            for (int j = 0; j < V; j++) v[j] = gen(k * V + j);
            tg_vstore<V>(d + k * V, v);
        }
        i0 = nv * V;
    }
#pragma unroll 1
    for (tg_i64 i = i0 + tid; i < n; i += nt) d[i] = gen(i);
}

template <typename T> __device__ __forceinline__ void fill_dense(const TgMapArgs &p) {
    const T v = T(p.s);
    generate_dense<T>((T *)p.dst, p.n, [=](tg_i64) { return v; });
}

template <typename T> __device__ __forceinline__ void fill_strided(const TgFillArgs &p) {
    T *d = (T *)p.dst;
    const T v = T(p.v);
    const tg_i64 n = p.shape.n, nt = tg_nthreads();
#pragma unroll 1
    for (tg_i64 i = tg_tid(); i < n; i += nt) d[tg_off1(p.shape, i, p.vd)] = v;
}

// (T)(start + (double)i * step): the product and the sum are rounded
// separately (no FMA), as device/cpu Arange does.
template <typename T> __device__ __forceinline__ void arange(const TgArangeArgs &p) {
    const double start = p.start, step = p.step;
    generate_dense<T>((T *)p.dst, p.n,
                      [=](tg_i64 i) { return T(__dadd_rn(start, __dmul_rn((double)i, step))); });
}

// ---- kernels ---------------------------------------------------------------

#define TG_KERNEL extern "C" __global__ void

// tg_unary_<op>_<dt>[_s] and tg_scalar_<op>_<dt>[_s].
#define TG_MAP_KERNELS(fam, name, Op)                                                   \
    TG_KERNEL tg_##fam##_##name##_f32(TgMapArgs p) { map_dense<float>(p, Op()); }          \
    TG_KERNEL tg_##fam##_##name##_f64(TgMapArgs p) { map_dense<double>(p, Op()); }         \
    TG_KERNEL tg_##fam##_##name##_f32_s(TgMapStridedArgs p) { map_strided<float>(p, Op()); } \
    TG_KERNEL tg_##fam##_##name##_f64_s(TgMapStridedArgs p) { map_strided<double>(p, Op()); }

// tg_binary_<op>_<dt>_<variant>.
#define TG_ZIP_DT(name, Op, T, dt)                                                               \
    TG_KERNEL tg_binary_##name##_##dt##_vv(TgZipArgs p) { zip_dense<T, ZVV>(p, Op()); }          \
    TG_KERNEL tg_binary_##name##_##dt##_vs(TgZipArgs p) { zip_dense<T, ZVS>(p, Op()); }          \
    TG_KERNEL tg_binary_##name##_##dt##_sv(TgZipArgs p) { zip_dense<T, ZSV>(p, Op()); }          \
    TG_KERNEL tg_binary_##name##_##dt##_row(TgZipArgs p) { zip_dense<T, ZROW>(p, Op()); }        \
    TG_KERNEL tg_binary_##name##_##dt##_rowr(TgZipArgs p) { zip_dense<T, ZROWR>(p, Op()); }      \
    TG_KERNEL tg_binary_##name##_##dt##_col(TgZipArgs p) { zip_dense<T, ZCOL>(p, Op()); }        \
    TG_KERNEL tg_binary_##name##_##dt##_colr(TgZipArgs p) { zip_dense<T, ZCOLR>(p, Op()); }      \
    TG_KERNEL tg_binary_##name##_##dt##_s(TgZipStridedArgs p) { zip_strided<T>(p, Op()); }
#define TG_ZIP_KERNELS(name, Op) TG_ZIP_DT(name, Op, float, f32) TG_ZIP_DT(name, Op, double, f64)

#define TG_DT_KERNELS(T, dt)                                                                   \
    TG_KERNEL tg_axpby_##dt(TgZipArgs p) { zip_dense<T, ZVV>(p, Axpby{p.alpha, p.beta}); }     \
    TG_KERNEL tg_axpby_##dt##_s(TgZipStridedArgs p) { zip_strided<T>(p, Axpby{p.alpha, p.beta}); } \
    TG_KERNEL tg_where_##dt##_s(TgWhereArgs p) { where_strided<T>(p); }                        \
    TG_KERNEL tg_fill_##dt(TgMapArgs p) { fill_dense<T>(p); }                                  \
    TG_KERNEL tg_fill_##dt##_s(TgFillArgs p) { fill_strided<T>(p); }                           \
    TG_KERNEL tg_arange_##dt(TgArangeArgs p) { arange<T>(p); }
TG_DT_KERNELS(float, f32)
TG_DT_KERNELS(double, f64)

#define TG_COPY_KERNEL(S, sdt, D, ddt) \
    TG_KERNEL tg_copy_##sdt##_##ddt##_s(TgCopyArgs p) { copy_strided<S, D>(p); }
TG_COPY_KERNEL(float, f32, float, f32)
TG_COPY_KERNEL(float, f32, double, f64)
TG_COPY_KERNEL(double, f64, float, f32)
TG_COPY_KERNEL(double, f64, double, f64)

TG_KERNEL tg_convert_f32_f64(TgMapArgs p) { convert_dense<float, double>(p); }
TG_KERNEL tg_convert_f64_f32(TgMapArgs p) { convert_dense<double, float>(p); }

// The op table's kernels, in row order: last, so that a new row's kernels
// are appended to the PTX and leave every other kernel's text unchanged.
#include "elementwise_ops.cuh"
