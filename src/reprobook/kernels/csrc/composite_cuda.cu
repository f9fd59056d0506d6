// Volume-rendering compositing on a CUDA GPU: one thread per ray, the same equations and the same
// saved state as the CPU kernel (composite_cpu.cpp; notation in reprobook/kernels/reference.py).
// The forward pass stores the transmittance T_{i+1} per sample; the backward pass walks each ray
// from its far end, accumulating sum_{i>k} g_i w_i directly (a running total minus a prefix would
// cancel catastrophically once the ray is opaque). Kernels run on the current stream of the
// inputs' device, behind a device guard, and every launch is checked.
//
// This file includes only ATen/c10 headers, so nvcc compiles it without the Python bindings
// (composite_cuda_bind.cpp holds those; tests/kernels compiles this file alone with nvcc).
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <vector>

namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void forward_kernel(const T* __restrict__ sigma, const T* __restrict__ rgb,
                               const T* __restrict__ deltas, const T* __restrict__ t,
                               const T* __restrict__ scale, bool relu, T* __restrict__ color,
                               T* __restrict__ depth, T* __restrict__ acc, T* __restrict__ w,
                               T* __restrict__ T_next, int64_t R, int64_t S) {
  const int64_t r = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (r >= R) return;
  const int64_t o = r * S;
  const T c = scale ? scale[r] : T(1);
  T Tr = 1, c0 = 0, c1 = 0, c2 = 0, d = 0, a = 0;
  for (int64_t i = 0; i < S; ++i) {
    const T s = relu ? (sigma[o + i] > T(0) ? sigma[o + i] : T(0)) : sigma[o + i];
    const T e = exp(-s * deltas[o + i] * c);
    const T wi = Tr * (T(1) - e);
    if (w) w[o + i] = wi;
    c0 += wi * rgb[3 * (o + i)];
    c1 += wi * rgb[3 * (o + i) + 1];
    c2 += wi * rgb[3 * (o + i) + 2];
    d += wi * t[o + i];
    a += wi;
    Tr *= e;
    T_next[o + i] = Tr;
  }
  color[3 * r] = c0;
  color[3 * r + 1] = c1;
  color[3 * r + 2] = c2;
  depth[r] = d;
  acc[r] = a;
}

template <typename T>
__global__ void backward_kernel(const T* __restrict__ g_color, const T* __restrict__ g_depth,
                                const T* __restrict__ g_acc, const T* __restrict__ g_w,
                                const T* __restrict__ sigma, const T* __restrict__ rgb,
                                const T* __restrict__ deltas, const T* __restrict__ t,
                                const T* __restrict__ scale, const T* __restrict__ T_next,
                                bool relu, T* __restrict__ g_sigma, T* __restrict__ g_rgb,
                                T* __restrict__ g_deltas, T* __restrict__ g_t,
                                T* __restrict__ g_scale, int64_t R, int64_t S) {
  const int64_t r = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (r >= R) return;
  const int64_t o = r * S;
  const T gc0 = g_color ? g_color[3 * r] : T(0), gc1 = g_color ? g_color[3 * r + 1] : T(0),
          gc2 = g_color ? g_color[3 * r + 2] : T(0);
  const T gd = g_depth ? g_depth[r] : T(0), ga = g_acc ? g_acc[r] : T(0);
  const T c = scale ? scale[r] : T(1);
  T suffix = 0, gs = 0;
  for (int64_t k = S - 1; k >= 0; --k) {
    const T Tk1 = T_next[o + k];
    const T wk = (k ? T_next[o + k - 1] : T(1)) - Tk1;
    const T gk = gc0 * rgb[3 * (o + k)] + gc1 * rgb[3 * (o + k) + 1] +
                 gc2 * rgb[3 * (o + k) + 2] + gd * t[o + k] + ga + (g_w ? g_w[o + k] : T(0));
    const T g_tau = gk * Tk1 - suffix;
    suffix += gk * wk;
    const T sk = sigma[o + k];
    const T act = relu ? (sk > T(0) ? sk : T(0)) : sk;
    const T dact = relu ? (sk > T(0) ? T(1) : T(0)) : T(1);
    if (g_sigma) g_sigma[o + k] = g_tau * deltas[o + k] * c * dact;
    if (g_deltas) g_deltas[o + k] = g_tau * act * c;
    if (g_t) g_t[o + k] = gd * wk;
    if (g_rgb) {
      g_rgb[3 * (o + k)] = gc0 * wk;
      g_rgb[3 * (o + k) + 1] = gc1 * wk;
      g_rgb[3 * (o + k) + 2] = gc2 * wk;
    }
    gs += g_tau * act * deltas[o + k];
  }
  if (g_scale) g_scale[r] = gs;
}

