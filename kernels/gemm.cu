// gemm.cu: module "gemm" — the batched GEMM used when cuBLAS cannot be
// loaded: for each batch entry i, C_i (m×n) = A_i (m×k) · B_i (k×n), any
// strides (TgGemmArgs; transposed operands are just swapped strides).
// Kernels tg_gemm_f32, tg_gemm_f64.
//
// Launch geometry: blockDim = (256, 1, 1), exactly. Each block computes
// 64×64 tiles of C: tile column blockIdx.x (+ k*gridDim.x), tile row
// blockIdx.y (+ k*gridDim.y), batch entry blockIdx.z (+ k*gridDim.z).
// Grid: (ceil(n/64), min(ceil(m/64), 65535), min(batch, 65535)); smaller
// grids are correct too. 8320 (f32) or 16640 (f64) bytes of static
// shared memory. m, n or batch of 0 writes nothing; k == 0 writes zeros.
//
// Each thread owns a 4×4 block of the tile (rows ty+16i, columns tx+16j,
// so that stores of C are coalesced) and accumulates its dot products over
// k in order with fused multiply-adds (fmaf/fma, as cuBLAS does; the rest
// of tapegrad's kernels round a*b+c twice), in T. Tiles of A (64×16) and
// B (16×64) go through shared memory; the next tile is loaded into
// registers while the current one is multiplied. Global loads are
// coalesced along whichever of an operand's strides is 1 (checked per
// launch: A is read along k when a_cs == 1, along m otherwise; B along n
// when b_cs == 1, along k otherwise).
#include "tg_common.cuh"

#define TG_GEMM_BM 64
#define TG_GEMM_BN 64
#define TG_GEMM_BK 16
#define TG_GEMM_THREADS 256

TG_DEV float tg_fma(float a, float b, float c) { return fmaf(a, b, c); }
TG_DEV double tg_fma(double a, double b, double c) { return fma(a, b, c); }

template <typename T> TG_DEV void gemm(const TgGemmArgs &p) {
    constexpr int BM = TG_GEMM_BM, BN = TG_GEMM_BN, BK = TG_GEMM_BK;
    constexpr int LA = BM * BK / TG_GEMM_THREADS; // elements of A per thread and tile: 4
    constexpr int LB = BK * BN / TG_GEMM_THREADS; // elements of B: 4
    // +1 column of padding against bank conflicts on the transposing store.
    __shared__ T As[BK][BM + 1];
    __shared__ T Bs[BK][BN + 1];

    const T *A = (const T *)p.a, *B = (const T *)p.b;
    T *C = (T *)p.c;
    const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
    const tg_i64 m = p.m, n = p.n, k = p.k;
    const tg_i64 tilesM = (m + BM - 1) / BM, tilesN = (n + BN - 1) / BN;
    const bool aAlongK = p.a_cs == 1, bAlongN = p.b_cs == 1;

    // Position (row in tile, k in tile) of this thread's e-th element of A,
    // and (k in tile, column in tile) of B.
    int ar[LA], ak[LA], bk[LB], bc[LB];
#pragma unroll
    for (int e = 0; e < LA; e++) {
        const int l = tid + e * TG_GEMM_THREADS;
        ar[e] = aAlongK ? l / BK : l % BM;
        ak[e] = aAlongK ? l % BK : l / BM;
    }
#pragma unroll
    for (int e = 0; e < LB; e++) {
        const int l = tid + e * TG_GEMM_THREADS;
        bk[e] = bAlongN ? l / BN : l % BK;
        bc[e] = bAlongN ? l % BN : l / BK;
    }

#pragma unroll 1
    for (tg_i64 bi = blockIdx.z; bi < p.batch; bi += gridDim.z) {
        const T *Ab = A + p.a_off + bi * p.a_bs;
        const T *Bb = B + p.b_off + bi * p.b_bs;
        T *Cb = C + p.c_off + bi * p.c_bs;
#pragma unroll 1
        for (tg_i64 tm = blockIdx.y; tm < tilesM; tm += gridDim.y) {
#pragma unroll 1
            for (tg_i64 tn = blockIdx.x; tn < tilesN; tn += gridDim.x) {
                const tg_i64 m0 = tm * BM, n0 = tn * BN;
                T acc[4][4];
#pragma unroll
                for (int i = 0; i < 4; i++)
#pragma unroll
                    for (int j = 0; j < 4; j++) acc[i][j] = T(0);

                // Registers holding the tile that starts at k0.
                T ra[LA], rb[LB];
                auto fetch = [&](tg_i64 k0) {
#pragma unroll
                    for (int e = 0; e < LA; e++) {
                        const tg_i64 r = m0 + ar[e], kk = k0 + ak[e];
                        ra[e] = (r < m && kk < k) ? Ab[r * p.a_rs + kk * p.a_cs] : T(0);
                    }
#pragma unroll
                    for (int e = 0; e < LB; e++) {
                        const tg_i64 kk = k0 + bk[e], c = n0 + bc[e];
                        rb[e] = (kk < k && c < n) ? Bb[kk * p.b_rs + c * p.b_cs] : T(0);
                    }
                };
                fetch(0);
#pragma unroll 1
                for (tg_i64 k0 = 0; k0 < k; k0 += BK) {
                    __syncthreads(); // the previous tile has been used
#pragma unroll
                    for (int e = 0; e < LA; e++) As[ak[e]][ar[e]] = ra[e];
#pragma unroll
                    for (int e = 0; e < LB; e++) Bs[bk[e]][bc[e]] = rb[e];
                    __syncthreads();
                    if (k0 + BK < k) fetch(k0 + BK);
#pragma unroll
                    for (int kk = 0; kk < BK; kk++) {
                        T a[4], b[4];
#pragma unroll
                        for (int i = 0; i < 4; i++) a[i] = As[kk][ty + 16 * i];
#pragma unroll
                        for (int j = 0; j < 4; j++) b[j] = Bs[kk][tx + 16 * j];
#pragma unroll
                        for (int i = 0; i < 4; i++)
#pragma unroll
                            for (int j = 0; j < 4; j++) acc[i][j] = tg_fma(a[i], b[j], acc[i][j]);
                    }
                }
                // Past the end of k both operands are padded with +0, so
                // the padding adds +0 to sums that are never -0.
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    const tg_i64 r = m0 + ty + 16 * i;
                    if (r >= m) continue;
#pragma unroll
                    for (int j = 0; j < 4; j++) {
                        const tg_i64 c = n0 + tx + 16 * j;
                        if (c < n) Cb[r * p.c_ld + c] = acc[i][j];
                    }
                }
            }
        }
    }
}

extern "C" __global__ void __launch_bounds__(TG_GEMM_THREADS) tg_gemm_f32(TgGemmArgs p) { gemm<float>(p); }
extern "C" __global__ void __launch_bounds__(TG_GEMM_THREADS) tg_gemm_f64(TgGemmArgs p) { gemm<double>(p); }
