// The recommendation model (torch::nn).
//
// Item side:  e_i = P · text_i + id_emb[i]. text_i is the cached pooled BERT
//             output of the item's text; id_emb starts at zero, so a new item
//             is scored on its text alone until learning moves its row.
// User side:  a SASRec-style causal Transformer over
//             [start] e_h1 … e_hL [query token], plus position embeddings;
//             the query token is Q · BERT(query). The output at the last real
//             position, layer-normalised, is the user state u.
// Score:      s_i = u · e_i.
//
// Thread safety: forward passes do not mutate the module; serving runs them
// concurrently in eval mode under InferenceMode.
#ifndef RTREC_MODEL_RECOMMENDER_MODEL_H_
#define RTREC_MODEL_RECOMMENDER_MODEL_H_

#include <memory>
#include <vector>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "config/options.h"
#include "model/model_store.h"
#include "model/text_embedder.h"

namespace rtrec::model {

struct RecommenderModelOptions {
  int64_t text_dim = 128;
  int64_t embedding_dim = 64;
  int64_t num_layers = 2;
  int64_t num_heads = 2;
  int64_t ffn_dim = 128;
  int64_t max_items = 100000;
  // Longest behaviour sequence, not counting [start] and the query token.
  int64_t max_history = 50;
};

class RecommenderModelImpl : public torch::nn::Cloneable<RecommenderModelImpl> {
 public:
  explicit RecommenderModelImpl(const RecommenderModelOptions& options);
  // (Re)creates every parameter; Cloneable::clone() relies on it.
  void reset() override;

  // text: [N, text_dim] float; ids: [N] int64 catalog indices → [N, D].
  torch::Tensor ItemEmbeddings(const torch::Tensor& text, const torch::Tensor& ids);

  // One row per request: histories[b] is [L_b, D] (L_b ≤ max_history, may be
  // 0); query_text is [B, text_dim] (rows of requests without a query are
  // ignored) or undefined when no request has one. Returns u: [B, D].
  torch::Tensor UserStates(const std::vector<torch::Tensor>& histories,
                           const torch::Tensor& query_text,
                           const std::vector<bool>& has_query);

  const RecommenderModelOptions& options() const { return options_; }

  torch::nn::Linear item_text_proj{nullptr};
  torch::nn::Embedding item_id_emb{nullptr};
  torch::nn::Linear query_proj{nullptr};
  torch::nn::Embedding position_emb{nullptr};
  torch::Tensor start_token;
  torch::nn::ModuleList layers{nullptr};
  torch::nn::LayerNorm final_norm{nullptr};

 private:
  RecommenderModelOptions options_;
};
TORCH_MODULE(RecommenderModel);

// The recommender's weights inside a published snapshot.
struct ModelWeights {
  RecommenderModel model{nullptr};
  torch::Device device{torch::kCPU};
};

// Builds the initial model (seeded) as snapshot version 1, in eval mode.
absl::StatusOr<std::shared_ptr<ModelSnapshot>> CreateInitialSnapshot(
    const config::ModelOptions& options, const RecommenderModelOptions& shape,
    std::shared_ptr<const TextEmbedder> text);

// Deep copy of a snapshot's weights under a new version (what the learner
// publishes). The text tower is shared unless `text` is given.
std::shared_ptr<ModelSnapshot> CloneSnapshot(const ModelSnapshot& from, int64_t version,
                                             std::shared_ptr<const TextEmbedder> text = nullptr);

}  // namespace rtrec::model

#endif  // RTREC_MODEL_RECOMMENDER_MODEL_H_
