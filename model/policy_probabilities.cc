#include "model/policy_probabilities.h"

#include <cmath>
#include <limits>

namespace rtrec::model {

torch::Tensor PolicyLogProbabilities(const torch::Tensor& scores, const torch::Tensor& valid,
                                     const PolicyParams& params) {
  const double inf = std::numeric_limits<double>::infinity();
  torch::Tensor logits = (scores / params.temperature).masked_fill(valid.logical_not(), -inf);
  torch::Tensor log_soft = torch::log_softmax(logits, 1);
  // A row without valid entries would be NaN: make it −inf throughout.
  log_soft = log_soft.masked_fill(valid.logical_not(), -inf);
  if (params.epsilon <= 0) return log_soft;
  torch::Tensor n = valid.sum(1, /*keepdim=*/true).clamp_min(1).to(scores.scalar_type());
  torch::Tensor log_uniform = (std::log(params.epsilon) - torch::log(n)).expand_as(log_soft);
  torch::Tensor mixed =
      params.epsilon >= 1 ? log_uniform
                          : torch::logaddexp(log_soft + std::log1p(-params.epsilon), log_uniform);
  return mixed.masked_fill(valid.logical_not(), -inf);
}

std::vector<double> PolicyProbabilities(const std::vector<float>& scores,
                                        const PolicyParams& params) {
  const int64_t n = static_cast<int64_t>(scores.size());
  std::vector<double> out(scores.begin(), scores.end());
  if (n == 0) return out;
  torch::NoGradGuard no_grad;
  torch::Tensor s = torch::from_blob(out.data(), {1, n}, torch::kFloat64);
  torch::Tensor pi = PolicyLogProbabilities(s, torch::ones({1, n}, torch::kBool), params).exp().contiguous();
  std::copy(pi.data_ptr<double>(), pi.data_ptr<double>() + n, out.begin());
  return out;
}

}  // namespace rtrec::model
