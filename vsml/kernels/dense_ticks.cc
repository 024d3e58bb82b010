// Fused micro ticks of a dense VSML layer: an XLA FFI custom call for the CPU.
//
// For every synapse (a, b) of every batch member it runs all ``micro_ticks`` sub-LSTM ticks
// in one pass: its gate pre-activations
//     z = row[a] + col[b] + h @ w_h          (4N numbers, gate order i, g, f, o)
// live on the stack (registers for N = 16), the LSTM update is applied in place, and only
// the final (h, c) is written back.  No [A, B, 4N] array exists.  row = fwd_in @ w_fwd + b
// and col = bwd_in @ w_bwd are computed by the caller (they depend on a or b only).
//
// Inputs  h, c [batch..., A, B, N]; row [batch..., A, 4N]; col [batch..., B, 4N];
//         w_h [batch..., N, 4N] (vmap broadcasts every input to the same batch dims).
// Outputs h', c' [batch..., A, B, N] (may alias h, c: every synapse is read before it is
// written).  Attributes micro_ticks, max_threads (int64; 0: all of XLA's intra-op pool).
//
// tanh is XLA's / Eigen's float rational approximation (clamped), sigmoid(x) is
// 0.5 tanh(x / 2) + 0.5, so the numbers match the JAX paths to float rounding.
// Built at first use with -O3 -march=native (vsml/kernels/__init__.py); the rows of all batch
// members are split over XLA's intra-op thread pool.
//
// VsmlConvTicks (below) does the same for a conv layer, whose synapses are ticked once per
// output position and averaged (vsml/model.py, conv_tick_fast).

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

// One code for scalars and GCC vectors of the machine's width: 16 floats (AVX-512), 8 (AVX),
// 4 (otherwise).  A wider vector than the ISA's is split badly by GCC: measured 20x slower.
#if defined(__AVX512F__)
constexpr int kW = 16;
#elif defined(__AVX__)
constexpr int kW = 8;
#else
constexpr int kW = 4;
#endif
typedef float V __attribute__((vector_size(4 * kW)));
typedef int32_t VI __attribute__((vector_size(4 * kW)));

template <typename T>
__attribute__((always_inline)) inline T fast_tanh(T x) {
  // Eigen's generic_fast_tanh_float (what XLA's CPU backend emits for f32 tanh)
  const T clamp = T{} + 7.90531110763549805f;
  T xc = x < -clamp ? -clamp : x;
  xc = xc > clamp ? clamp : xc;
  T x2 = xc * xc;
  T p = x2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
  p = x2 * p + -8.60467152213735e-11f;
  p = x2 * p + 5.12229709037114e-08f;
  p = x2 * p + 1.48572235717979e-05f;
  p = x2 * p + 6.37261928875436e-04f;
  p = x2 * p + 4.89352455891786e-03f;
  p = xc * p;
  T q = x2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
  q = x2 * q + 2.26843463243900e-03f;
  q = x2 * q + 4.89352518554385e-03f;
  return p / q;
}

template <typename T>
__attribute__((always_inline)) inline T sigmoid(T x) {
  return 0.5f * fast_tanh<T>(0.5f * x) + 0.5f;
}

// The LSTM update of one gate block (i, g, f, o), forget gate +5, input gate -5.  (Sharing
// one division among the gates, sigmoid = (q + p) / 2q, measured no faster.)
template <typename T>
__attribute__((always_inline)) inline void lstm_update(T i, T g, T f, T o, T& c, T& h) {
  c = sigmoid<T>(f + 5.0f) * c + sigmoid<T>(i - 5.0f) * fast_tanh<T>(g);
  h = sigmoid<T>(o) * fast_tanh<T>(c);
}

