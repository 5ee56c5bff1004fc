// random.cu: module "random" — the counter-based generator of
// device/random.go (device.RandomSpec): Philox4x32-10, key = seed, 128-bit
// counter = (low word of c, high word of c, 0, 0) for block number c.
//
// Kernels (TgRandomArgs): tg_random_uniform_<dt>, tg_random_normal_<dt>,
// dt = f32 | f64. Element i (0 <= i < n) of dst is element i of the stream
// that starts at block `counter` (device.RandomFloat32/RandomFloat64 with
// first = 0); the call consumes device.RandomBlocks(dt, n) blocks.
//
// Launch geometry: a 1-D grid-stride loop over Philox blocks, one block
// (4 float32 or 2 float64 elements) per thread and step; any 1-D grid and
// block size is correct. Suggested: 256 threads per block and
// ceil(blocks / 256) thread blocks (capped), blocks = ceil(n/4) for f32,
// ceil(n/2) for f64.
//
// Bitwise agreement with the Go code: every step the Go code rounds is an
// explicit round-to-nearest intrinsic here (__fmul_rn, __fadd_rn,
// __dmul_rn, __dadd_rn, ...), so neither --fmad nor the compiler can fuse
// them. Uniform values are bitwise identical to the CPU's. Normal values
// use double-precision log, sqrt, sin and cos (CUDA's sincos), whose last
// bit may differ from Go's math package; after rounding to float32 the
// values agree except in rare cases.
#include "tg_common.cuh"

#define TG_PHILOX_M0 0xD2511F53u
#define TG_PHILOX_M1 0xCD9E8D57u
#define TG_PHILOX_W0 0x9E3779B9u
#define TG_PHILOX_W1 0xBB67AE85u

// The four words of block c under key seed (device.Philox).
TG_DEV uint4 tg_philox(tg_u64 seed, tg_u64 c) {
    unsigned c0 = (unsigned)c, c1 = (unsigned)(c >> 32), c2 = 0, c3 = 0;
    unsigned k0 = (unsigned)seed, k1 = (unsigned)(seed >> 32);
#pragma unroll
    for (int r = 0; r < 10; r++) {
        const unsigned hi0 = __umulhi(TG_PHILOX_M0, c0), lo0 = TG_PHILOX_M0 * c0;
        const unsigned hi1 = __umulhi(TG_PHILOX_M1, c2), lo1 = TG_PHILOX_M1 * c2;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += TG_PHILOX_W0;
        k1 += TG_PHILOX_W1;
    }
    return make_uint4(c0, c1, c2, c3);
}

// Box–Muller in double (device boxMuller): r = sqrt(-2 ln u1), t = 2π·u2;
// z0 = r·cos t (even elements), z1 = r·sin t (odd elements). 2π is the
// double nearest 2π, as Go's constant 2*math.Pi.
TG_DEV void tg_box_muller(double u1, double u2, double &z0, double &z1) {
    const double r = sqrt(__dmul_rn(-2.0, log(u1)));
    const double t = __dmul_rn(2.0 * 3.141592653589793, u2);
    double s, c;
    sincos(t, &s, &c);
    z0 = __dmul_rn(r, c);
    z1 = __dmul_rn(r, s);
}

// float32 uniform: u = float32(w>>8)·2⁻²⁴, value = lo + float32(span·u)
// with lo = float32(a), span = float32(b) - float32(a); a value that rounds
// up to hi = float32(b) becomes the largest float below it, so that values
// stay in [a, b) (device/random.go).
TG_DEV float tg_uniform_f32(unsigned w, float lo, float hi, float span) {
    const float u = __fmul_rn(__uint2float_rn(w >> 8), 0x1p-24f);
    const float v = __fadd_rn(lo, __fmul_rn(span, u));
    return (v >= hi && hi > lo) ? nextafterf(hi, lo) : v;
}

// float64 uniform from the word pair (hi, lo): u = (bits>>11)·2⁻⁵³,
// value = a + (b-a)·u, kept below b as for float32.
TG_DEV double tg_uniform_f64(unsigned hi, unsigned lo, double a, double b, double bma) {
    const tg_u64 bits = ((tg_u64)hi << 32) | lo;
    const double u = __dmul_rn(__ull2double_rn(bits >> 11), 0x1p-53);
    const double v = __dadd_rn(a, __dmul_rn(bma, u));
    return (v >= b && b > a) ? nextafter(b, a) : v;
}

