//go:build kernelsim

// launch.cpp: runs a kernel of the simulated modules on the host, one host
// thread per CUDA thread, one block after another.
#include <dlfcn.h>

#include <barrier>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "shim.h"

#include "../../tg_args.h"

thread_local sim_dim3 threadIdx, blockIdx, blockDim, gridDim;

namespace {

struct Warp {
    explicit Warp(int n) : bar(n) {}
    std::barrier<> bar;
    uint64_t buf[32];
};

struct Block {
    explicit Block(int n) : bar(n) {}
    std::barrier<> bar;
    std::vector<std::unique_ptr<Warp>> warps;
};

thread_local Block *curBlock;

} // namespace

void __syncthreads() { curBlock->bar.arrive_and_wait(); }

uint64_t sim_shfl_down(uint64_t v, int delta) {
    const unsigned t = threadIdx.x; // 1-D blocks only, as the kernels use
    Warp &w = *curBlock->warps[t / 32];
    const int lane = (int)(t % 32);
    w.buf[lane] = v;
    w.bar.arrive_and_wait();
    uint64_t r = lane + delta < 32 ? w.buf[lane + delta] : v;
    w.bar.arrive_and_wait();
    return r;
}

uint64_t sim_shfl_up(uint64_t v, int delta) {
    const unsigned t = threadIdx.x;
    Warp &w = *curBlock->warps[t / 32];
    const int lane = (int)(t % 32);
    w.buf[lane] = v;
    w.bar.arrive_and_wait();
    uint64_t r = lane - delta >= 0 ? w.buf[lane - delta] : v;
    w.bar.arrive_and_wait();
    return r;
}

// Runs kernel `name`, whose parameter is the struct `args_type`, with the
// bytes at args. Returns 0, or -1 when the kernel does not exist, -2 for an
// unknown struct, -3 for a bad geometry.
extern "C" int sim_launch(const char *name, const char *args_type, const void *args, int gx, int gy,
                          int gz, int bx) {
    void *f = dlsym(RTLD_DEFAULT, name);
    if (!f) return -1;
    if (gx <= 0 || gy <= 0 || gz <= 0 || bx <= 0 || bx > 1024 || bx % 32 != 0) return -3;
    std::function<void()> call;
#define TG_SIM_ARGS(T)                                                            \
    if (strcmp(args_type, #T) == 0) {                                             \
        T a;                                                                      \
        memcpy(&a, args, sizeof a);                                               \
        call = [f, a] { reinterpret_cast<void (*)(T)>(f)(a); };                   \
    }
    TG_SIM_ARGS(TgMapArgs)
    TG_SIM_ARGS(TgMapStridedArgs)
    TG_SIM_ARGS(TgZipArgs)
    TG_SIM_ARGS(TgZipStridedArgs)
    TG_SIM_ARGS(TgWhereArgs)
    TG_SIM_ARGS(TgCopyArgs)
    TG_SIM_ARGS(TgFillArgs)
    TG_SIM_ARGS(TgArangeArgs)
    TG_SIM_ARGS(TgRandomArgs)
    TG_SIM_ARGS(TgReduceInnerArgs)
    TG_SIM_ARGS(TgReduceOuterArgs)
    TG_SIM_ARGS(TgReduceFinalArgs)
    TG_SIM_ARGS(TgArgReduceArgs)
    TG_SIM_ARGS(TgGemmArgs)
    TG_SIM_ARGS(TgConvArgs)
    TG_SIM_ARGS(TgPoolArgs)
    TG_SIM_ARGS(TgSoftmaxArgs)
    TG_SIM_ARGS(TgSoftmaxGradArgs)
    TG_SIM_ARGS(TgSGDArgs)
    TG_SIM_ARGS(TgAdamArgs)
    TG_SIM_ARGS(TgScanArgs)
    TG_SIM_ARGS(TgGatherArgs)
    TG_SIM_ARGS(TgNormArgs)
    TG_SIM_ARGS(TgNormGradArgs)
    TG_SIM_ARGS(TgAttnArgs)
    if (!call) return -2;
    const sim_dim3 grid = {(unsigned)gx, (unsigned)gy, (unsigned)gz}, block = {(unsigned)bx, 1, 1};
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                Block b(bx);
                for (int w = 0; w < bx / 32; w++) b.warps.emplace_back(new Warp(32));
                std::vector<std::thread> ts;
                ts.reserve(bx);
                for (int t = 0; t < bx; t++)
                    ts.emplace_back([&, t] {
                        threadIdx = {(unsigned)t, 0, 0};
                        blockIdx = {x, y, z};
                        blockDim = block;
                        gridDim = grid;
                        curBlock = &b;
                        call();
                    });
                for (auto &t : ts) t.join();
            }
    return 0;
}

// The hash of the kernel sources this build compiled, passed in with
// CGO_CXXFLAGS=-DTG_SIM_SOURCES=<hash> (see doc.go): Go's build cache does
// not see changes to files included from outside the package directory,
// but it does see CGO_CXXFLAGS.
#ifndef TG_SIM_SOURCES
#define TG_SIM_SOURCES none
#endif
#define TG_SIM_STR2(x) #x
#define TG_SIM_STR(x) TG_SIM_STR2(x)
extern "C" const char *sim_sources_id(void) { return TG_SIM_STR(TG_SIM_SOURCES); }
