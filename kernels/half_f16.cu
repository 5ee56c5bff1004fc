// half_f16.cu: module "half_f16" — the elementwise operations and the
// reductions on float16 (f16) buffers, computing in float32 (elementwise) and
// double (reductions), rounding once to float16. The body, its launch
// geometry and its kernels are in half.cuh, shared with the other half
// module; each module holds one dtype, so a model that uses one half
// dtype JIT-compiles one of them.
#define TG_HALF_T tg_f16
#define TG_HALF_DT f16
#include "half.cuh"