// The same update with the sigmoid gates' pre-activations already halved and shifted, i.e.
// i' = (i - 5) / 2, f' = (f + 5) / 2, o' = o / 2 (the caller folds the halving into the
// weights and the shifts into the row / column term): sigmoid(x) = tanh(x') / 2 + 1/2.
template <typename T>
__attribute__((always_inline)) inline void lstm_update_halved(T i, T g, T f, T o, T& c, T& h) {
  c = (0.5f * fast_tanh<T>(f) + 0.5f) * c + (0.5f * fast_tanh<T>(i) + 0.5f) * fast_tanh<T>(g);
  h = (0.5f * fast_tanh<T>(o) + 0.5f) * fast_tanh<T>(c);
}

struct Layer {
  const float* h;
  const float* c;
  const float* row;
  const float* col;
  const float* w;
  float* h_out;
  float* c_out;
  int64_t batch, rows, cols, n, ticks;
};

// State size N = kW Q: every gate block is Q vectors of kW lanes, kept in registers.  kS
// synapses of a row are ticked together: their dependency chains (matvec -> gates -> c ->
// tanh(c) -> next micro tick) interleave, so the FMA units are not left waiting on latency.
template <int kQ, int kS>
inline void TickSynapses(const Layer& L, const float* w, const V* rc, int64_t s0, int64_t ns) {
  constexpr int64_t n = kW * kQ, g = 4 * n;
  V hv[kS][kQ], cv[kS][kQ];
  for (int u = 0; u < kS; ++u) {
    const int64_t s = s0 + (u < ns ? u : 0) * n;
    __builtin_memcpy(hv[u], L.h + s, sizeof hv[u]);
    __builtin_memcpy(cv[u], L.c + s, sizeof cv[u]);
  }
  for (int64_t t = 0; t < L.ticks; ++t) {
    V z[kS][4 * kQ];
    for (int u = 0; u < kS; ++u) {
      for (int j = 0; j < 4 * kQ; ++j) z[u][j] = rc[u * 4 * kQ + j];
    }
    for (int k = 0; k < n; ++k) {
      const float* wk = w + k * g;
      V hb[kS];  // h[k] in every lane (a register shuffle: measured 3-5% faster than a load)
      for (int u = 0; u < kS; ++u) hb[u] = __builtin_shuffle(hv[u][k / kW], VI{} + (k % kW));
      for (int j = 0; j < 4 * kQ; ++j) {
        V wv;
        __builtin_memcpy(&wv, wk + kW * j, sizeof wv);
        for (int u = 0; u < kS; ++u) z[u][j] += hb[u] * wv;
      }
    }
    for (int u = 0; u < kS; ++u) {
      for (int q = 0; q < kQ; ++q) {
        const V i = z[u][q], gg = z[u][kQ + q], f = z[u][2 * kQ + q], o = z[u][3 * kQ + q];
        lstm_update_halved<V>(i, gg, f, o, cv[u][q], hv[u][q]);
      }
    }
  }
  for (int u = 0; u < ns; ++u) {
    __builtin_memcpy(L.h_out + s0 + u * n, hv[u], sizeof hv[u]);
    __builtin_memcpy(L.c_out + s0 + u * n, cv[u], sizeof cv[u]);
  }
}

