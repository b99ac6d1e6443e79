// π, the exploration policy's single-draw probabilities: the one definition
// that serving (InferenceEngine, which samples slates from it) and learning
// (Learner, which differentiates log π) both call.
//
//   π(i) = (1 − ε) · softmax_{valid}(s / τ)_i + ε / n_valid   for valid i
//   π(i) = 0                                                   otherwise
//
// where s are the model's scores, "valid" the request's candidates minus its
// excluded items, τ = temperature and ε = epsilon (PolicyParams).
//
// Thread safety: pure functions.
#ifndef RTREC_MODEL_POLICY_PROBABILITIES_H_
#define RTREC_MODEL_POLICY_PROBABILITIES_H_

#include <vector>

#include <torch/torch.h>

#include "model/exploration_policy.h"

namespace rtrec::model {

// log π for a batch: scores [B, N] (float or double, with gradient if it
// has one), valid [B, N] bool → [B, N] in the scores' dtype, −inf where not
// valid. A row with no valid entry is all −inf.
torch::Tensor PolicyLogProbabilities(const torch::Tensor& scores, const torch::Tensor& valid,
                                     const PolicyParams& params);

// π over one request's candidates (all valid), in double precision.
std::vector<double> PolicyProbabilities(const std::vector<float>& scores,
                                        const PolicyParams& params);

}  // namespace rtrec::model

#endif  // RTREC_MODEL_POLICY_PROBABILITIES_H_
