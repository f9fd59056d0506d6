// Volume-rendering compositing on the CPU (forward and backward), parallel over rays with OpenMP.
// Notation as in reprobook/kernels/reference.py: tau_i = sigma_i delta_i, T_i = exp(-sum_{j<i} tau_j),
// w_i = T_i (1 - exp(-tau_i)); outputs C = sum w_i c_i, D = sum w_i t_i, A = sum w_i and w.
//
// Backward, with g_i = <dL/dC, c_i> + dL/dD t_i + dL/dA + dL/dw_i the gradient reaching w_i:
//   dL/dc_i   = dL/dC w_i
//   dL/dtau_k = g_k T_{k+1} - sum_{i>k} g_i w_i        (T_{k+1} = T_k exp(-tau_k))
//   dL/dsigma_k = delta_k dL/dtau_k
// computed per ray in one backward sweep over the samples. The forward pass stores T_{k+1} (it has it
// anyway), so the backward pass evaluates no exponential.
#include <torch/extension.h>
#include <cmath>
#include <vector>

namespace {

template <typename scalar_t>
void forward_impl(const scalar_t* sigma, const scalar_t* rgb, const scalar_t* deltas, const scalar_t* t,
                  scalar_t* color, scalar_t* depth, scalar_t* acc, scalar_t* w, scalar_t* T_next,
                  int64_t R, int64_t S) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < R; ++r) {
    const int64_t o = r * S;
    scalar_t* e_buf = T_next + o;  // holds exp(-tau_i) first, then T_{i+1}
    // the exponentials are independent: one vectorisable loop (libmvec), then the recurrence
#pragma omp simd
    for (int64_t i = 0; i < S; ++i) e_buf[i] = std::exp(-sigma[o + i] * deltas[o + i]);
    scalar_t T = 1, c0 = 0, c1 = 0, c2 = 0, d = 0, a = 0;
    for (int64_t i = 0; i < S; ++i) {
      const scalar_t e = e_buf[i];
      const scalar_t wi = T * (1 - e);
      w[o + i] = wi;
      const scalar_t* c = rgb + 3 * (o + i);
      c0 += wi * c[0]; c1 += wi * c[1]; c2 += wi * c[2];
      d += wi * t[o + i];
      a += wi;
      T *= e;
      e_buf[i] = T;
    }
    color[3 * r] = c0; color[3 * r + 1] = c1; color[3 * r + 2] = c2;
    depth[r] = d;
    acc[r] = a;
  }
}

template <typename scalar_t>
void backward_impl(const scalar_t* g_color, const scalar_t* g_depth, const scalar_t* g_acc, const scalar_t* g_w,
                   const scalar_t* sigma, const scalar_t* rgb, const scalar_t* deltas, const scalar_t* t,
                   const scalar_t* w, const scalar_t* T_next, scalar_t* g_sigma, scalar_t* g_rgb,
                   int64_t R, int64_t S) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < R; ++r) {
    const int64_t o = r * S;
    const scalar_t gc0 = g_color[3 * r], gc1 = g_color[3 * r + 1], gc2 = g_color[3 * r + 2];
    const scalar_t gd = g_depth[r], ga = g_acc[r];
    scalar_t suffix = 0;  // sum_{i>k} g_i w_i
    for (int64_t k = S - 1; k >= 0; --k) {
      const scalar_t* c = rgb + 3 * (o + k);
      const scalar_t wk = w[o + k];
      const scalar_t gk = gc0 * c[0] + gc1 * c[1] + gc2 * c[2] + gd * t[o + k] + ga + (g_w ? g_w[o + k] : 0);
      const scalar_t g_tau = gk * T_next[o + k] - suffix;
      g_sigma[o + k] = g_tau * deltas[o + k];
      scalar_t* gr = g_rgb + 3 * (o + k);
      gr[0] = gc0 * wk; gr[1] = gc1 * wk; gr[2] = gc2 * wk;
      suffix += gk * wk;
    }
  }
}

void check(const torch::Tensor& x, const char* name, int64_t dim) {
  TORCH_CHECK(x.device().is_cpu(), name, " must be a CPU tensor");
  TORCH_CHECK(x.is_contiguous(), name, " must be contiguous");
  TORCH_CHECK(x.dim() == dim, name, " must have ", dim, " dimensions, got ", x.dim());
}

}  // namespace

std::vector<torch::Tensor> composite_forward(torch::Tensor sigma, torch::Tensor rgb, torch::Tensor deltas,
                                             torch::Tensor t) {
  check(sigma, "sigma", 2); check(rgb, "rgb", 3); check(deltas, "deltas", 2); check(t, "t", 2);
  const int64_t R = sigma.size(0), S = sigma.size(1);
  TORCH_CHECK(rgb.size(0) == R && rgb.size(1) == S && rgb.size(2) == 3, "rgb must be [R, S, 3]");
  TORCH_CHECK(deltas.sizes() == sigma.sizes() && t.sizes() == sigma.sizes(), "deltas and t must match sigma");
  auto color = torch::empty({R, 3}, sigma.options());
  auto depth = torch::empty({R}, sigma.options());
  auto acc = torch::empty({R}, sigma.options());
  auto w = torch::empty({R, S}, sigma.options());
  auto T_next = torch::empty({R, S}, sigma.options());
  AT_DISPATCH_FLOATING_TYPES(sigma.scalar_type(), "composite_forward", [&] {
    forward_impl<scalar_t>(sigma.data_ptr<scalar_t>(), rgb.data_ptr<scalar_t>(), deltas.data_ptr<scalar_t>(),
                           t.data_ptr<scalar_t>(), color.data_ptr<scalar_t>(), depth.data_ptr<scalar_t>(),
                           acc.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(), T_next.data_ptr<scalar_t>(), R, S);
  });
  return {color, depth, acc, w, T_next};
}

std::vector<torch::Tensor> composite_backward(torch::Tensor g_color, torch::Tensor g_depth, torch::Tensor g_acc,
                                              torch::Tensor g_w, torch::Tensor sigma, torch::Tensor rgb,
                                              torch::Tensor deltas, torch::Tensor t, torch::Tensor w,
                                              torch::Tensor T_next) {
  // g_w may be empty (numel 0): the weights output was not used
  const int64_t R = sigma.size(0), S = sigma.size(1);
  auto g_sigma = torch::empty_like(sigma);
  auto g_rgb = torch::empty_like(rgb);
  AT_DISPATCH_FLOATING_TYPES(sigma.scalar_type(), "composite_backward", [&] {
    backward_impl<scalar_t>(g_color.data_ptr<scalar_t>(), g_depth.data_ptr<scalar_t>(), g_acc.data_ptr<scalar_t>(),
                            g_w.numel() ? g_w.data_ptr<scalar_t>() : nullptr, sigma.data_ptr<scalar_t>(),
                            rgb.data_ptr<scalar_t>(), deltas.data_ptr<scalar_t>(), t.data_ptr<scalar_t>(),
                            w.data_ptr<scalar_t>(), T_next.data_ptr<scalar_t>(), g_sigma.data_ptr<scalar_t>(),
                            g_rgb.data_ptr<scalar_t>(), R, S);
  });
  return {g_sigma, g_rgb};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &composite_forward, "volume-rendering compositing, forward (CPU)");
  m.def("backward", &composite_backward, "volume-rendering compositing, backward (CPU)");
}
