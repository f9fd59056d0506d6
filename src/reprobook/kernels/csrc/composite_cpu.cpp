// Volume-rendering compositing on the CPU, forward and backward (NeRF Eq. 3; notation of
// reprobook/kernels/reference.py). Per ray, with the density activation and the interval scaling
// fused in:
//   s_i = act(sigma_i)              act = ReLU or identity
//   tau_i = s_i delta_i c           c = the ray's interval scale (|d|), 1 when not given
//   T_0 = 1, T_{i+1} = T_i exp(-tau_i),  w_i = T_i (1 - exp(-tau_i))
//   C = sum_i w_i c_i,  D = sum_i w_i t_i,  A = sum_i w_i   (and the weights w when asked for)
// The forward pass keeps one number per sample for the backward pass: the transmittance T_{i+1}.
//
// Backward, with g_i = <dL/dC, c_i> + dL/dD t_i + dL/dA + dL/dw_i the gradient reaching w_i:
//   dL/dtau_k = g_k T_{k+1} - sum_{i>k} g_i w_i      (the sum accumulated from the far end of
//                                                     the ray: no total-minus-prefix cancellation)
//   dL/dc_k = dL/dC w_k,  dL/dt_k = dL/dD w_k,  w_k = T_k - T_{k+1}
//   dL/dsigma_k = act'(sigma_k) delta_k c dL/dtau_k,  dL/ddelta_k = s_k c dL/dtau_k,
//   dL/dc = sum_k s_k delta_k dL/dtau_k
//
// Speed: per ray, every loop is a SIMD loop. The exponentials are independent of each other; the
// transmittance comes from the exclusive cumulative sum of tau (T_i = exp(-sum_{j<i} tau_j), as
// in the reference), computed as an OpenMP SIMD scan, so no loop carries a multiply chain; the
// backward pass's suffix sum is a reverse scan. float uses a polynomial exp that GCC vectorises;
// double uses std::exp (the accuracy path that gradcheck uses). The float loops are compiled
// twice (x86-64-v3 = AVX2 + FMA, and the baseline) and chosen at run time, since extensions are
// built without -march. Transmittance below the smallest normal number is flushed to zero (what
// FTZ hardware modes do), so opaque rays never compute on denormals. Rays are split over torch's
// intra-op threads (at::parallel_for: the count set by torch.set_num_threads); scratch arrays
// are per thread and stay in L1.
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