// Rows [a0, a1) of batch member m.
// Gate blocks i, f, o of the weights and of the row / column terms are halved (exact in
// floating point) and the gate shifts -5, +5 become -2.5, +2.5 on the row term: 5 fewer
// operations per tick in the gates (lstm_update_halved).
template <int kQ, int kS>
void TickRowsVec(const Layer& L, int64_t m, int64_t a0, int64_t a1) {
  constexpr int64_t n = kW * kQ, g = 4 * n;
  const float* w_in = L.w + m * n * g;
  const float* col_in = L.col + m * L.cols * g;
  auto scale = [](int64_t j) { return j / n == 1 ? 1.0f : 0.5f; };  // block 1 = cell gate
  auto shift = [](int64_t j) { return j / n == 0 ? -2.5f : (j / n == 2 ? 2.5f : 0.0f); };
  alignas(64) float w[n * g];
  for (int64_t k = 0; k < n; ++k)
    for (int64_t j = 0; j < g; ++j) w[k * g + j] = scale(j) * w_in[k * g + j];
  constexpr int64_t kMaxCols = 64;
  alignas(64) float col_buf[kMaxCols * g];
  const bool buffered = L.cols <= kMaxCols;
  if (buffered)
    for (int64_t b = 0; b < L.cols; ++b)
      for (int64_t j = 0; j < g; ++j) col_buf[b * g + j] = scale(j) * col_in[b * g + j];
  V rc[kS * 4 * kQ];
  for (int64_t a = a0; a < a1; ++a) {
    const float* row_in = L.row + (m * L.rows + a) * g;
    alignas(64) float row[g];
    for (int64_t j = 0; j < g; ++j) row[j] = scale(j) * row_in[j] + shift(j);
    V r[4 * kQ];
    __builtin_memcpy(r, row, sizeof r);
    for (int64_t b = 0; b < L.cols; b += kS) {
      const int64_t ns = std::min<int64_t>(kS, L.cols - b);
      for (int u = 0; u < kS; ++u) {
        const int64_t bu = b + (u < ns ? u : 0);
        alignas(64) float cb[g];
        if (buffered) {
          __builtin_memcpy(cb, col_buf + bu * g, sizeof cb);
        } else {
          for (int64_t j = 0; j < g; ++j) cb[j] = scale(j) * col_in[bu * g + j];
        }
        V cv[4 * kQ];
        __builtin_memcpy(cv, cb, sizeof cv);
        for (int j = 0; j < 4 * kQ; ++j) rc[u * 4 * kQ + j] = r[j] + cv[j];
      }
      TickSynapses<kQ, kS>(L, w, rc, ((m * L.rows + a) * L.cols + b) * n, ns);
    }
  }
}

// Rows [a0, a1) of batch member m, any N <= 64 (scalar loops the compiler may vectorise);
// kN = 0: N known only at run time.
template <int kN>
void TickRows(const Layer& L, int64_t m, int64_t a0, int64_t a1) {
  const int64_t n = kN > 0 ? kN : L.n;
  const int64_t g = 4 * n;
  const float* w = L.w + m * n * g;
  const float* col = L.col + m * L.cols * g;
  constexpr int kMax = kN > 0 ? kN : 64;
  alignas(64) float z[4 * kMax];
  alignas(64) float rc[4 * kMax];
  alignas(64) float hs[kMax];
  alignas(64) float cs[kMax];
  for (int64_t a = a0; a < a1; ++a) {
    const float* row = L.row + (m * L.rows + a) * g;
    for (int64_t b = 0; b < L.cols; ++b) {
      const int64_t s = ((m * L.rows + a) * L.cols + b) * n;
      for (int64_t j = 0; j < g; ++j) rc[j] = row[j] + col[b * g + j];
      for (int64_t k = 0; k < n; ++k) {
        hs[k] = L.h[s + k];
        cs[k] = L.c[s + k];
      }
      for (int64_t t = 0; t < L.ticks; ++t) {
        for (int64_t j = 0; j < g; ++j) z[j] = 0.0f;
        for (int64_t k = 0; k < n; ++k) {
          const float hk = hs[k];
          const float* wk = w + k * g;
          for (int64_t j = 0; j < g; ++j) z[j] += hk * wk[j];
        }
        for (int64_t k = 0; k < n; ++k) {
          const float i = z[k] + rc[k], gg = z[n + k] + rc[n + k];
          const float f = z[2 * n + k] + rc[2 * n + k], o = z[3 * n + k] + rc[3 * n + k];
          lstm_update<float>(i, gg, f, o, cs[k], hs[k]);
        }
      }
      for (int64_t k = 0; k < n; ++k) {
        L.h_out[s + k] = hs[k];
        L.c_out[s + k] = cs[k];
      }
    }
  }
}

using RowsFn = void (*)(const Layer&, int64_t, int64_t, int64_t);

