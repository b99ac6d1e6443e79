#include "model/inference_engine.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <utility>

#include "common/refusal.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "model/exploration_policy.h"
#include "model/policy_probabilities.h"
#include "model/recommender_model.h"
#include "model/text_embedder_impl.h"

namespace rtrec::model {

struct InferenceEngine::ItemCache {
  int64_t model_version = 0;
  int64_t catalog_version = -1;
  torch::Tensor embeddings;  // [N, D] on the model's device
  torch::Tensor biases;      // [N]
  torch::Tensor cpu_embeddings;  // embeddings, contiguous on the CPU
  // The reward model's offset c + c_p per slate position p.
  std::vector<double> reward_offsets;

  const float* vector(int64_t index) const {
    return cpu_embeddings.data_ptr<float>() + index * cpu_embeddings.size(1);
  }
  double TasteScore(const std::vector<float>& taste, int64_t index) const {
    if (static_cast<int64_t>(taste.size()) != cpu_embeddings.size(1)) return 0.0;
    const float* x = vector(index);
    double s = 0;
    for (size_t j = 0; j < taste.size(); ++j) s += static_cast<double>(taste[j]) * x[j];
    return s;
  }
};

std::shared_ptr<const InferenceEngine::ItemCache> InferenceEngine::Items(
    const ModelSnapshot& snapshot, const CatalogSnapshot& catalog) {
  rtrec::MutexLock lock(&cache_mu_);
  if (!cache_ || cache_->model_version != snapshot.version ||
      cache_->catalog_version != catalog.version()) {
    c10::InferenceMode guard;
    ModelWeights& w = *snapshot.weights;
    auto fresh = std::make_shared<ItemCache>();
    fresh->model_version = snapshot.version;
    fresh->catalog_version = catalog.version();
    const int64_t n = catalog.size();
    const int64_t dim = catalog.text_dim();
    torch::Tensor text = torch::empty({n, dim}, torch::kFloat32);
    float* p = text.data_ptr<float>();
    for (int64_t i = 0; i < n; ++i) {
      const auto& e = catalog.item(i).text_embedding;
      std::copy(e.begin(), e.end(), p + i * dim);
    }
    auto ids = torch::arange(n, torch::kInt64).to(w.device);
    fresh->embeddings = w.model->ItemEmbeddings(text.to(w.device), ids);
    fresh->biases = w.model->ItemBiases(ids);
    fresh->cpu_embeddings = fresh->embeddings.to(torch::kCPU).contiguous();
    torch::Tensor offsets = (w.model->reward_position_bias + w.model->reward_bias)
                                .to(torch::kCPU, torch::kFloat64).contiguous();
    fresh->reward_offsets.assign(offsets.data_ptr<double>(), offsets.data_ptr<double>() + offsets.numel());
    cache_ = std::move(fresh);
  }
  return cache_;
}

void InferenceEngine::LearnTaste(const state::Experience& example, const CatalogSnapshot& catalog,
                                 state::UserState* users) {
  if (users == nullptr || !users->learns_taste()) return;
  std::shared_ptr<const ModelSnapshot> snapshot = store_->Current();
  if (!snapshot) return;
  std::shared_ptr<const ItemCache> cache;
  try {
    cache = Items(*snapshot, catalog);
  } catch (const c10::Error&) {
    return;
  }
  if (example.item_index < 0 || example.item_index >= cache->cpu_embeddings.size(0)) return;
  const int64_t d = cache->cpu_embeddings.size(1);
  const float* x = cache->vector(example.item_index);
  const size_t position = static_cast<size_t>(
      std::clamp<int64_t>(example.slate_position, 0, static_cast<int64_t>(cache->reward_offsets.size()) - 1));
  const double base_logit = static_cast<double>(example.served_score) - example.served_taste_score +
                            cache->reward_offsets[position];
  users->LearnTaste(example.user_id, std::vector<float>(x, x + d), base_logit, example.reward);
}

InferenceEngine::InferenceEngine(InferenceEngineOptions options, const ModelStore* store,
                                 state::SlateLogger* log)
    : options_(std::move(options)),
      store_(store),
      log_(log),
      request_id_prefix_(std::random_device{}() ^
                         static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count())) {}

InferenceEngine::~InferenceEngine() = default;