template <typename T>
const T* cptr(const at::Tensor& x) {
  return x.numel() ? x.data_ptr<T>() : nullptr;
}

template <typename T>
T* mptr(at::Tensor& x) {
  return x.numel() ? x.data_ptr<T>() : nullptr;
}

int blocks_for(int64_t R) { return static_cast<int>((R + kThreads - 1) / kThreads); }

}  // namespace

std::vector<at::Tensor> composite_cuda_forward(const at::Tensor& sigma, const at::Tensor& rgb,
                                               const at::Tensor& deltas, const at::Tensor& t,
                                               const at::Tensor& scale, bool relu,
                                               bool need_weights) {
  const c10::cuda::OptionalCUDAGuard guard(sigma.device());
  const int64_t R = sigma.size(0), S = sigma.size(1);
  auto color = at::empty({R, 3}, sigma.options());
  auto depth = at::empty({R}, sigma.options());
  auto acc = at::empty({R}, sigma.options());
  auto w = need_weights ? at::empty({R, S}, sigma.options()) : at::empty({0}, sigma.options());
  auto T_next = at::empty({R, S}, sigma.options());
  if (R == 0) return {color, depth, acc, w, T_next};
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(sigma.scalar_type(), "composite_cuda_forward", [&] {
    forward_kernel<scalar_t><<<blocks_for(R), kThreads, 0, stream>>>(
        sigma.data_ptr<scalar_t>(), rgb.data_ptr<scalar_t>(), deltas.data_ptr<scalar_t>(),
        t.data_ptr<scalar_t>(), cptr<scalar_t>(scale), relu, color.data_ptr<scalar_t>(),
        depth.data_ptr<scalar_t>(), acc.data_ptr<scalar_t>(), mptr<scalar_t>(w),
        T_next.data_ptr<scalar_t>(), R, S);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {color, depth, acc, w, T_next};
}

std::vector<at::Tensor> composite_cuda_backward(
    const at::Tensor& g_color, const at::Tensor& g_depth, const at::Tensor& g_acc,
    const at::Tensor& g_w, const at::Tensor& sigma, const at::Tensor& rgb,
    const at::Tensor& deltas, const at::Tensor& t, const at::Tensor& scale,
    const at::Tensor& T_next, bool relu, const std::vector<bool>& needs) {
  const c10::cuda::OptionalCUDAGuard guard(sigma.device());
  const int64_t R = sigma.size(0);
  auto empty = at::empty({0}, sigma.options());
  auto g_sigma = needs[0] ? at::empty_like(sigma) : empty;
  auto g_rgb = needs[1] ? at::empty_like(rgb) : empty;
  auto g_deltas = needs[2] ? at::empty_like(deltas) : empty;
  auto g_t = needs[3] ? at::empty_like(t) : empty;
  auto g_scale = (needs[4] && scale.numel()) ? at::empty_like(scale) : empty;
  if (R == 0) return {g_sigma, g_rgb, g_deltas, g_t, g_scale};
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(sigma.scalar_type(), "composite_cuda_backward", [&] {
    backward_kernel<scalar_t><<<blocks_for(R), kThreads, 0, stream>>>(
        cptr<scalar_t>(g_color), cptr<scalar_t>(g_depth), cptr<scalar_t>(g_acc),
        cptr<scalar_t>(g_w), sigma.data_ptr<scalar_t>(), rgb.data_ptr<scalar_t>(),
        deltas.data_ptr<scalar_t>(), t.data_ptr<scalar_t>(), cptr<scalar_t>(scale),
        T_next.data_ptr<scalar_t>(), relu, mptr<scalar_t>(g_sigma), mptr<scalar_t>(g_rgb),
        mptr<scalar_t>(g_deltas), mptr<scalar_t>(g_t), mptr<scalar_t>(g_scale), R,
        sigma.size(1));
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {g_sigma, g_rgb, g_deltas, g_t, g_scale};
}
