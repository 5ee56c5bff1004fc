// tg_elementwise.cuh: the functors of the elementwise operations, shared
// by module elementwise (float32, float64) and the half modules
// (half_bf16, half_f16, which apply them to float32 values widened from
// the half types).
#ifndef TG_ELEMENTWISE_CUH
#define TG_ELEMENTWISE_CUH

#include "tg_common.cuh"

// ---- op functors ----------------------------------------------------------
// Map ops take (x, s); unary ops ignore s. Zip ops take (a, b).

#define TG_MAP_OP(Name, expr)                                                   \
    struct Name {                                                               \
        template <typename T> __device__ __forceinline__ T operator()(T x, T s) const { \
            (void)s;                                                            \
            return (expr);                                                      \
        }                                                                       \
    };
#define TG_ZIP_OP(Name, expr)                                                   \
    struct Name {                                                               \
        template <typename T> __device__ __forceinline__ T operator()(T a, T b) const { \
            return (expr);                                                      \
        }                                                                       \
    };

// The functors of the op table's rows are generated into
// elementwise_ops.cuh (included at the end of elementwise.cu and of
// half.cuh, with their own kernel macros).

// alpha*a + beta*b with alpha and beta rounded to T (device/cpu addScaled).
struct Axpby {
    double alpha, beta;
    template <typename T> __device__ __forceinline__ T operator()(T a, T b) const {
        return T(alpha) * a + T(beta) * b;
    }
};

#endif