RowsFn PickRows(int64_t n, int64_t cols) {
  // 5 synapses in flight when they tile a row (B = 10: ~5% faster than 2 with AVX-512;
  // with 8-lane vectors their gates would not fit in the 16 registers)
  if (n == 16 && kW == 16 && cols % 5 == 0) return TickRowsVec<1, 5>;
  switch (n) {
    case 4: return TickRows<4>;
    case 8: return TickRows<8>;
    case 16: return TickRowsVec<16 / kW, 2>;
    case 32: return TickRowsVec<32 / kW, 2>;
    default: return TickRows<0>;
  }
}

// Work items (dense: member x block of rows; conv: member x block of synapses); idle pool
// threads and the caller take items from one counter.  The shared state outlives the call if
// a pool task starts after the last item.
struct Work {
  std::function<void(int64_t)> run;
  int64_t items;
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};

  void Drain() {
    for (int64_t i; (i = next.fetch_add(1)) < items;) {
      run(i);
      done.fetch_add(1, std::memory_order_release);
    }
  }
};

// fn(m, i0, i1) over [0, count) of each of the batch members, split into blocks of at least
// min_block (so a task is worth scheduling), ~4 per thread for balance, on up to max_threads
// threads of XLA's pool (0: all of them).
void RunBlocks(ffi::ThreadPool& pool, int64_t max_threads, int64_t batch, int64_t count,
               int64_t min_block, std::function<void(int64_t, int64_t, int64_t)> fn) {
  int64_t threads = std::max<int64_t>(1, pool.num_threads());
  if (max_threads > 0) threads = std::min(threads, max_threads);
  const int64_t blocks = std::max<int64_t>(1, (4 * threads + batch - 1) / batch);
  const int64_t block = std::max(min_block, (count + blocks - 1) / blocks);
  const int64_t blocks_per_member = (count + block - 1) / block;
  auto work = std::make_shared<Work>();
  work->items = batch * blocks_per_member;
  work->run = [fn = std::move(fn), block, blocks_per_member, count](int64_t i) {
    const int64_t m = i / blocks_per_member, i0 = (i % blocks_per_member) * block;
    fn(m, i0, std::min(i0 + block, count));
  };
  const int64_t helpers = std::min<int64_t>(threads - 1, work->items - 1);
  for (int64_t t = 0; t < helpers; ++t) pool.Schedule([work] { work->Drain(); });
  work->Drain();
  while (work->done.load(std::memory_order_acquire) < work->items) std::this_thread::yield();
}

ffi::Error DenseTicks(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> h, ffi::Buffer<ffi::F32> c,
                      ffi::Buffer<ffi::F32> row, ffi::Buffer<ffi::F32> col,
                      ffi::Buffer<ffi::F32> w_h, ffi::ResultBuffer<ffi::F32> h_out,
                      ffi::ResultBuffer<ffi::F32> c_out, int64_t micro_ticks,
                      int64_t max_threads) {
  auto dims = h.dimensions();
  if (dims.size() < 3) return ffi::Error::InvalidArgument("h must be [..., A, B, N]");
  const int64_t rank = dims.size();
  const int64_t rows = dims[rank - 3], cols = dims[rank - 2], n = dims[rank - 1];
  if (n > 64)
    return ffi::Error::InvalidArgument("state size N must be <= 64");
  const int64_t per_member = rows * cols * n;
  const int64_t batch = per_member ? h.element_count() / per_member : 0;
  if (c.element_count() != h.element_count() ||
      row.element_count() != batch * rows * 4 * n ||
      col.element_count() != batch * cols * 4 * n || w_h.element_count() != batch * n * 4 * n)
    return ffi::Error::InvalidArgument("inconsistent shapes of h, c, row, col, w_h");
  if (batch == 0 || rows == 0) return ffi::Error::Success();

  const Layer layer{h.typed_data(), c.typed_data(), row.typed_data(), col.typed_data(),
                    w_h.typed_data(), h_out->typed_data(), c_out->typed_data(),
                    batch, rows, cols, n, micro_ticks};
  const RowsFn fn = PickRows(n, cols);
  // blocks of rows of at least ~512 synapses
  RunBlocks(pool, max_threads, batch, rows, std::max<int64_t>(1, 512 / std::max<int64_t>(1, cols)),
            [layer, fn](int64_t m, int64_t a0, int64_t a1) { fn(layer, m, a0, a1); });
  return ffi::Error::Success();
}

