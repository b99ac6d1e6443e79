#include "model/recommender_model.h"

#include <cmath>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace rtrec::model {

namespace {

// Set while CloneSnapshot builds the model it copies the weights into: the
// embedding tables (catalog.max_items and model.user_buckets rows) then need
// no initial values. Cloneable::clone() drew them (10.6 M normal draws and
// 42 MB written twice at the defaults, most of a publish's time, every
// learner.publish_every steps), once for the copy and again for each child
// module.
thread_local bool t_cloning = false;

torch::nn::Embedding Table(int64_t rows, int64_t dim) {
  if (t_cloning) return torch::nn::Embedding(torch::nn::EmbeddingOptions(rows, dim)._weight(torch::empty({rows, dim})));
  return torch::nn::Embedding(rows, dim);
}

}  // namespace

RecommenderModelImpl::RecommenderModelImpl(const RecommenderModelOptions& o) : options_(o) {
  reset();
}

void RecommenderModelImpl::reset() {
  const RecommenderModelOptions& o = options_;
  item_text_proj = register_module(
      "item_text_proj", torch::nn::Linear(torch::nn::LinearOptions(o.text_dim, o.embedding_dim).bias(false)));
  // The tables start at zero (below); the normal draws of a fresh Embedding
  // are kept outside a clone so that a seed gives the same initial model.
  item_id_emb = register_module("item_id_emb", Table(o.max_items, o.embedding_dim));
  item_bias = register_module("item_bias", Table(o.max_items, 1));
  if (o.user_buckets > 0) {
    user_emb = register_module("user_emb", Table(o.user_buckets, o.embedding_dim));
  }
  // A first guess of 5 % for the share of shown items that get a reward.
  reward_bias = register_parameter("reward_bias", torch::full({}, -3.0));
  reward_position_bias = register_parameter("reward_position_bias", torch::zeros({kRewardPositions}));
  history_pool_weight = register_parameter("history_pool_weight", torch::ones({}));
  query_proj = register_module("query_proj", torch::nn::Linear(o.text_dim, o.embedding_dim));
  position_emb = register_module("position_emb", torch::nn::Embedding(o.max_history + 2, o.embedding_dim));
  start_token = register_parameter("start_token", torch::randn({o.embedding_dim}) * 0.02);
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.num_layers; ++i) {
    layers->push_back(torch::nn::TransformerEncoderLayer(
        torch::nn::TransformerEncoderLayerOptions(o.embedding_dim, o.num_heads)
            .dim_feedforward(o.ffn_dim)
            .dropout(o.dropout)));
  }
  final_norm = register_module(
      "final_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.embedding_dim})));
  torch::NoGradGuard no_grad;
  if (!t_cloning) {
    item_id_emb->weight.zero_();
    item_bias->weight.zero_();
  }
  // The Transformer's output starts silent (ReZero-style) and grows where it
  // helps: at first the user state is the history mean and the user's own
  // row, so early scores are text similarities, not noise.
  final_norm->weight.zero_();
  // Item vectors start with a norm of about 3 (the default init gives about
  // 0.8 on centred BERT vectors): scores are bilinear, so the user side
  // learns in proportion to the item side's scale (measured on the bandit
  // world: 0.73 of the oracle before its shift vs 0.69 at the default scale).
  item_text_proj->weight.mul_(4.0);
  // The query starts in the items' space (same projection, no offset): a
  // query scores items by text similarity from the first request, before the
  // Transformer has learned anything about it.
  query_proj->weight.copy_(item_text_proj->weight);
  query_proj->bias.zero_();
  if (user_emb && !t_cloning) user_emb->weight.zero_();
  torch::nn::init::normal_(position_emb->weight, 0.0, 0.02);
}

torch::Tensor RecommenderModelImpl::ItemEmbeddings(const torch::Tensor& text,
                                                   const torch::Tensor& ids,
                                                   const torch::Tensor& id_rows) {
  // Centred on the catalog's mean text vector: mean-pooled BERT vectors
  // share one large common direction (cosine 0.92 between unrelated items of
  // the bandit world, 0.18 vs −0.02 for same- vs other-topic items once
  // centred), which would otherwise swamp what tells items apart.
  torch::Tensor centred = text.size(0) > 1 ? text - text.mean(0, /*keepdim=*/true) : text;
  return item_text_proj(centred) + (id_rows.defined() ? id_rows : item_id_emb(ids));
}

torch::Tensor RecommenderModelImpl::ItemBiases(const torch::Tensor& ids, const torch::Tensor& bias_rows) {
  return (bias_rows.defined() ? bias_rows : item_bias(ids)).squeeze(1);
}

torch::Tensor RecommenderModelImpl::Scores(const torch::Tensor& users, const torch::Tensor& items,
                                           const torch::Tensor& biases) {
  return torch::addmm(biases.unsqueeze(0), users, items.t());
}

