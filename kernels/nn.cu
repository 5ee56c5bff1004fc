// nn.cu: the kernels of neural-network training (module "nn").
//
// Each kernel mirrors a method of the CPU backend (device/cpu/train.go)
// element for element, in the same order of operations, so results agree
// with the CPU: convolution windows (im2col) and their adjoint (col2im),
// max-pooling with the index of each window's first maximum, its scatter and
// gather, the fused softmax cross-entropy and its gradient, and the SGD and
// Adam steps. Nothing here uses atomics but the claim of the error record
// (tg_err.cuh) for a bad label: every output element is written by one
// thread that sums its contributions in a fixed order, so results are
// bitwise reproducible.
//
// Launch geometry (device/cuda/train.go): one thread per output element in a
// 1-D grid-stride loop, 256 threads per block, for every kernel but
// tg_softmaxce_*, which takes one block of 256 threads per row (grid-stride
// over rows).
#include <math_constants.h>

#include "tg_args.h"
#include "tg_err.cuh"

// External linkage on purpose (no "static"): a __shared__ array declared in
// a function with internal linkage gets a mangled name that embeds a hash of
// the source file's absolute path, so the PTX would differ between checkouts
// and kernels/check.sh could not compare it byte for byte.
#define TG_DEV __device__ __forceinline__