namespace {

// exp(x) for x <= 0 in float: Cody-Waite range reduction x = n ln2 + r, |r| <= ln2/2, a degree-6
// polynomial for exp(r) (Taylor, relative error below 2e-7 on the interval), times 2^n built in
// the exponent bits; 0 below the smallest normal float. Branch-free, so GCC vectorises it.
inline float exp_nonpos(float x) {
  const float lo = -87.33654f;  // log(FLT_MIN)
  const bool under = x < lo;
  x = under ? lo : x;
  // round to nearest by adding and removing 1.5 * 2^23 (no SSE4.1 rounding needed)
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.3888889e-3f;
  p = p * r + 8.3333333e-3f;
  p = p * r + 4.1666667e-2f;
  p = p * r + 1.6666667e-1f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return under ? 0.0f : p * scale;
}

inline float exp_neg(float x) { return exp_nonpos(-x); }  // exp(-x), x >= 0
inline double exp_neg(double x) { return std::exp(-x); }  // the accuracy path (gradcheck)

// Per-thread scratch: a few arrays of S numbers that stay in L1 while one ray is processed.
template <typename T>
struct Scratch {
  std::vector<T> a, b, c, d, zeros, sink;
  explicit Scratch(int64_t S) : a(S), b(S), c(S), d(S), zeros(S, T(0)), sink(6 * S) {}
};

struct Flags {
  bool relu, has_scale;
};

// One ray, forward: every loop is a SIMD loop (the exclusive cumulative sum is an OpenMP scan).
template <typename T>
__attribute__((always_inline)) inline void forward_ray(
    const T* sigma, const T* rgb, const T* deltas, const T* t, T c, bool relu, int64_t S,
    T* T_next, T* w_out, T* out5, Scratch<T>& sc) {
  T* tau = sc.a.data();
  T* e = sc.b.data();
  T* cum = sc.c.data();
  T* w = w_out ? w_out : sc.d.data();
  const T tiny = std::numeric_limits<T>::min();
#pragma omp simd
  for (int64_t i = 0; i < S; ++i) {
    const T s = relu ? (sigma[i] > T(0) ? sigma[i] : T(0)) : sigma[i];
    tau[i] = s * deltas[i] * c;
    e[i] = exp_neg(tau[i]);
  }
  T run = 0;
#pragma omp simd reduction(inscan, + : run)
  for (int64_t i = 0; i < S; ++i) {
    cum[i] = run;
#pragma omp scan exclusive(run)
    run += tau[i];
  }
  T c0 = 0, c1 = 0, c2 = 0, d = 0, a = 0;
#pragma omp simd reduction(+ : c0, c1, c2, d, a)
  for (int64_t i = 0; i < S; ++i) {
    const T Ti = exp_neg(cum[i]);
    const T wi = Ti * (T(1) - e[i]);
    const T tn = Ti * e[i];
    T_next[i] = tn < tiny ? T(0) : tn;
    w[i] = wi;
    c0 += wi * rgb[3 * i];
    c1 += wi * rgb[3 * i + 1];
    c2 += wi * rgb[3 * i + 2];
    d += wi * t[i];
    a += wi;
  }
  out5[0] = c0; out5[1] = c1; out5[2] = c2; out5[3] = d; out5[4] = a;
}

// One ray, backward. Outputs that are not wanted are written to scratch (`sink`), and missing
// incoming gradients read zeros, so that the loops stay free of branches.
template <typename T>
__attribute__((always_inline)) inline void backward_ray(
    const T gc0, const T gc1, const T gc2, const T gd, const T ga, const T* g_w,
    const T* sigma, const T* rgb, const T* deltas, const T* t, const T* T_next, T c, bool relu,
    int64_t S, T* g_sigma, T* g_rgb, T* g_deltas, T* g_t, T* g_scale, Scratch<T>& sc) {
  T* g = sc.a.data();    // g_k
  T* gw = sc.b.data();   // g_k w_k
  T* suf = sc.c.data();  // sum_{i>k} g_i w_i
  T* wk = sc.d.data();
#pragma omp simd
  for (int64_t k = 0; k < S; ++k) {
    const T Tk = k ? T_next[k - 1] : T(1);
    wk[k] = Tk - T_next[k];
    g[k] = gc0 * rgb[3 * k] + gc1 * rgb[3 * k + 1] + gc2 * rgb[3 * k + 2] + gd * t[k] + ga +
           g_w[k];
    gw[k] = g[k] * wk[k];
  }
  T run = 0;
#pragma omp simd reduction(inscan, + : run)
  for (int64_t k = S - 1; k >= 0; --k) {
    suf[k] = run;
#pragma omp scan exclusive(run)
    run += gw[k];
  }
  T gs = 0;
#pragma omp simd reduction(+ : gs)
  for (int64_t k = 0; k < S; ++k) {
    const T g_tau = g[k] * T_next[k] - suf[k];
    const T sk = sigma[k];
    const T act = relu ? (sk > T(0) ? sk : T(0)) : sk;
    const T dact = relu ? (sk > T(0) ? T(1) : T(0)) : T(1);
    g_sigma[k] = g_tau * deltas[k] * c * dact;
    g_deltas[k] = g_tau * act * c;
    g_t[k] = gd * wk[k];
    g_rgb[3 * k] = gc0 * wk[k];
    g_rgb[3 * k + 1] = gc1 * wk[k];
    g_rgb[3 * k + 2] = gc2 * wk[k];
    gs += g_tau * act * deltas[k];
  }
  *g_scale = gs;
}

template <typename T>
struct Fwd {
  const T *sigma, *rgb, *deltas, *t, *scale;
  bool relu;
  T *color, *depth, *acc, *w, *T_next;
  int64_t S;
};

template <typename T>
struct Bwd {
  const T *g_color, *g_depth, *g_acc, *g_w, *sigma, *rgb, *deltas, *t, *scale, *T_next;
  bool relu;
  T *g_sigma, *g_rgb, *g_deltas, *g_t, *g_scale;
  int64_t S;
};

template <typename T>
__attribute__((always_inline)) inline void forward_rays(const Fwd<T>& p, int64_t r0, int64_t r1) {
  Scratch<T> sc(p.S);
  T out5[5];
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t o = r * p.S;
    forward_ray<T>(p.sigma + o, p.rgb + 3 * o, p.deltas + o, p.t + o, p.scale ? p.scale[r] : T(1),
                   p.relu, p.S, p.T_next + o, p.w ? p.w + o : nullptr, out5, sc);
    p.color[3 * r] = out5[0]; p.color[3 * r + 1] = out5[1]; p.color[3 * r + 2] = out5[2];
    p.depth[r] = out5[3];
    p.acc[r] = out5[4];
  }
}