torch::Tensor RecommenderModelImpl::RewardLogits(const torch::Tensor& scores,
                                                 const torch::Tensor& positions) {
  return scores + reward_bias +
         reward_position_bias.index_select(0, positions.clamp_max(kRewardPositions - 1));
}

int64_t UserBucket(const std::string& user_id, int64_t buckets) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : user_id) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return static_cast<int64_t>(h % static_cast<uint64_t>(buckets));
}

torch::Tensor RecommenderModelImpl::UserStates(const std::vector<torch::Tensor>& histories,
                                               const torch::Tensor& query_text,
                                               const std::vector<bool>& has_query,
                                               const torch::Tensor& user_rows,
                                               const torch::Tensor& tastes,
                                               const torch::Tensor& user_vectors) {
  HistoryBatch flat;
  std::vector<torch::Tensor> nonempty;
  for (const torch::Tensor& h : histories) {
    flat.lengths.push_back(h.size(0));
    if (h.size(0) > 0) nonempty.push_back(h);
  }
  if (!nonempty.empty()) flat.items = torch::cat(nonempty, 0);
  return UserStates(flat, query_text, has_query, user_rows, tastes, user_vectors);
}

RecommenderModelImpl::HistoryBatch RecommenderModelImpl::GatherHistories(
    const torch::Tensor& items, const std::vector<std::vector<int64_t>>& contexts) {
  HistoryBatch out;
  std::vector<int64_t> flat;
  for (const auto& c : contexts) {
    out.lengths.push_back(static_cast<int64_t>(c.size()));
    flat.insert(flat.end(), c.begin(), c.end());
  }
  if (!flat.empty()) {
    out.items = items.index_select(0, torch::tensor(flat, torch::kInt64).to(items.device()));
  }
  return out;
}

torch::Tensor RecommenderModelImpl::UserStates(const HistoryBatch& histories,
                                               const torch::Tensor& query_text,
                                               const std::vector<bool>& has_query,
                                               const torch::Tensor& user_rows,
                                               const torch::Tensor& tastes,
                                               const torch::Tensor& user_vectors) {
  const int64_t b = static_cast<int64_t>(histories.lengths.size());
  const int64_t d = options_.embedding_dim;
  torch::Tensor queries;
  if (query_text.defined()) queries = query_proj(query_text);  // [B, D]
  std::vector<int64_t> lengths(b);
  int64_t t = 0;
  for (int64_t r = 0; r < b; ++r) {
    lengths[r] = 1 + histories.lengths[r] + (has_query[r] ? 1 : 0);
    t = std::max(t, lengths[r]);
  }
  // Right-padded [T, B, D]; with a causal mask no real token sees padding.
  // Built with one scatter per token kind (flat row time·B + r), not a copy
  // per user: the learner's batches hold hundreds of rows.
  const auto long_opts = torch::TensorOptions().dtype(torch::kInt64);
  std::vector<int64_t> start_at(b), history_at, history_row, query_at;
  std::vector<float> history_weight;
  for (int64_t r = 0; r < b; ++r) {
    start_at[r] = r;
    const int64_t len = histories.lengths[r];
    // Weights decay^age, normalised: the latest item weighs most, so a change
    // of taste shows in the user state with the first new click.
    double total = 0;
    for (int64_t j = 0; j < len; ++j) total += std::pow(options_.history_decay, len - 1 - j);
    for (int64_t j = 0; j < len; ++j) {
      history_at.push_back((1 + j) * b + r);
      history_row.push_back(r);
      history_weight.push_back(static_cast<float>(std::pow(options_.history_decay, len - 1 - j) / total));
    }
    if (has_query[r]) query_at.push_back((1 + len) * b + r);
  }
  const torch::Device device = start_token.device();
  torch::Tensor x = torch::zeros({t * b, d}, start_token.options());
  x = x.index_copy(0, torch::tensor(start_at, long_opts).to(device), start_token.unsqueeze(0).expand({b, d}));
  const torch::Tensor& all_history = histories.items;  // [Σ len, D], rows in (r, j) order
  if (all_history.defined() && all_history.size(0) > 0) {
    x = x.index_copy(0, torch::tensor(history_at, long_opts).to(device), all_history);
  }
  if (!query_at.empty()) {
    std::vector<int64_t> query_rows;
    for (int64_t r = 0; r < b; ++r) {
      if (has_query[r]) query_rows.push_back(r);
    }
    x = x.index_copy(0, torch::tensor(query_at, long_opts).to(device),
                     queries.index_select(0, torch::tensor(query_rows, long_opts).to(device)));
  }
  x = x.view({t, b, d});
  auto positions = torch::arange(t, torch::TensorOptions().dtype(torch::kInt64).device(x.device()));
  x = x + position_emb(positions).unsqueeze(1);
  auto causal = torch::triu(
      torch::full({t, t}, -std::numeric_limits<float>::infinity(), x.options()), 1);
  for (const auto& layer : *layers) {
    x = layer->as<torch::nn::TransformerEncoderLayer>()->forward(x, causal);
  }
  x = final_norm(x);
  auto last = torch::tensor(std::vector<int64_t>(lengths.begin(), lengths.end()),
                            torch::TensorOptions().dtype(torch::kInt64).device(x.device())) - 1;
  // x: [T, B, D] → pick x[last[b], b].
  auto rows = torch::arange(b, last.options());
  torch::Tensor u = x.index({last, rows});
  // The recency-weighted mean of the history's item vectors, beside the
  // Transformer: a user with a few clicks scores items like them from the
  // first step on (zero for an empty history).
  torch::Tensor means = torch::zeros({b, d}, u.options());
  if (all_history.defined() && all_history.size(0) > 0) {
    torch::Tensor w = torch::tensor(history_weight, u.options()).unsqueeze(1);
    means = means.index_add(0, torch::tensor(history_row, long_opts).to(device), all_history * w);
  }
  u = u + history_pool_weight * means;
  // The query's own vector beside the Transformer, as the history mean is:
  // a search box matters from the first request.
  if (queries.defined()) {
    std::vector<float> mask(b);
    for (int64_t r = 0; r < b; ++r) mask[r] = has_query[r] ? 1.0f : 0.0f;
    u = u + queries * torch::tensor(mask, u.options()).unsqueeze(1);
  }
  if (user_vectors.defined()) {
    u = u + user_vectors;
  } else if (user_emb && user_rows.defined()) {
    u = u + user_emb(user_rows);
  }
  if (tastes.defined()) u = u + tastes;
  return u;
}