#define GRID_STRIDE(i, n)                                                  \
    for (tg_i64 i = (tg_i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (tg_i64)gridDim.x * blockDim.x)

TG_DEV float neg_inf(float) { return -CUDART_INF_F; }
TG_DEV double neg_inf(double) { return -CUDART_INF; }

TG_DEV float tg_sqrt(float x) { return sqrtf(x); }
TG_DEV double tg_sqrt(double x) { return sqrt(x); }

// ---- convolution windows -------------------------------------------------

template <typename T>
TG_DEV void im2col(const TgConvArgs &a) {
    const TgConvGeom g = a.g;
    const tg_i64 kk = g.kh * g.kw, ckk = g.c * kk;
    const tg_i64 total = g.n * ckk * g.oh * g.ow;
    T *dst = (T *)a.dst;
    const T *src = (const T *)a.src;
    GRID_STRIDE(i, total) {
        tg_i64 t = i;
        const tg_i64 ox = t % g.ow; t /= g.ow;
        const tg_i64 oy = t % g.oh; t /= g.oh;
        const tg_i64 n = t % g.n;
        const tg_i64 r = t / g.n;
        const tg_i64 kx = r % g.kw, ky = (r / g.kw) % g.kh, c = r / kk;
        const tg_i64 iy = oy * g.sh + ky - g.ph, ix = ox * g.sw + kx - g.pw;
        T v = 0;
        if (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w) {
            v = src[((n * g.c + c) * g.h + iy) * g.w + ix];
        }
        dst[i] = v;
    }
}

// col2im: each image position gathers the (at most one per (ky, kx)) window
// entries that read it, in (ky, kx) order, as the CPU loop adds them.
template <typename T>
TG_DEV void col2im(const TgConvArgs &a) {
    const TgConvGeom g = a.g;
    const tg_i64 total = g.n * g.c * g.h * g.w;
    T *dst = (T *)a.dst;
    const T *col = (const T *)a.src;
    GRID_STRIDE(i, total) {
        tg_i64 t = i;
        const tg_i64 ix = t % g.w; t /= g.w;
        const tg_i64 iy = t % g.h; t /= g.h;
        const tg_i64 c = t % g.c;
        const tg_i64 n = t / g.c;
        T s = 0;
        for (tg_i64 ky = 0; ky < g.kh; ++ky) {
            const tg_i64 ty = iy + g.ph - ky;
            if (ty < 0 || ty % g.sh != 0 || ty / g.sh >= g.oh) continue;
            const tg_i64 oy = ty / g.sh;
            for (tg_i64 kx = 0; kx < g.kw; ++kx) {
                const tg_i64 tx = ix + g.pw - kx;
                if (tx < 0 || tx % g.sw != 0 || tx / g.sw >= g.ow) continue;
                const tg_i64 ox = tx / g.sw;
                const tg_i64 r = (c * g.kh + ky) * g.kw + kx;
                s += col[((r * g.n + n) * g.oh + oy) * g.ow + ox];
            }
        }
        dst[i] = s;
    }
}

// ---- max-pooling ------------------------------------------------------------

template <typename T>
TG_DEV void maxpool(const TgPoolArgs &a) {
    const TgConvGeom g = a.g;
    const tg_i64 total = g.n * g.c * g.oh * g.ow;
    T *dst = (T *)a.dst, *idx = (T *)a.idx;
    const T *src = (const T *)a.src;
    GRID_STRIDE(o, total) {
        tg_i64 t = o;
        const tg_i64 ox = t % g.ow; t /= g.ow;
        const tg_i64 oy = t % g.oh;
        const tg_i64 nc = t / g.oh;
        const T *plane = src + nc * g.h * g.w;
        T best = neg_inf(T(0));
        tg_i64 at = -1;
        for (tg_i64 ky = 0; ky < g.kh; ++ky) {
            const tg_i64 iy = oy * g.sh + ky - g.ph;
            if (iy < 0 || iy >= g.h) continue;
            for (tg_i64 kx = 0; kx < g.kw; ++kx) {
                const tg_i64 ix = ox * g.sw + kx - g.pw;
                if (ix < 0 || ix >= g.w) continue;
                const T v = plane[iy * g.w + ix];
                if (at < 0 || v > best || (v != v && best == best)) {
                    best = v;
                    at = iy * g.w + ix;
                }
            }
        }
        dst[o] = best;
        idx[o] = (T)at;
    }
}

// poolscatter: each input position sums, over the windows that cover it in
// (oy, ox) order, the dy entries whose index names it.
template <typename T>
TG_DEV void poolscatter(const TgPoolArgs &a) {
    const TgConvGeom g = a.g;
    const tg_i64 total = g.n * g.c * g.h * g.w, ohw = g.oh * g.ow;
    T *dx = (T *)a.dst;
    const T *idx = (const T *)a.idx, *dy = (const T *)a.src;
    GRID_STRIDE(i, total) {
        const tg_i64 pos = i % (g.h * g.w), nc = i / (g.h * g.w);
        const tg_i64 iy = pos / g.w, ix = pos % g.w;
        // Windows oy with oy·sh − ph <= iy <= oy·sh − ph + kh − 1.
        tg_i64 oy0 = iy + g.ph - g.kh + 1;
        oy0 = oy0 <= 0 ? 0 : (oy0 + g.sh - 1) / g.sh;
        tg_i64 ox0 = ix + g.pw - g.kw + 1;
        ox0 = ox0 <= 0 ? 0 : (ox0 + g.sw - 1) / g.sw;
        const tg_i64 oy1 = min((iy + g.ph) / g.sh, g.oh - 1);
        const tg_i64 ox1 = min((ix + g.pw) / g.sw, g.ow - 1);
        T s = 0;
        const T *pidx = idx + nc * ohw, *pdy = dy + nc * ohw;
        for (tg_i64 oy = oy0; oy <= oy1; ++oy) {
            for (tg_i64 ox = ox0; ox <= ox1; ++ox) {
                const tg_i64 o = oy * g.ow + ox;
                if ((tg_i64)pidx[o] == pos) s += pdy[o];
            }
        }
        dx[i] = s;
    }
}

template <typename T>
TG_DEV void poolgather(const TgPoolArgs &a) {
    const TgConvGeom g = a.g;
    const tg_i64 ohw = g.oh * g.ow, hw = g.h * g.w, total = g.n * g.c * ohw;
    T *dst = (T *)a.dst;
    const T *idx = (const T *)a.idx, *src = (const T *)a.src;
    GRID_STRIDE(o, total) {
        const tg_i64 k = (tg_i64)idx[o];
        dst[o] = (k >= 0 && k < hw) ? src[(o / ohw) * hw + k] : (T)CUDART_NAN;
    }
}

// ---- softmax cross-entropy ------------------------------------------------------

TG_DEV double maxnan(double a, double b) { return (a > b || a != a) ? a : b; }

// blockReduce combines one value per thread of a 256-thread block in a fixed
// tree; every thread gets the result.
template <bool Max>
TG_DEV double blockReduce(double v, double *sh) {
    sh[threadIdx.x] = v;
    __syncthreads();
    for (int s = 128; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            const double o = sh[threadIdx.x + s];
            sh[threadIdx.x] = Max ? maxnan(sh[threadIdx.x], o) : sh[threadIdx.x] + o;
        }
        __syncthreads();
    }
    const double r = sh[0];
    __syncthreads();
    return r;
}

