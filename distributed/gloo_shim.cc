//go:build gloo

// The Gloo binding: a gloo::rendezvous::Store backed by tapegrad's Go TCP
// store, a full-mesh TCP context, and the collectives, each catching Gloo's
// exceptions and turning them into result codes and messages.

#include "gloo_shim.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/common/error.h>
#include <gloo/math.h>
#include <gloo/reduce.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/prefix_store.h>
#include <gloo/rendezvous/store.h>
#include <gloo/transport/tcp/device.h>

namespace {

class GoStore : public gloo::rendezvous::Store {
 public:
  explicit GoStore(uintptr_t h) : h_(h) {}

  void set(const std::string &key, const std::vector<char> &data) override {
    std::string k = key;
    std::vector<char> v = data;
    if (tgStoreSet(h_, &k[0], (int)k.size(), v.empty() ? nullptr : &v[0], (int)v.size()) != 0) {
      GLOO_THROW_IO_EXCEPTION("rendezvous store: set ", key, " failed");
    }
  }

  std::vector<char> get(const std::string &key) override {
    std::string k = key;
    char *val = nullptr;
    int n = 0;
    int rc = tgStoreGet(h_, &k[0], (int)k.size(), &val, &n);
    if (rc == 1) {
      GLOO_THROW_IO_EXCEPTION("Timed out waiting for rendezvous store key ", key);
    }
    if (rc != 0) {
      GLOO_THROW_IO_EXCEPTION("rendezvous store: get ", key, " failed");
    }
    std::vector<char> out(val, val + n);
    std::free(val);
    return out;
  }

  void wait(const std::vector<std::string> &keys) override {
    for (const auto &k : keys) get(k);
  }

  void wait(const std::vector<std::string> &keys, const std::chrono::milliseconds &) override {
    // The Go store's own timeout bounds every get.
    wait(keys);
  }

 private:
  uintptr_t h_;
};

int report(const std::exception &e, int code, char *err, size_t errlen) {
  std::snprintf(err, errlen, "%s", e.what());
  return code;
}

// classify maps an exception to a result code.
template <typename F>
int guarded(F f, char *err, size_t errlen) {
  try {
    f();
    return TG_OK;
  } catch (const gloo::IoException &e) {
    std::string m = e.what();
    return report(e, m.find("Timed out") != std::string::npos ? TG_TIMEOUT : TG_IO, err, errlen);
  } catch (const std::exception &e) {
    return report(e, TG_OTHER, err, errlen);
  }
}

}  // namespace

struct tg_gloo {
  std::shared_ptr<gloo::rendezvous::Context> ctx;
};