template <typename T>
__attribute__((always_inline)) inline void backward_rays(const Bwd<T>& p, int64_t r0, int64_t r1) {
  Scratch<T> sc(p.S);
  const int64_t S = p.S;
  T gs_sink;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t o = r * S;
    const T gd = p.g_depth ? p.g_depth[r] : T(0);
    backward_ray<T>(p.g_color ? p.g_color[3 * r] : T(0), p.g_color ? p.g_color[3 * r + 1] : T(0),
                    p.g_color ? p.g_color[3 * r + 2] : T(0), gd, p.g_acc ? p.g_acc[r] : T(0),
                    p.g_w ? p.g_w + o : sc.zeros.data(), p.sigma + o, p.rgb + 3 * o,
                    p.deltas + o, p.g_depth ? p.t + o : sc.zeros.data(), p.T_next + o,
                    p.scale ? p.scale[r] : T(1), p.relu, S,
                    p.g_sigma ? p.g_sigma + o : sc.sink.data(),
                    p.g_rgb ? p.g_rgb + 3 * o : sc.sink.data() + 3 * S,
                    p.g_deltas ? p.g_deltas + o : sc.sink.data() + S,
                    p.g_t ? p.g_t + o : sc.sink.data() + 2 * S,
                    p.g_scale ? p.g_scale + r : &gs_sink, sc);
  }
}

// float: compiled for x86-64-v3 (AVX2 + FMA) and for the baseline, chosen at run time
__attribute__((target_clones("arch=x86-64-v3", "default")))
void forward_block(const Fwd<float>& p, int64_t r0, int64_t r1) { forward_rays<float>(p, r0, r1); }
__attribute__((target_clones("arch=x86-64-v3", "default")))
void backward_block(const Bwd<float>& p, int64_t r0, int64_t r1) { backward_rays<float>(p, r0, r1); }
void forward_block(const Fwd<double>& p, int64_t r0, int64_t r1) { forward_rays<double>(p, r0, r1); }
void backward_block(const Bwd<double>& p, int64_t r0, int64_t r1) { backward_rays<double>(p, r0, r1); }

template <typename T>
const T* ptr_or_null(const torch::Tensor& x) {
  return x.numel() ? x.data_ptr<T>() : nullptr;
}

template <typename T>
T* mut_or_null(torch::Tensor& x) {
  return x.numel() ? x.data_ptr<T>() : nullptr;
}

void check(const torch::Tensor& x, const char* name, int64_t dim, const torch::Tensor& like) {
  TORCH_CHECK(x.device().is_cpu(), name, " must be a CPU tensor");
  TORCH_CHECK(x.is_contiguous(), name, " must be contiguous");
  TORCH_CHECK(x.dim() == dim, name, " must have ", dim, " dimensions, got ", x.dim());
  TORCH_CHECK(x.scalar_type() == like.scalar_type(), name, " must have the dtype of sigma (",
              like.scalar_type(), "), got ", x.scalar_type());
}

void check_inputs(const torch::Tensor& sigma, const torch::Tensor& rgb,
                  const torch::Tensor& deltas, const torch::Tensor& t,
                  const torch::Tensor& scale) {
  check(sigma, "sigma", 2, sigma);
  check(rgb, "rgb", 3, sigma);
  check(deltas, "deltas", 2, sigma);
  check(t, "t", 2, sigma);
  const int64_t R = sigma.size(0), S = sigma.size(1);
  TORCH_CHECK(rgb.size(0) == R && rgb.size(1) == S && rgb.size(2) == 3,
              "rgb must be [R, S, 3] with [R, S] the shape of sigma");
  TORCH_CHECK(deltas.sizes() == sigma.sizes() && t.sizes() == sigma.sizes(),
              "deltas and t must have the shape of sigma");
  if (scale.numel()) {
    check(scale, "scale", 1, sigma);
    TORCH_CHECK(scale.size(0) == R, "scale must be [R], one number per ray");
  }
}

}  // namespace