// ------------------------------------------------------------------------------ conv layer
//
// Synapse s = (r, o) of a conv layer (r = (u, v, c_in) a kernel row, o = c_out) is ticked at
// every output position p with gate pre-activations
//     z = h[s] @ w_h + in[p, r] + out[p, o]
// from the same (h[s], c[s]); its new state is the mean over positions.  h @ w_h is computed
// once per synapse and micro tick, not once per position (the JAX path's layout), and the
// per-position (h, c) never reach memory except h at the last micro tick, which the layer's
// messages need.
//
// Inputs  h, c [batch..., R, O, N]; in [batch..., P, R, 4N] (forward-message projections of
//         each position's patch); out [batch..., P, O, 4N] (backward-message projections plus
//         bias); w_h [batch..., N, 4N].
// Outputs h', c' [batch..., R, O, N]; h_pos [batch..., P, R, O, N] (last micro tick).

struct ConvLayer {
  const float* h;
  const float* c;
  const float* in;
  const float* out;
  const float* w;
  float* h_out;
  float* c_out;
  float* h_pos;
  int64_t positions, rows, cols, n, ticks;
};

// Synapses [s0, s1) of batch member m; N = kW Q.  The sigmoid gates' halving and shifts are
// applied per position (one FMA per gate): the projections are not copied.
template <int kQ>
void ConvSynapses(const ConvLayer& L, int64_t m, int64_t s0, int64_t s1) {
  constexpr int64_t n = kW * kQ, g = 4 * n;
  const int64_t synapses = L.rows * L.cols;
  const float* w = L.w + m * n * g;
  const float* in = L.in + m * L.positions * L.rows * g;
  const float* out = L.out + m * L.positions * L.cols * g;
  const float inv_positions = 1.0f / static_cast<float>(L.positions);
  for (int64_t s = s0; s < s1; ++s) {
    const int64_t r = s / L.cols, o = s % L.cols;
    const int64_t at = (m * synapses + s) * n;
    V hv[kQ], cv[kQ];
    __builtin_memcpy(hv, L.h + at, sizeof hv);
    __builtin_memcpy(cv, L.c + at, sizeof cv);
    for (int64_t t = 0; t < L.ticks; ++t) {
      V hw[4 * kQ];
      for (int j = 0; j < 4 * kQ; ++j) hw[j] = V{};
      for (int k = 0; k < n; ++k) {
        const V hk = __builtin_shuffle(hv[k / kW], VI{} + (k % kW));
        for (int j = 0; j < 4 * kQ; ++j) {
          V wv;
          __builtin_memcpy(&wv, w + k * g + kW * j, sizeof wv);
          hw[j] += hk * wv;
        }
      }
      V h_sum[kQ], c_sum[kQ];
      for (int q = 0; q < kQ; ++q) h_sum[q] = c_sum[q] = V{};
      const bool last = t + 1 == L.ticks;
      for (int64_t p = 0; p < L.positions; ++p) {
        V a[4 * kQ], b[4 * kQ];
        __builtin_memcpy(a, in + (p * L.rows + r) * g, sizeof a);
        __builtin_memcpy(b, out + (p * L.cols + o) * g, sizeof b);
        for (int q = 0; q < kQ; ++q) {
          const V i = 0.5f * (hw[q] + a[q] + b[q]) - 2.5f;
          const V gg = hw[kQ + q] + a[kQ + q] + b[kQ + q];
          const V f = 0.5f * (hw[2 * kQ + q] + a[2 * kQ + q] + b[2 * kQ + q]) + 2.5f;
          const V og = 0.5f * (hw[3 * kQ + q] + a[3 * kQ + q] + b[3 * kQ + q]);
          V c_p = cv[q], h_p;
          lstm_update_halved<V>(i, gg, f, og, c_p, h_p);
          h_sum[q] += h_p;
          c_sum[q] += c_p;
          if (last) __builtin_memcpy(L.h_pos + ((m * L.positions + p) * synapses + s) * n + q * kW,
                                     &h_p, sizeof h_p);
        }
      }
      for (int q = 0; q < kQ; ++q) {
        hv[q] = h_sum[q] * inv_positions;
        cv[q] = c_sum[q] * inv_positions;
      }
    }
    __builtin_memcpy(L.h_out + at, hv, sizeof hv);
    __builtin_memcpy(L.c_out + at, cv, sizeof cv);
  }
}

