// tg_err.cuh: recording a bad label or index in the device-side error
// record (TgErrRecord, tg_args.h), for the kernels of modules nn and index.
#ifndef TG_ERR_CUH
#define TG_ERR_CUH

#include "tg_args.h"

// tg_err_report records a bad value at flat position pos unless the record
// is null or already holds an error (the first claimant wins). External
// linkage on purpose (see nn.cu).
__device__ __forceinline__ void tg_err_report(TgErrRecord *r, tg_i64 op, tg_u64 code, tg_i64 pos,
                                              tg_i64 bound, tg_i64 is_int, tg_i64 iv, double fv) {
    if (r == nullptr) return;
    if (atomicCAS(&r->code, 0ull, code) != 0ull) return;
    r->op = op;
    r->pos = pos;
    r->bound = bound;
    r->is_int = is_int;
    r->ivalue = iv;
    r->fvalue = fv;
}

// tg_label_code returns 0 when the float label v is an integer in
// [0, bound), else the TG_ERR_* code that describes it.
__device__ __forceinline__ tg_u64 tg_label_code(double v, tg_i64 bound) {
    if (!(v == trunc(v)) || v - v != 0) return TG_ERR_NOTINT; // NaN, fractional, infinite
    return (v >= 0 && v < (double)bound) ? 0 : TG_ERR_RANGE;
}

#endif
