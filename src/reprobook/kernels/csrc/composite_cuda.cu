// Volume-rendering compositing on a CUDA GPU: one thread per ray, the same recurrences as the CPU
// kernel (composite_cpu.cpp; notation in reprobook/kernels/reference.py). The backward pass needs no
// per-sample scratch memory: a first sweep sums g_i w_i over the ray, a second walks forward with the
// running transmittance and gets sum_{i>k} g_i w_i as that total minus the prefix.
#include <torch/extension.h>
#include <cuda.h>
#include <cuda_runtime.h>
#include <vector>

template <typename scalar_t>
__global__ void forward_kernel(const scalar_t* __restrict__ sigma, const scalar_t* __restrict__ rgb,
                               const scalar_t* __restrict__ deltas, const scalar_t* __restrict__ t,
                               scalar_t* color, scalar_t* depth, scalar_t* acc, scalar_t* w, int64_t R, int64_t S) {
  const int64_t r = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (r >= R) return;
  const int64_t o = r * S;
  scalar_t T = 1, c0 = 0, c1 = 0, c2 = 0, d = 0, a = 0;
  for (int64_t i = 0; i < S; ++i) {
    const scalar_t e = exp(-sigma[o + i] * deltas[o + i]);
    const scalar_t wi = T * (1 - e);
    w[o + i] = wi;
    c0 += wi * rgb[3 * (o + i)]; c1 += wi * rgb[3 * (o + i) + 1]; c2 += wi * rgb[3 * (o + i) + 2];
    d += wi * t[o + i];
    a += wi;
    T *= e;
  }
  color[3 * r] = c0; color[3 * r + 1] = c1; color[3 * r + 2] = c2;
  depth[r] = d; acc[r] = a;
}

template <typename scalar_t>
__global__ void backward_kernel(const scalar_t* g_color, const scalar_t* g_depth, const scalar_t* g_acc,
                                const scalar_t* g_w, const scalar_t* sigma, const scalar_t* rgb,
                                const scalar_t* deltas, const scalar_t* t, const scalar_t* w,
                                scalar_t* g_sigma, scalar_t* g_rgb, int64_t R, int64_t S) {
  const int64_t r = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (r >= R) return;
  const int64_t o = r * S;
  const scalar_t gc0 = g_color[3 * r], gc1 = g_color[3 * r + 1], gc2 = g_color[3 * r + 2];
  const scalar_t gd = g_depth[r], ga = g_acc[r];
  // total = sum_i g_i w_i; walking forward, suffix_k = total - prefix_{<=k}
  scalar_t total = 0;
  for (int64_t i = 0; i < S; ++i) {
    const scalar_t gi = gc0 * rgb[3 * (o + i)] + gc1 * rgb[3 * (o + i) + 1] + gc2 * rgb[3 * (o + i) + 2]
                        + gd * t[o + i] + ga + (g_w ? g_w[o + i] : 0);
    total += gi * w[o + i];
  }
  scalar_t T = 1, prefix = 0;
  for (int64_t k = 0; k < S; ++k) {
    const scalar_t wk = w[o + k];
    const scalar_t gk = gc0 * rgb[3 * (o + k)] + gc1 * rgb[3 * (o + k) + 1] + gc2 * rgb[3 * (o + k) + 2]
                        + gd * t[o + k] + ga + (g_w ? g_w[o + k] : 0);
    T *= exp(-sigma[o + k] * deltas[o + k]);
    prefix += gk * wk;
    g_sigma[o + k] = (gk * T - (total - prefix)) * deltas[o + k];
    g_rgb[3 * (o + k)] = gc0 * wk; g_rgb[3 * (o + k) + 1] = gc1 * wk; g_rgb[3 * (o + k) + 2] = gc2 * wk;
  }
}

std::vector<torch::Tensor> composite_forward(torch::Tensor sigma, torch::Tensor rgb, torch::Tensor deltas,
                                             torch::Tensor t) {
  TORCH_CHECK(sigma.is_cuda() && sigma.is_contiguous() && rgb.is_contiguous(), "CUDA, contiguous inputs expected");
  const int64_t R = sigma.size(0), S = sigma.size(1);
  auto color = torch::empty({R, 3}, sigma.options());
  auto depth = torch::empty({R}, sigma.options());
  auto acc = torch::empty({R}, sigma.options());
  auto w = torch::empty({R, S}, sigma.options());
  const int threads = 256;
  const int blocks = (int)((R + threads - 1) / threads);
  AT_DISPATCH_FLOATING_TYPES(sigma.scalar_type(), "composite_forward_cuda", [&] {
    forward_kernel<scalar_t><<<blocks, threads>>>(sigma.data_ptr<scalar_t>(), rgb.data_ptr<scalar_t>(),
        deltas.data_ptr<scalar_t>(), t.data_ptr<scalar_t>(), color.data_ptr<scalar_t>(), depth.data_ptr<scalar_t>(),
        acc.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(), R, S);
  });
  return {color, depth, acc, w};
}

std::vector<torch::Tensor> composite_backward(torch::Tensor g_color, torch::Tensor g_depth, torch::Tensor g_acc,
                                              torch::Tensor g_w, torch::Tensor sigma, torch::Tensor rgb,
                                              torch::Tensor deltas, torch::Tensor t, torch::Tensor w) {
  const int64_t R = sigma.size(0), S = sigma.size(1);
  auto g_sigma = torch::empty_like(sigma);
  auto g_rgb = torch::empty_like(rgb);
  const int threads = 256;
  const int blocks = (int)((R + threads - 1) / threads);
  AT_DISPATCH_FLOATING_TYPES(sigma.scalar_type(), "composite_backward_cuda", [&] {
    backward_kernel<scalar_t><<<blocks, threads>>>(g_color.data_ptr<scalar_t>(), g_depth.data_ptr<scalar_t>(),
        g_acc.data_ptr<scalar_t>(), g_w.numel() ? g_w.data_ptr<scalar_t>() : nullptr, sigma.data_ptr<scalar_t>(), rgb.data_ptr<scalar_t>(),
        deltas.data_ptr<scalar_t>(), t.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(), g_sigma.data_ptr<scalar_t>(),
        g_rgb.data_ptr<scalar_t>(), R, S);
  });
  return {g_sigma, g_rgb};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &composite_forward, "volume-rendering compositing, forward (CUDA)");
  m.def("backward", &composite_backward, "volume-rendering compositing, backward (CUDA)");
}