using SynapsesFn = void (*)(const ConvLayer&, int64_t, int64_t, int64_t);

// N a multiple of 16 up to 64 (vsml.kernels.conv_ticks_supports) on every vector width
SynapsesFn PickSynapses(int64_t n) {
  if (n % kW != 0) return nullptr;
  switch (n / kW) {
    case 1: return ConvSynapses<1>;
    case 2: return ConvSynapses<2>;
    case 3: return ConvSynapses<3>;
    case 4: return ConvSynapses<4>;
    case 6: return ConvSynapses<6>;
    case 8: return ConvSynapses<8>;
    case 12: return ConvSynapses<12>;
    case 16: return ConvSynapses<16>;
    default: return nullptr;
  }
}

ffi::Error ConvTicks(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> h, ffi::Buffer<ffi::F32> c,
                     ffi::Buffer<ffi::F32> in, ffi::Buffer<ffi::F32> out,
                     ffi::Buffer<ffi::F32> w_h, ffi::ResultBuffer<ffi::F32> h_out,
                     ffi::ResultBuffer<ffi::F32> c_out, ffi::ResultBuffer<ffi::F32> h_pos,
                     int64_t micro_ticks, int64_t max_threads) {
  auto dims = h.dimensions();
  auto in_dims = in.dimensions();
  if (dims.size() < 3 || in_dims.size() < 3)
    return ffi::Error::InvalidArgument("h must be [..., R, O, N], in [..., P, R, 4N]");
  const int64_t rank = dims.size();
  const int64_t rows = dims[rank - 3], cols = dims[rank - 2], n = dims[rank - 1];
  const int64_t positions = in_dims[in_dims.size() - 3];
  const SynapsesFn fn = PickSynapses(n);
  if (fn == nullptr || n > 64)
    return ffi::Error::InvalidArgument("conv kernel: state size N must be 16, 32, 48 or 64");
  const int64_t synapses = rows * cols;
  const int64_t batch = synapses ? h.element_count() / (synapses * n) : 0;
  if (c.element_count() != h.element_count() ||
      in.element_count() != batch * positions * rows * 4 * n ||
      out.element_count() != batch * positions * cols * 4 * n ||
      w_h.element_count() != batch * n * 4 * n || micro_ticks < 1)
    return ffi::Error::InvalidArgument("inconsistent shapes of h, c, in, out, w_h");
  if (batch == 0 || synapses == 0 || positions == 0) return ffi::Error::Success();
  const ConvLayer layer{h.typed_data(), c.typed_data(), in.typed_data(), out.typed_data(),
                        w_h.typed_data(), h_out->typed_data(), c_out->typed_data(),
                        h_pos->typed_data(), positions, rows, cols, n, micro_ticks};
  // blocks of synapses of at least ~256 synapse-positions
  RunBlocks(pool, max_threads, batch, synapses, std::max<int64_t>(1, 256 / positions),
            [layer, fn](int64_t m, int64_t s0, int64_t s1) { fn(layer, m, s0, s1); });
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(VsmlDenseTicks, DenseTicks,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<int64_t>("micro_ticks")
                                  .Attr<int64_t>("max_threads"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(VsmlConvTicks, ConvTicks,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<int64_t>("micro_ticks")
                                  .Attr<int64_t>("max_threads"));