torch::Tensor TasteRows(const std::vector<std::vector<float>>& tastes, int64_t dim,
                        torch::Device device) {
  const int64_t b = static_cast<int64_t>(tastes.size());
  bool any = false;
  torch::Tensor rows = torch::zeros({b, dim}, torch::kFloat32);
  float* p = rows.data_ptr<float>();
  for (int64_t r = 0; r < b; ++r) {
    if (static_cast<int64_t>(tastes[r].size()) != dim) continue;
    std::copy(tastes[r].begin(), tastes[r].end(), p + r * dim);
    any = true;
  }
  return any ? rows.to(device) : torch::Tensor();
}

absl::StatusOr<std::string> ResolveDevice(const std::string& configured) {
  const bool cuda = torch::cuda::is_available();
  if (configured == "cuda" && !cuda) {
    return absl::FailedPreconditionError(
        "model.device: 'cuda' was asked for but CUDA is not available to this build or "
        "machine; use 'auto' or 'cpu'");
  }
  if (configured == "cpu") return std::string("cpu");
  return std::string(cuda ? "cuda" : "cpu");
}

absl::StatusOr<std::shared_ptr<ModelSnapshot>> CreateInitialSnapshot(
    const config::ModelOptions& options, const RecommenderModelOptions& shape,
    std::shared_ptr<const TextEmbedder> text) {
  auto device = ResolveDevice(options.device);
  if (!device.ok()) return device.status();
  auto weights = std::make_shared<ModelWeights>();
  try {
    torch::manual_seed(static_cast<uint64_t>(options.seed));
    weights->device = torch::Device(*device);
    weights->model = RecommenderModel(shape);
    weights->model->to(weights->device);
    weights->model->eval();
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("model: cannot build the recommender: ", e.what_without_backtrace()));
  }
  auto snap = std::make_shared<ModelSnapshot>();
  snap->text = std::move(text);
  snap->version = 1;
  snap->device = *device;
  snap->weights = std::move(weights);
  return snap;
}

std::shared_ptr<ModelSnapshot> CloneSnapshot(const ModelSnapshot& from, int64_t version,
                                             std::shared_ptr<const TextEmbedder> text) {
  auto weights = std::make_shared<ModelWeights>();
  weights->device = from.weights->device;
  // A fresh model of the same shape (tables left uninitialised), then every
  // parameter and buffer copied by name.
  t_cloning = true;
  try {
    weights->model = RecommenderModel(from.weights->model->options());
  } catch (...) {
    t_cloning = false;
    throw;
  }
  t_cloning = false;
  weights->model->to(weights->device);
  {
    torch::NoGradGuard no_grad;
    auto source = from.weights->model->named_parameters();
    for (auto& p : weights->model->named_parameters()) p.value().copy_(source[p.key()]);
    auto source_buffers = from.weights->model->named_buffers();
    for (auto& b : weights->model->named_buffers()) b.value().copy_(source_buffers[b.key()]);
  }
  weights->model->eval();
  auto snap = std::make_shared<ModelSnapshot>();
  snap->version = version;
  snap->device = from.device;
  snap->weights = std::move(weights);
  snap->text = text ? std::move(text) : from.text;
  return snap;
}

}  // namespace rtrec::model
