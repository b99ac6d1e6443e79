// The recommendation model (torch::nn).
//
// Item side:  e_i = P · (text_i − mean_j text_j) + id_emb[i]. text_i is the
//             cached pooled BERT output of the item's text, centred on the
//             catalog's mean; id_emb starts at zero, so a new item is scored
//             on its text alone until learning moves its row.
// User side:  a SASRec-style causal Transformer over
//             [start] e_h1 … e_hL [query token], plus position embeddings;
//             the query token is Q · BERT(query). The output at the last real
//             position, layer-normalised, plus w_h times the recency-weighted
//             mean of the history's item vectors e_h (weights
//             history_decay^age), plus the user's own hashed
//             embedding user_emb[hash(user_id) mod user_buckets] (zero at
//             start, so a new user is known by its history alone), plus the
//             user's taste vector t_u (learned per user at feedback time,
//             state/user_state.h; a constant here), is the user state u.
// Score:      s_i = u · e_i + b_i, with b_i a per-item bias (zero at start).
// Reward:     P(reward > 0 | shown at slate position p) =
//             σ(s_i + c + c_p): the reward model the learner fits on every
//             joined example and uses as its control variate. Ranking by s
//             is ranking by the predicted reward at any one position.
//
// Thread safety: forward passes do not mutate the module; serving runs them
// concurrently in eval mode under InferenceMode.
#ifndef RTREC_MODEL_RECOMMENDER_MODEL_H_
#define RTREC_MODEL_RECOMMENDER_MODEL_H_

#include <memory>
#include <string>
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
  // Rows of the hashed per-user embedding; 0: none.
  int64_t user_buckets = 65536;
  // Weight of a history item k steps before the latest in the history mean:
  // history_decay^k (normalised). 1 is a plain mean.
  double history_decay = 0.8;
  // Dropout of the Transformer layers in train mode.
  double dropout = 0.0;
};

// Slate positions with their own reward offset c_p; later ones share the last.
inline constexpr int64_t kRewardPositions = 32;

// Row of the per-user embedding for `user_id` (FNV-1a, stable across runs
// and processes). REQUIRES: buckets > 0.
int64_t UserBucket(const std::string& user_id, int64_t buckets);

class RecommenderModelImpl : public torch::nn::Cloneable<RecommenderModelImpl> {
 public:
  explicit RecommenderModelImpl(const RecommenderModelOptions& options);
  // (Re)creates every parameter; Cloneable::clone() relies on it.
  void reset() override;

  // text: [N, text_dim] float, the whole catalog (its mean is the centre);
  // ids: [N] int64 catalog indices → [N, D]. `id_rows` [N, D], when given,
  // stands for item_id_emb's rows of `ids` (the learner passes copies it
  // takes the gradient of, so that no gradient of the whole table is made).
  torch::Tensor ItemEmbeddings(const torch::Tensor& text, const torch::Tensor& ids,
                               const torch::Tensor& id_rows = torch::Tensor());

  // ids: [N] int64 catalog indices → b: [N]; `bias_rows` [N, 1] likewise
  // stands for item_bias's rows when given.
  torch::Tensor ItemBiases(const torch::Tensor& ids, const torch::Tensor& bias_rows = torch::Tensor());

  // Histories gathered into one tensor: items [Σ L_b, D], rows in
  // (request, position) order, and each request's L_b.
  struct HistoryBatch {
    HistoryBatch() {}  // not an aggregate: {tensor} means the other overload
    torch::Tensor items;  // undefined when every history is empty
    std::vector<int64_t> lengths;
  };
  // Rows `contexts[b]` (catalog indices, oldest first) of `items`, with one
  // index_select for the whole batch: its backward is one index_add, not one
  // per request.
  static HistoryBatch GatherHistories(const torch::Tensor& items,
                                      const std::vector<std::vector<int64_t>>& contexts);

  // One row per request: request b's history is L_b rows (L_b ≤
  // max_history, may be 0); query_text is [B, text_dim] (rows of requests
  // without a query are ignored) or undefined when no request has one;
  // user_rows [B] int64 are the users' UserBucket rows (ignored without
  // user_buckets); tastes [B, D] the users' taste vectors (TasteRows;
  // undefined: none); user_vectors [B, D], when given, stands for
  // user_emb's rows of user_rows (as id_rows above). Returns u: [B, D].
  torch::Tensor UserStates(const HistoryBatch& histories, const torch::Tensor& query_text,
                           const std::vector<bool>& has_query,
                           const torch::Tensor& user_rows = torch::Tensor(),
                           const torch::Tensor& tastes = torch::Tensor(),
                           const torch::Tensor& user_vectors = torch::Tensor());
  // The same with histories[b] a [L_b, D] tensor each.
  torch::Tensor UserStates(const std::vector<torch::Tensor>& histories,
                           const torch::Tensor& query_text,
                           const std::vector<bool>& has_query,
                           const torch::Tensor& user_rows = torch::Tensor(),
                           const torch::Tensor& tastes = torch::Tensor(),
                           const torch::Tensor& user_vectors = torch::Tensor());

  // s = u · eᵀ + b: users [B, D], items [N, D], biases [N] → [B, N].
  static torch::Tensor Scores(const torch::Tensor& users, const torch::Tensor& items,
                              const torch::Tensor& biases);

  // Reward logits σ⁻¹(P(reward > 0)) of items with scores `scores` [B] shown
  // at slate `positions` [B] int64.
  torch::Tensor RewardLogits(const torch::Tensor& scores, const torch::Tensor& positions);

  const RecommenderModelOptions& options() const { return options_; }

  torch::nn::Linear item_text_proj{nullptr};
  torch::nn::Embedding item_id_emb{nullptr};
  torch::nn::Embedding item_bias{nullptr};
  torch::nn::Embedding user_emb{nullptr};  // null without user_buckets
  torch::Tensor reward_bias;               // c, a scalar
  torch::Tensor reward_position_bias;      // c_p, [kRewardPositions]
  torch::Tensor history_pool_weight;       // w_h, a scalar
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

// [B, dim] float on `device` from per-user taste vectors (an empty or
// other-sized vector gives a zero row); undefined when every row is empty.
torch::Tensor TasteRows(const std::vector<std::vector<float>>& tastes, int64_t dim,
                        torch::Device device);

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
