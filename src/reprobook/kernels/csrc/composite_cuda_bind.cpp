// Python bindings and input checks of the CUDA compositing kernel (composite_cuda.cu).
#include <torch/extension.h>

#include <vector>

std::vector<at::Tensor> composite_cuda_forward(const at::Tensor& sigma, const at::Tensor& rgb,
                                               const at::Tensor& deltas, const at::Tensor& t,
                                               const at::Tensor& scale, bool relu,
                                               bool need_weights);
std::vector<at::Tensor> composite_cuda_backward(
    const at::Tensor& g_color, const at::Tensor& g_depth, const at::Tensor& g_acc,
    const at::Tensor& g_w, const at::Tensor& sigma, const at::Tensor& rgb,
    const at::Tensor& deltas, const at::Tensor& t, const at::Tensor& scale,
    const at::Tensor& T_next, bool relu, const std::vector<bool>& needs);

namespace {

void check(const at::Tensor& x, const char* name, int64_t dim, const at::Tensor& like) {
  TORCH_CHECK(x.is_cuda(), name, " must be a CUDA tensor");
  TORCH_CHECK(x.device() == like.device(), name, " must be on the device of sigma");
  TORCH_CHECK(x.is_contiguous(), name, " must be contiguous");
  TORCH_CHECK(x.dim() == dim, name, " must have ", dim, " dimensions, got ", x.dim());
  TORCH_CHECK(x.scalar_type() == like.scalar_type(), name, " must have the dtype of sigma");
}

void check_inputs(const at::Tensor& sigma, const at::Tensor& rgb, const at::Tensor& deltas,
                  const at::Tensor& t, const at::Tensor& scale) {
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

at::Tensor contiguous_or_empty(const at::Tensor& g) { return g.numel() ? g.contiguous() : g; }

}  // namespace

std::vector<at::Tensor> forward(at::Tensor sigma, at::Tensor rgb, at::Tensor deltas, at::Tensor t,
                                at::Tensor scale, bool relu, bool need_weights) {
  check_inputs(sigma, rgb, deltas, t, scale);
  return composite_cuda_forward(sigma, rgb, deltas, t, scale, relu, need_weights);
}

std::vector<at::Tensor> backward(at::Tensor g_color, at::Tensor g_depth, at::Tensor g_acc,
                                 at::Tensor g_w, at::Tensor sigma, at::Tensor rgb,
                                 at::Tensor deltas, at::Tensor t, at::Tensor scale,
                                 at::Tensor T_next, bool relu, std::vector<bool> needs) {
  check_inputs(sigma, rgb, deltas, t, scale);
  TORCH_CHECK(needs.size() == 5, "needs: one flag per input (sigma, rgb, deltas, t, scale)");
  return composite_cuda_backward(contiguous_or_empty(g_color), contiguous_or_empty(g_depth),
                                 contiguous_or_empty(g_acc), contiguous_or_empty(g_w), sigma, rgb,
                                 deltas, t, scale, T_next, relu, needs);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward, "volume-rendering compositing, forward (CUDA)");
  m.def("backward", &backward, "volume-rendering compositing, backward (CUDA)");
}