// Returns colour [R, 3], depth [R], opacity [R], weights [R, S] (empty unless need_weights) and
// the transmittance T_{i+1} [R, S] that the backward pass needs. `scale` may be empty (no scaling).
std::vector<torch::Tensor> composite_forward(torch::Tensor sigma, torch::Tensor rgb,
                                             torch::Tensor deltas, torch::Tensor t,
                                             torch::Tensor scale, bool relu, bool need_weights) {
  check_inputs(sigma, rgb, deltas, t, scale);
  const int64_t R = sigma.size(0), S = sigma.size(1);
  auto color = torch::empty({R, 3}, sigma.options());
  auto depth = torch::empty({R}, sigma.options());
  auto acc = torch::empty({R}, sigma.options());
  auto w = need_weights ? torch::empty({R, S}, sigma.options()) : torch::empty({0}, sigma.options());
  auto T_next = torch::empty({R, S}, sigma.options());
  AT_DISPATCH_FLOATING_TYPES(sigma.scalar_type(), "composite_forward", [&] {
    const Fwd<scalar_t> p{sigma.data_ptr<scalar_t>(), rgb.data_ptr<scalar_t>(),
                          deltas.data_ptr<scalar_t>(), t.data_ptr<scalar_t>(),
                          ptr_or_null<scalar_t>(scale), relu, color.data_ptr<scalar_t>(),
                          depth.data_ptr<scalar_t>(), acc.data_ptr<scalar_t>(),
                          mut_or_null<scalar_t>(w), T_next.data_ptr<scalar_t>(), S};
    at::parallel_for(0, R, 16, [&](int64_t r0, int64_t r1) { forward_block(p, r0, r1); });
  });
  return {color, depth, acc, w, T_next};
}

// Gradients for (sigma, rgb, deltas, t, scale); `needs` says which to compute (the others come
// back empty). Empty incoming gradients count as zero.
std::vector<torch::Tensor> composite_backward(torch::Tensor g_color, torch::Tensor g_depth,
                                              torch::Tensor g_acc, torch::Tensor g_w,
                                              torch::Tensor sigma, torch::Tensor rgb,
                                              torch::Tensor deltas, torch::Tensor t,
                                              torch::Tensor scale, torch::Tensor T_next,
                                              bool relu, std::vector<bool> needs) {
  check_inputs(sigma, rgb, deltas, t, scale);
  TORCH_CHECK(needs.size() == 5, "needs: one flag per input (sigma, rgb, deltas, t, scale)");
  const int64_t R = sigma.size(0), S = sigma.size(1);
  auto empty = torch::empty({0}, sigma.options());
  auto g_sigma = needs[0] ? torch::empty_like(sigma) : empty;
  auto g_rgb = needs[1] ? torch::empty_like(rgb) : empty;
  auto g_deltas = needs[2] ? torch::empty_like(deltas) : empty;
  auto g_t = needs[3] ? torch::empty_like(t) : empty;
  auto g_scale = (needs[4] && scale.numel()) ? torch::empty_like(scale) : empty;
  for (auto* g : {&g_color, &g_depth, &g_acc, &g_w}) {
    if (g->numel()) *g = g->contiguous();
  }
  AT_DISPATCH_FLOATING_TYPES(sigma.scalar_type(), "composite_backward", [&] {
    const Bwd<scalar_t> p{
        ptr_or_null<scalar_t>(g_color), ptr_or_null<scalar_t>(g_depth),
        ptr_or_null<scalar_t>(g_acc), ptr_or_null<scalar_t>(g_w), sigma.data_ptr<scalar_t>(),
        rgb.data_ptr<scalar_t>(), deltas.data_ptr<scalar_t>(), t.data_ptr<scalar_t>(),
        ptr_or_null<scalar_t>(scale), T_next.data_ptr<scalar_t>(), relu,
        mut_or_null<scalar_t>(g_sigma), mut_or_null<scalar_t>(g_rgb),
        mut_or_null<scalar_t>(g_deltas), mut_or_null<scalar_t>(g_t),
        mut_or_null<scalar_t>(g_scale), S};
    at::parallel_for(0, R, 16, [&](int64_t r0, int64_t r1) { backward_block(p, r0, r1); });
  });
  return {g_sigma, g_rgb, g_deltas, g_t, g_scale};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &composite_forward, "volume-rendering compositing, forward (CPU)");
  m.def("backward", &composite_backward, "volume-rendering compositing, backward (CPU)");
}