absl::StatusOr<std::unique_ptr<InferenceEngine>> InferenceEngine::Create(
    InferenceEngineOptions options, const ModelStore* store, state::SlateLogger* log) {
  if (store == nullptr || log == nullptr) {
    return absl::InvalidArgumentError("InferenceEngine needs a model store and an impression log");
  }
  return std::unique_ptr<InferenceEngine>(new InferenceEngine(std::move(options), store, log));
}

void InferenceEngine::RunBatch(TaskBatch batch) {
  const auto started = std::chrono::steady_clock::now();
  thread_local int64_t configured_threads = 0;
  if (configured_threads != options_.intra_op_threads) {
    ConfigureIntraOpThreads(options_.intra_op_threads);
    configured_threads = options_.intra_op_threads;
  }
  std::vector<RecommendTask*> tasks;
  tasks.reserve(batch.size());
  for (auto& t : batch) tasks.push_back(static_cast<RecommendTask*>(t.get()));
  std::shared_ptr<const ModelSnapshot> snapshot = store_->Current();
  if (!snapshot) {
    for (auto* t : tasks) t->done(WithReason(WithRetryAfter(absl::UnavailableError("no model is loaded yet"), absl::Seconds(1)),
                                              reason::kLoading));
    return;
  }
  ModelWeights& w = *snapshot->weights;
  // All tasks of a batch see the newest catalog among them.
  std::shared_ptr<const CatalogSnapshot> catalog = tasks.front()->catalog;
  for (auto* t : tasks) {
    if (t->catalog->version() > catalog->version()) catalog = t->catalog;
  }
  const PolicyParams params = options_.policy ? options_.policy->Get() : PolicyParams{};
  std::vector<std::vector<float>> scores(tasks.size());
  std::vector<std::vector<double>> pis(tasks.size());
  std::vector<std::vector<int64_t>> candidates(tasks.size());
  std::shared_ptr<const ItemCache> cache;
  try {
    c10::InferenceMode guard;
    cache = Items(*snapshot, *catalog);
    const torch::Tensor& items = cache->embeddings;
    const int64_t n = items.size(0);
    const int64_t b = static_cast<int64_t>(tasks.size());
    // User tower over the whole batch.
    std::vector<std::vector<int64_t>> contexts;
    std::vector<bool> has_query(tasks.size(), false);
    std::vector<std::string> queries;
    std::vector<int64_t> query_rows;
    std::vector<int64_t> user_rows(tasks.size(), 0);
    const int64_t buckets = w.model->options().user_buckets;
    for (size_t r = 0; r < tasks.size(); ++r) {
      auto* t = tasks[r];
      std::vector<int64_t> ctx;
      for (int64_t idx : t->context) {
        if (idx < n) ctx.push_back(idx);
      }
      const int64_t max_history = w.model->options().max_history;
      if (static_cast<int64_t>(ctx.size()) > max_history) {
        ctx.erase(ctx.begin(), ctx.end() - max_history);
      }
      contexts.push_back(std::move(ctx));
      if (!t->query.empty()) {
        has_query[r] = true;
        queries.push_back(t->query);
        query_rows.push_back(static_cast<int64_t>(r));
      }
      if (buckets > 0) user_rows[r] = UserBucket(t->user_id, buckets);
    }
    torch::Tensor query_text;
    if (!queries.empty()) {
      torch::Tensor encoded = snapshot->text->impl()->EncodeBatch(queries);  // [Q, Ht]
      query_text = torch::zeros({b, encoded.size(1)}, encoded.options());
      query_text.index_copy_(0, torch::tensor(query_rows, torch::kInt64).to(w.device), encoded);
    }
    std::vector<std::vector<float>> tastes;
    tastes.reserve(tasks.size());
    for (auto* t : tasks) tastes.push_back(t->taste);
    torch::Tensor users = w.model->UserStates(
        RecommenderModelImpl::GatherHistories(items, contexts), query_text, has_query, torch::tensor(user_rows, torch::kInt64).to(w.device),
        TasteRows(tastes, items.size(1), w.device));
    torch::Tensor all_scores =
        RecommenderModelImpl::Scores(users, items, cache->biases).to(torch::kCPU).contiguous();  // [B, N]
    // The valid candidates of every request: its candidates (or the whole
    // catalog it saw) less its excluded items.
    torch::Tensor valid = torch::zeros({b, n}, torch::kBool);
    bool* v = valid.data_ptr<bool>();
    for (int64_t r = 0; r < b; ++r) {
      auto* t = tasks[r];
      auto excluded = [&](int64_t idx) {
        return std::binary_search(t->excluded.begin(), t->excluded.end(), idx);
      };
      if (t->candidates.empty()) {
        for (int64_t i = 0; i < t->catalog->size() && i < n; ++i) {
          if (!excluded(i)) candidates[r].push_back(i);
        }
      } else {
        for (int64_t i : t->candidates) {
          if (i < n && !excluded(i)) candidates[r].push_back(i);
        }
      }
      for (int64_t i : candidates[r]) v[r * n + i] = true;
    }
    torch::Tensor pi = PolicyLogProbabilities(all_scores.to(torch::kFloat64), valid, params).exp_().contiguous();
    const float* s = all_scores.data_ptr<float>();
    const double* pp = pi.data_ptr<double>();
    for (int64_t r = 0; r < b; ++r) {
      scores[r].reserve(candidates[r].size());
      pis[r].reserve(candidates[r].size());
      for (int64_t i : candidates[r]) {
        scores[r].push_back(s[r * n + i]);
        pis[r].push_back(pp[r * n + i]);
      }
    }
  } catch (const c10::Error& e) {
    for (auto* t : tasks) {
      t->done(absl::InternalError(absl::StrCat("inference failed: ", e.what_without_backtrace())));
    }
    return;
  }
  // Policy, impression log, answers.
  std::mt19937_64 rng(static_cast<uint64_t>(options_.policy_seed) * 0x9E3779B97F4A7C15ull +
                      next_batch_.fetch_add(1));
  for (size_t r = 0; r < tasks.size(); ++r) {
    auto* t = tasks[r];
    Slate slate = SampleSlate(scores[r], pis[r], t->k, t->explore, rng);
    RecommendResult result;
    result.request_id = absl::StrFormat("%016x-%x", request_id_prefix_, next_request_.fetch_add(1));
    result.model_version = snapshot->version;
    result.context = t->context;
    state::Impression imp;
    imp.request_id = result.request_id;
    imp.user_id = t->user_id;
    imp.context = t->context;
    imp.query = t->query;
    imp.num_candidates = static_cast<int64_t>(candidates[r].size());
    imp.candidates = t->candidates;
    imp.excluded = t->excluded;
    imp.explored = t->explore;
    imp.model_version = snapshot->version;
    for (size_t j = 0; j < slate.positions.size(); ++j) {
      const int64_t pos = slate.positions[j];
      RecommendedItemResult item;
      item.index = candidates[r][pos];
      item.item_id = t->catalog->item(item.index).item_id;
      item.score = scores[r][pos];
      item.propensity = slate.propensities[j];
      state::ShownItem shown;
      shown.item_index = item.index;
      shown.item_id = item.item_id;
      shown.score = item.score;
      shown.taste_score = static_cast<float>(cache->TasteScore(t->taste, item.index));
      shown.propensity = item.propensity;
      shown.selection_probability = slate.selection_probabilities[j];
      imp.slate.push_back(std::move(shown));
      result.items.push_back(std::move(item));
    }
    log_->Record(std::move(imp));
    t->done(std::move(result));
  }
  if (options_.batch_observer) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    options_.batch_observer(static_cast<int64_t>(tasks.size()), seconds);
  }
}

}  // namespace rtrec::model

namespace rtrec::model {

void ConfigureIntraOpThreads(int64_t threads) {
  at::set_num_threads(static_cast<int>(threads));
}

absl::StatusOr<std::shared_ptr<ModelSnapshot>> BuildInitialSnapshot(
    const config::RtrecConfig& config, std::shared_ptr<const TextEmbedder> text) {
  RecommenderModelOptions shape;
  shape.text_dim = text->dim();
  shape.embedding_dim = config.model.embedding_dim;
  shape.num_layers = config.model.num_layers;
  shape.num_heads = config.model.num_heads;
  shape.ffn_dim = config.model.ffn_dim;
  shape.max_items = config.catalog.max_items;
  shape.max_history = config.users.history_length;
  shape.user_buckets = config.model.user_buckets;
  shape.history_decay = config.model.history_decay;
  shape.dropout = config.model.dropout;
  return CreateInitialSnapshot(config.model, shape, std::move(text));
}

}  // namespace rtrec::model