// value = T(a + b·z), the sum and product rounded in double.
TG_DEV double tg_affine(double a, double b, double z) { return __dadd_rn(a, __dmul_rn(b, z)); }

// Writes the V values of Philox block q (elements q*V .. q*V+V-1 below n).
template <typename T, int V> TG_DEV void tg_put(T *d, tg_i64 q, tg_i64 n, const T (&v)[V]) {
    const tg_i64 i = q * V;
    if (i + V <= n && tg_aligned16(d)) {
        tg_vstore<V>(d + i, v);
        return;
    }
#pragma unroll
    for (int j = 0; j < V; j++)
        if (i + j < n) d[i + j] = v[j];
}

template <bool Normal> TG_DEV void random_f32(const TgRandomArgs &p) {
    float *d = (float *)p.dst;
    const tg_i64 n = p.n, nb = (n + 3) / 4, nt = tg_nthreads();
    const float lo = __double2float_rn(p.a), hi = __double2float_rn(p.b), span = __fsub_rn(hi, lo);
#pragma unroll 1
    for (tg_i64 q = tg_tid(); q < nb; q += nt) {
        const uint4 w = tg_philox(p.seed, p.counter + (tg_u64)q);
        float v[4];
        if (Normal) {
            // Pairs (w0, w1) and (w2, w3): u1 = (w+1)·2⁻³², u2 = w·2⁻³².
            double z[4];
            tg_box_muller(__dmul_rn((double)w.x + 1.0, 0x1p-32), __dmul_rn((double)w.y, 0x1p-32), z[0], z[1]);
            tg_box_muller(__dmul_rn((double)w.z + 1.0, 0x1p-32), __dmul_rn((double)w.w, 0x1p-32), z[2], z[3]);
#pragma unroll
            for (int j = 0; j < 4; j++) v[j] = __double2float_rn(tg_affine(p.a, p.b, z[j]));
        } else {
            v[0] = tg_uniform_f32(w.x, lo, hi, span);
            v[1] = tg_uniform_f32(w.y, lo, hi, span);
            v[2] = tg_uniform_f32(w.z, lo, hi, span);
            v[3] = tg_uniform_f32(w.w, lo, hi, span);
        }
        tg_put<float, 4>(d, q, n, v);
    }
}

template <bool Normal> TG_DEV void random_f64(const TgRandomArgs &p) {
    double *d = (double *)p.dst;
    const tg_i64 n = p.n, nb = (n + 1) / 2, nt = tg_nthreads();
    const double bma = __dsub_rn(p.b, p.a);
#pragma unroll 1
    for (tg_i64 q = tg_tid(); q < nb; q += nt) {
        const uint4 w = tg_philox(p.seed, p.counter + (tg_u64)q);
        double v[2];
        if (Normal) {
            // u1 from words (0,1), u2 from words (2,3), high word first.
            const tg_u64 b0 = ((tg_u64)w.x << 32) | w.y, b1 = ((tg_u64)w.z << 32) | w.w;
            const double u1 = __dmul_rn(__ull2double_rn(b0 >> 11) + 1.0, 0x1p-53);
            const double u2 = __dmul_rn(__ull2double_rn(b1 >> 11), 0x1p-53);
            double z0, z1;
            tg_box_muller(u1, u2, z0, z1);
            v[0] = tg_affine(p.a, p.b, z0);
            v[1] = tg_affine(p.a, p.b, z1);
        } else {
            v[0] = tg_uniform_f64(w.x, w.y, p.a, p.b, bma);
            v[1] = tg_uniform_f64(w.z, w.w, p.a, p.b, bma);
        }
        tg_put<double, 2>(d, q, n, v);
    }
}

extern "C" __global__ void tg_random_uniform_f32(TgRandomArgs p) { random_f32<false>(p); }
extern "C" __global__ void tg_random_normal_f32(TgRandomArgs p) { random_f32<true>(p); }
extern "C" __global__ void tg_random_uniform_f64(TgRandomArgs p) { random_f64<false>(p); }
extern "C" __global__ void tg_random_normal_f64(TgRandomArgs p) { random_f64<true>(p); }