template <typename T>
TG_DEV void softmaxce(const TgSoftmaxArgs &a) {
    __shared__ double sh[256];
    const T *x = (const T *)a.logits, *labels = (const T *)a.labels;
    T *loss = (T *)a.loss, *prob = (T *)a.prob;
    for (tg_i64 i = blockIdx.x; i < a.n; i += gridDim.x) {
        const T *row = x + i * a.c;
        T *p = prob + i * a.c;
        double m = -CUDART_INF;
        for (tg_i64 j = threadIdx.x; j < a.c; j += blockDim.x) m = maxnan(m, (double)row[j]);
        m = blockReduce<true>(m, sh);
        double s = 0;
        for (tg_i64 j = threadIdx.x; j < a.c; j += blockDim.x) s += exp((double)row[j] - m);
        s = blockReduce<false>(s, sh);
        for (tg_i64 j = threadIdx.x; j < a.c; j += blockDim.x) p[j] = (T)(exp((double)row[j] - m) / s);
        if (threadIdx.x == 0) {
            const double l = (double)labels[i];
            const tg_u64 code = tg_label_code(l, a.c);
            if (code == 0) {
                loss[i] = (T)(m + log(s) - (double)row[(tg_i64)l]);
            } else {
                loss[i] = (T)CUDART_NAN;
                tg_err_report(a.err, a.err_op, code, i, a.c, 0, 0, l);
            }
        }
    }
}

template <typename T>
TG_DEV void softmaxcegrad(const TgSoftmaxGradArgs &a) {
    T *d = (T *)a.dlogits;
    const T *prob = (const T *)a.prob, *labels = (const T *)a.labels, *g = (const T *)a.g;
    GRID_STRIDE(e, a.n * a.c) {
        const tg_i64 i = e / a.c, j = e % a.c;
        const T gi = g[a.g_off + i * a.g_stride];
        const double l = (double)labels[i];
        const tg_u64 code = tg_label_code(l, a.c);
        if (code != 0) {
            d[e] = (T)CUDART_NAN;
            if (j == 0) tg_err_report(a.err, a.err_op, code, i, a.c, 0, 0, l);
            continue;
        }
        const bool hit = (tg_i64)l == j;
        d[e] = hit ? gi * (prob[e] - (T)1) : gi * prob[e];
    }
}

// ---- optimiser steps -----------------------------------------------------------

template <typename T>
TG_DEV void sgd(const TgSGDArgs &a) {
    T *w = (T *)a.w, *v = (T *)a.v;
    const T *g = (const T *)a.g;
    const T lr = (T)a.lr, mu = (T)a.momentum, wd = (T)a.wd;
    GRID_STRIDE(i, a.n) {
        T d = g[i];
        if (wd != 0) d = d + wd * w[i];
        if (mu != 0) {
            v[i] = a.first ? d : mu * v[i] + d;
            d = a.nesterov ? d + mu * v[i] : v[i];
        }
        w[i] = w[i] - lr * d;
    }
}

template <typename T>
TG_DEV void adam(const TgAdamArgs &a) {
    T *w = (T *)a.w, *m = (T *)a.m, *v = (T *)a.v;
    const T *g = (const T *)a.g;
    const T b1 = (T)a.beta1, b2 = (T)a.beta2, eps = (T)a.eps, lr = (T)a.lr, wd = (T)a.wd;
    const T c1 = (T)a.c1, c2 = (T)a.c2;
    GRID_STRIDE(i, a.n) {
        T gi = g[i];
        if (wd != 0) {
            if (a.decoupled) {
                w[i] = w[i] - lr * wd * w[i];
            } else {
                gi = gi + wd * w[i];
            }
        }
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        const T mh = m[i] / c1, vh = v[i] / c2;
        w[i] = w[i] - lr * mh / (tg_sqrt(vh) + eps);
    }
}

// ---- entry points ------------------------------------------------------------------

#define TG_NN(name, fn, Args)                                                          \
    extern "C" __global__ void tg_##name##_f32(const Args a) { fn<float>(a); }        \
    extern "C" __global__ void tg_##name##_f64(const Args a) { fn<double>(a); }

TG_NN(im2col, im2col, TgConvArgs)
TG_NN(col2im, col2im, TgConvArgs)
TG_NN(maxpool, maxpool, TgPoolArgs)
TG_NN(poolscatter, poolscatter, TgPoolArgs)
TG_NN(poolgather, poolgather, TgPoolArgs)
TG_NN(softmaxce, softmaxce, TgSoftmaxArgs)
TG_NN(softmaxcegrad, softmaxcegrad, TgSoftmaxGradArgs)
TG_NN(sgd, sgd, TgSGDArgs)
TG_NN(adam, adam, TgAdamArgs)
