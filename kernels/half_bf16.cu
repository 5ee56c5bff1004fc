// half_bf16.cu: module "half_bf16" — the elementwise operations and the
// reductions on bfloat16 (bf16) buffers, computing in float32 (elementwise) and
// double (reductions), rounding once to bfloat16. The body, its launch
// geometry and its kernels are in half.cuh, shared with the other half
// module; each module holds one dtype, so a model that uses one half
// dtype JIT-compiles one of them.
#define TG_HALF_T tg_bf16
#define TG_HALF_DT bf16
#include "half.cuh"