extern "C" {

tg_gloo *tg_gloo_connect(int rank, int size, const char *hostname, uintptr_t store, const char *prefix,
                         long timeout_ms, int *code, char *err, size_t errlen) {
  tg_gloo *g = new tg_gloo;
  *code = guarded(
      [&] {
        gloo::transport::tcp::attr attr;
        attr.hostname = hostname;
        auto dev = gloo::transport::tcp::CreateDevice(attr);
        GoStore base(store);
        gloo::rendezvous::PrefixStore ps(prefix, base);
        auto ctx = std::make_shared<gloo::rendezvous::Context>(rank, size);
        ctx->setTimeout(std::chrono::milliseconds(timeout_ms));
        ctx->connectFullMesh(ps, dev);
        g->ctx = ctx;
      },
      err, errlen);
  if (*code != TG_OK) {
    delete g;
    return nullptr;
  }
  return g;
}

int tg_gloo_allreduce(tg_gloo *g, void *buf, size_t n, int dtype, uint32_t tag, char *err, size_t errlen) {
  return guarded(
      [&] {
        gloo::AllreduceOptions opts(g->ctx);
        opts.setTag(tag);
        if (dtype == TG_F32) {
          opts.setOutput(static_cast<float *>(buf), n);
          opts.setReduceFunction(static_cast<void (*)(void *, const void *, const void *, size_t)>(&gloo::sum<float>));
        } else {
          opts.setOutput(static_cast<double *>(buf), n);
          opts.setReduceFunction(static_cast<void (*)(void *, const void *, const void *, size_t)>(&gloo::sum<double>));
        }
        gloo::allreduce(opts);
      },
      err, errlen);
}

int tg_gloo_broadcast(tg_gloo *g, void *buf, size_t n, int dtype, int root, uint32_t tag, char *err, size_t errlen) {
  return guarded(
      [&] {
        gloo::BroadcastOptions opts(g->ctx);
        opts.setTag(tag);
        opts.setRoot(root);
        if (dtype == TG_F32) {
          opts.setOutput(static_cast<float *>(buf), n);
        } else {
          opts.setOutput(static_cast<double *>(buf), n);
        }
        gloo::broadcast(opts);
      },
      err, errlen);
}

int tg_gloo_allgather(tg_gloo *g, void *in, void *out, size_t n, int dtype, uint32_t tag, char *err, size_t errlen) {
  return guarded(
      [&] {
        gloo::AllgatherOptions opts(g->ctx);
        opts.setTag(tag);
        size_t total = n * (size_t)g->ctx->size;
        if (dtype == TG_F32) {
          opts.setInput(static_cast<float *>(in), n);
          opts.setOutput(static_cast<float *>(out), total);
        } else {
          opts.setInput(static_cast<double *>(in), n);
          opts.setOutput(static_cast<double *>(out), total);
        }
        gloo::allgather(opts);
      },
      err, errlen);
}

// tg_gloo_reduce_scatter runs one ring reduce per rank, rank r's on its
// shard, with tags tag, tag+1, ...: each rank sends and receives about
// (size-1)/size of the buffer, as a ring reduce-scatter does. (Gloo's own
// ReduceScatterHalvingDoubling is an algorithm of its older, bound-buffer
// API; after it, large operations of the newer API on the same context
// stalled until their timeout in our tests, so it is not used.)
int tg_gloo_reduce_scatter(tg_gloo *g, void *buf, void *out, const int *counts, int dtype, uint32_t tag, char *err,
                           size_t errlen) {
  return guarded(
      [&] {
        size_t esize = dtype == TG_F32 ? sizeof(float) : sizeof(double);
        char *base = static_cast<char *>(buf);
        size_t off = 0, mine = 0;
        for (int r = 0; r < g->ctx->size; r++) {
          size_t c = (size_t)counts[r];
          if (r == g->ctx->rank) mine = off;
          if (c > 0) {
            gloo::ReduceOptions opts(g->ctx);
            opts.setTag(tag + (uint32_t)r);
            opts.setRoot(r);
            if (dtype == TG_F32) {
              opts.setOutput(reinterpret_cast<float *>(base + off * esize), c);
              opts.setReduceFunction(
                  static_cast<void (*)(void *, const void *, const void *, size_t)>(&gloo::sum<float>));
            } else {
              opts.setOutput(reinterpret_cast<double *>(base + off * esize), c);
              opts.setReduceFunction(
                  static_cast<void (*)(void *, const void *, const void *, size_t)>(&gloo::sum<double>));
            }
            gloo::reduce(opts);
          }
          off += c;
        }
        size_t own = (size_t)counts[g->ctx->rank];
        if (own > 0) std::memcpy(out, base + mine * esize, own * esize);
      },
      err, errlen);
}

int tg_gloo_barrier(tg_gloo *g, uint32_t tag, char *err, size_t errlen) {
  return guarded(
      [&] {
        gloo::BarrierOptions opts(g->ctx);
        opts.setTag(tag);
        gloo::barrier(opts);
      },
      err, errlen);
}

void tg_gloo_close(tg_gloo *g) {
  if (g == nullptr) return;
  try {
    g->ctx->closeConnections();
  } catch (...) {
  }
  delete g;
}

}  // extern "C"
