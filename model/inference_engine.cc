#include "model/inference_engine.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <utility>

#include "common/logging.h"
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
  torch::Tensor cpu_biases;      // biases, contiguous on the CPU
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

struct InferenceEngine::Prepared {
  std::shared_ptr<const ModelSnapshot> snapshot;
  std::shared_ptr<const ItemCache> cache;  // of snapshot and a catalog version
  std::shared_ptr<const RetrievalIndex> index;  // maybe of older vectors
  int64_t index_model_version = -1;
  int64_t index_catalog_version = -1;
};

// One batch's scored candidates, whichever way they were found.
struct InferenceEngine::BatchScores {
  std::shared_ptr<const ModelSnapshot> snapshot;
  std::shared_ptr<const ItemCache> cache;
  std::vector<std::vector<float>> scores;
  std::vector<std::vector<double>> pis;
  std::vector<std::vector<int64_t>> candidates;
  // The candidates came from the retrieval stage: log them.
  std::vector<bool> retrieved;
};

std::shared_ptr<InferenceEngine::ItemCache> InferenceEngine::BuildItems(const ModelSnapshot& snapshot,
                                                                         const CatalogSnapshot& catalog) {
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
  fresh->cpu_biases = fresh->biases.to(torch::kCPU).contiguous();
  torch::Tensor offsets = (w.model->reward_position_bias + w.model->reward_bias)
                              .to(torch::kCPU, torch::kFloat64).contiguous();
  fresh->reward_offsets.assign(offsets.data_ptr<double>(), offsets.data_ptr<double>() + offsets.numel());
  return fresh;
}

std::shared_ptr<const InferenceEngine::ItemCache> InferenceEngine::Items(
    const ModelSnapshot& snapshot, const CatalogSnapshot& catalog) {
  {
    rtrec::MutexLock lock(&cache_mu_);
    if (cache_ && cache_->model_version == snapshot.version && cache_->catalog_version == catalog.version()) {
      return cache_;
    }
    // A prepared large catalog's vectors serve LearnTaste too.
    if (prepared_ && prepared_->cache->model_version == snapshot.version &&
        prepared_->cache->catalog_version == catalog.version()) {
      return prepared_->cache;
    }
  }
  std::shared_ptr<const ItemCache> fresh = BuildItems(snapshot, catalog);
  rtrec::MutexLock lock(&cache_mu_);
  cache_ = fresh;
  return fresh;
}

bool InferenceEngine::UsesRetrieval(const CatalogSnapshot& catalog) const {
  return options_.latest_catalog && options_.retrieval.min_items > 0 &&
         catalog.size() >= options_.retrieval.min_items;
}

absl::Status InferenceEngine::PrepareItems(bool force_index) {
  if (!options_.latest_catalog) return absl::OkStatus();
  rtrec::MutexLock prepare_lock(&prepare_mu_);
  std::shared_ptr<const ModelSnapshot> snapshot = store_->Current();
  std::shared_ptr<const CatalogSnapshot> catalog = options_.latest_catalog();
  if (!snapshot || !catalog) return absl::OkStatus();
  if (!UsesRetrieval(*catalog)) {
    rtrec::MutexLock lock(&cache_mu_);
    retrieval_stats_.active = false;
    return absl::OkStatus();
  }
  std::shared_ptr<const Prepared> current;
  {
    rtrec::MutexLock lock(&cache_mu_);
    current = prepared_;
  }
  const bool items_fresh = current && current->cache->model_version == snapshot->version &&
                           current->cache->catalog_version == catalog->version();
  const absl::Time now = absl::Now();
  const bool index_due =
      force_index || !current || !current->index ||
      (now - index_built_at_ >= absl::Milliseconds(options_.retrieval.reindex_interval_ms) &&
       (current->index_model_version != snapshot->version ||
        current->index_catalog_version != catalog->version()));
  if (items_fresh && !index_due) return absl::OkStatus();
  auto next = std::make_shared<Prepared>();
  next->snapshot = snapshot;
  const auto t0 = std::chrono::steady_clock::now();
  try {
    next->cache = items_fresh ? current->cache : BuildItems(*snapshot, *catalog);
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("item vectors: ", e.what_without_backtrace()));
  }
  const double items_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double index_seconds = -1, recall = -1, candidates_recall = -1;
  if (index_due) {
    // [e_i, b_i] rows: the inner product with [u, 1] is the score.
    const int64_t n = next->cache->cpu_embeddings.size(0);
    const int64_t d = next->cache->cpu_embeddings.size(1);
    std::vector<float> rows(static_cast<size_t>(n * (d + 1)));
    const float* e = next->cache->cpu_embeddings.data_ptr<float>();
    const float* b = next->cache->cpu_biases.data_ptr<float>();
    for (int64_t i = 0; i < n; ++i) {
      std::copy(e + i * d, e + (i + 1) * d, rows.data() + i * (d + 1));
      rows[i * (d + 1) + d] = b[i];
    }
    RetrievalIndexOptions io;
    io.lists = options_.retrieval.lists;
    io.probes = options_.retrieval.probes;
    io.train_sample = options_.retrieval.train_sample;
    io.exact_below = 0;
    io.seed = static_cast<uint64_t>(options_.policy_seed);
    const auto t1 = std::chrono::steady_clock::now();
    auto built = RetrievalIndex::Build(rows.data(), n, d + 1, io);
    if (!built.ok()) return built.status();
    index_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    next->index = std::move(*built);
    next->index_model_version = snapshot->version;
    next->index_catalog_version = catalog->version();
    index_built_at_ = now;
    std::vector<float> queries;
    {
      rtrec::MutexLock lock(&cache_mu_);
      for (const auto& q : recent_queries_) {
        if (static_cast<int64_t>(q.size()) == d + 1) queries.insert(queries.end(), q.begin(), q.end());
      }
    }
    const int64_t count = static_cast<int64_t>(queries.size()) / (d + 1);
    if (count > 0) {
      recall = MeasureRecall(*next->index, rows.data(), n, queries.data(), count, 100);
      candidates_recall =
          MeasureRecall(*next->index, rows.data(), n, queries.data(), count, 100, options_.retrieval.candidates);
    }
  } else {
    next->index = current->index;
    next->index_model_version = current->index_model_version;
    next->index_catalog_version = current->index_catalog_version;
  }
  rtrec::MutexLock lock(&cache_mu_);
  prepared_ = next;
  RetrievalStats& st = retrieval_stats_;
  st.active = true;
  st.index_items = next->index->size();
  st.index_lists = next->index->lists();
  if (!items_fresh) {
    ++st.item_builds;
    st.last_items_seconds = items_seconds;
  }
  if (index_seconds >= 0) {
    ++st.index_builds;
    st.last_index_seconds = index_seconds;
    if (recall >= 0) st.recall_at_100 = recall;
    if (candidates_recall >= 0) st.candidates_recall_at_100 = candidates_recall;
  }
  return absl::OkStatus();
}

RetrievalStats InferenceEngine::retrieval_stats() const {
  rtrec::MutexLock lock(&cache_mu_);
  return retrieval_stats_;
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

InferenceEngine::~InferenceEngine() {
  stop_indexer_.Notify();
  if (indexer_.joinable()) indexer_.join();
}

absl::StatusOr<std::unique_ptr<InferenceEngine>> InferenceEngine::Create(
    InferenceEngineOptions options, const ModelStore* store, state::SlateLogger* log) {
  if (store == nullptr || log == nullptr) {
    return absl::InvalidArgumentError("InferenceEngine needs a model store and an impression log");
  }
  std::unique_ptr<InferenceEngine> engine(new InferenceEngine(std::move(options), store, log));
  if (engine->options_.latest_catalog && engine->options_.retrieval.min_items > 0) {
    InferenceEngine* e = engine.get();
    e->indexer_ = std::thread([e] {
      // Polls for a new snapshot or catalog version (cheap when nothing
      // changed) and prepares its item vectors, and the index when due.
      logging::RateLimitedLog errors(absl::Seconds(10));
      while (!e->stop_indexer_.WaitForNotificationWithTimeout(absl::Milliseconds(20))) {
        absl::Status st = e->PrepareItems();
        if (!st.ok()) errors.Log(logging::Level::kError, "retrieval", st.message(), absl::Now());
      }
    });
  }
  return engine;
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
  BatchScores scored;
  // All tasks of a batch see the newest catalog among them.
  std::shared_ptr<const CatalogSnapshot> catalog = tasks.front()->catalog;
  for (auto* t : tasks) {
    if (t->catalog->version() > catalog->version()) catalog = t->catalog;
  }
  const bool retrieval = UsesRetrieval(*catalog);
  // Through the retrieval stage most of a request's cost is its own (search,
  // scoring, propensities), so the batch is answered in chunks as they are
  // done: the first requests do not wait for the last ones.
  constexpr size_t kRetrievalChunk = 8;
  const size_t chunk = retrieval ? kRetrievalChunk : tasks.size();
  for (size_t begin = 0; begin < tasks.size(); begin += chunk) {
    const std::vector<RecommendTask*> part(tasks.begin() + begin,
                                           tasks.begin() + std::min(tasks.size(), begin + chunk));
    absl::Status st;
    try {
      c10::InferenceMode guard;
      st = retrieval ? ScoreRetrieved(part, &scored) : ScoreExact(part, *catalog, &scored);
    } catch (const c10::Error& e) {
      st = absl::InternalError(absl::StrCat("inference failed: ", e.what_without_backtrace()));
    }
    if (!st.ok()) {
      for (auto* t : part) t->done(st);
      continue;
    }
    Answer(part, scored);
  }
  if (options_.batch_observer) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    options_.batch_observer(static_cast<int64_t>(tasks.size()), seconds);
  }
}

namespace {

// The user tower's inputs of a batch, over item rows below `n`.
struct UserInputs {
  std::vector<std::vector<int64_t>> contexts;
  std::vector<bool> has_query;
  std::vector<std::string> queries;
  std::vector<int64_t> query_rows;
  std::vector<int64_t> user_rows;
  std::vector<std::vector<float>> tastes;
};

UserInputs GatherUserInputs(const std::vector<RecommendTask*>& tasks, const RecommenderModelImpl& m,
                            int64_t n) {
  UserInputs in;
  in.has_query.assign(tasks.size(), false);
  in.user_rows.assign(tasks.size(), 0);
  const int64_t buckets = m.options().user_buckets;
  const int64_t max_history = m.options().max_history;
  for (size_t r = 0; r < tasks.size(); ++r) {
    auto* t = tasks[r];
    std::vector<int64_t> ctx;
    for (int64_t idx : t->context) {
      if (idx < n) ctx.push_back(idx);
    }
    if (static_cast<int64_t>(ctx.size()) > max_history) {
      ctx.erase(ctx.begin(), ctx.end() - max_history);
    }
    in.contexts.push_back(std::move(ctx));
    if (!t->query.empty()) {
      in.has_query[r] = true;
      in.queries.push_back(t->query);
      in.query_rows.push_back(static_cast<int64_t>(r));
    }
    if (buckets > 0) in.user_rows[r] = UserBucket(t->user_id, buckets);
    in.tastes.push_back(t->taste);
  }
  return in;
}

// [B, D] user states of the batch against the item vectors `items`.
torch::Tensor UserStatesOf(const std::vector<RecommendTask*>& tasks, const ModelSnapshot& snapshot,
                           const torch::Tensor& items) {
  ModelWeights& w = *snapshot.weights;
  UserInputs in = GatherUserInputs(tasks, *w.model, items.size(0));
  torch::Tensor query_text;
  if (!in.queries.empty()) {
    torch::Tensor encoded = snapshot.text->impl()->EncodeBatch(in.queries);  // [Q, Ht]
    query_text = torch::zeros({static_cast<int64_t>(tasks.size()), encoded.size(1)}, encoded.options());
    query_text.index_copy_(0, torch::tensor(in.query_rows, torch::kInt64).to(w.device), encoded);
  }
  return w.model->UserStates(RecommenderModelImpl::GatherHistories(items, in.contexts), query_text, in.has_query,
                             torch::tensor(in.user_rows, torch::kInt64).to(w.device),
                             TasteRows(in.tastes, items.size(1), w.device));
}

}  // namespace

absl::Status InferenceEngine::ScoreExact(const std::vector<RecommendTask*>& tasks, const CatalogSnapshot& catalog,
                                         BatchScores* out) {
  std::shared_ptr<const ModelSnapshot> snapshot = store_->Current();
  if (!snapshot) {
    return WithReason(WithRetryAfter(absl::UnavailableError("no model is loaded yet"), absl::Seconds(1)),
                      reason::kLoading);
  }
  const PolicyParams params = options_.policy ? options_.policy->Get() : PolicyParams{};
  const size_t b_tasks = tasks.size();
  out->snapshot = snapshot;
  out->scores.assign(b_tasks, {});
  out->pis.assign(b_tasks, {});
  out->candidates.assign(b_tasks, {});
  out->retrieved.assign(b_tasks, false);
  out->cache = Items(*snapshot, catalog);
  const torch::Tensor& items = out->cache->embeddings;
  const int64_t n = items.size(0);
  const int64_t b = static_cast<int64_t>(b_tasks);
  torch::Tensor users = UserStatesOf(tasks, *snapshot, items);
  torch::Tensor all_scores =
      RecommenderModelImpl::Scores(users, items, out->cache->biases).to(torch::kCPU).contiguous();  // [B, N]
  // The valid candidates of every request: its candidates (or the whole
  // catalog it saw) less its excluded items.
  torch::Tensor valid = torch::zeros({b, n}, torch::kBool);
  bool* v = valid.data_ptr<bool>();
  for (int64_t r = 0; r < b; ++r) {
    auto* t = tasks[r];
    auto excluded = [&](int64_t idx) { return std::binary_search(t->excluded.begin(), t->excluded.end(), idx); };
    auto& cands = out->candidates[r];
    if (t->candidates.empty()) {
      for (int64_t i = 0; i < t->catalog->size() && i < n; ++i) {
        if (!excluded(i)) cands.push_back(i);
      }
    } else {
      for (int64_t i : t->candidates) {
        if (i < n && !excluded(i)) cands.push_back(i);
      }
    }
    for (int64_t i : cands) v[r * n + i] = true;
  }
  torch::Tensor pi = PolicyLogProbabilities(all_scores.to(torch::kFloat64), valid, params).exp_().contiguous();
  const float* s = all_scores.data_ptr<float>();
  const double* pp = pi.data_ptr<double>();
  for (int64_t r = 0; r < b; ++r) {
    out->scores[r].reserve(out->candidates[r].size());
    out->pis[r].reserve(out->candidates[r].size());
    for (int64_t i : out->candidates[r]) {
      out->scores[r].push_back(s[r * n + i]);
      out->pis[r].push_back(pp[r * n + i]);
    }
  }
  return absl::OkStatus();
}

absl::Status InferenceEngine::ScoreRetrieved(const std::vector<RecommendTask*>& tasks, BatchScores* out) {
  std::shared_ptr<const Prepared> prepared;
  {
    rtrec::MutexLock lock(&cache_mu_);
    prepared = prepared_;
  }
  if (!prepared) {
    return WithReason(WithRetryAfter(absl::UnavailableError("the item index of this catalog is being built"),
                                     absl::Seconds(1)),
                      reason::kLoading);
  }
  const PolicyParams params = options_.policy ? options_.policy->Get() : PolicyParams{};
  const size_t b_tasks = tasks.size();
  // The snapshot the item vectors were built for: one model throughout.
  out->snapshot = prepared->snapshot;
  out->cache = prepared->cache;
  out->scores.assign(b_tasks, {});
  out->pis.assign(b_tasks, {});
  out->candidates.assign(b_tasks, {});
  out->retrieved.assign(b_tasks, false);
  const ItemCache& cache = *prepared->cache;
  const int64_t n = cache.cpu_embeddings.size(0);
  const int64_t d = cache.cpu_embeddings.size(1);
  torch::Tensor users = UserStatesOf(tasks, *prepared->snapshot, cache.embeddings).to(torch::kCPU).contiguous();
  const float* u = users.data_ptr<float>();
  // Queries [u, 1] of the requests without candidates of their own.
  const int64_t top = std::min<int64_t>(options_.retrieval.candidates, prepared->index->size());
  std::vector<int64_t> search_rows;
  std::vector<float> queries;
  for (size_t r = 0; r < b_tasks; ++r) {
    if (!tasks[r]->candidates.empty()) continue;
    search_rows.push_back(static_cast<int64_t>(r));
    queries.insert(queries.end(), u + r * d, u + (r + 1) * d);
    queries.push_back(1.0f);
  }
  std::vector<int64_t> found(search_rows.size() * static_cast<size_t>(std::max<int64_t>(top, 0)), -1);
  if (!search_rows.empty() && top > 0) {
    prepared->index->Search(queries.data(), static_cast<int64_t>(search_rows.size()), top, found.data());
    rtrec::MutexLock lock(&cache_mu_);
    constexpr size_t kRecentQueries = 256;
    for (size_t q = 0; q < search_rows.size(); ++q) {
      std::vector<float> query(queries.begin() + q * (d + 1), queries.begin() + (q + 1) * (d + 1));
      if (recent_queries_.size() < kRecentQueries) {
        recent_queries_.push_back(std::move(query));
      } else {
        recent_queries_[next_recent_query_++ % kRecentQueries] = std::move(query);
      }
    }
  }
  const float* e = cache.cpu_embeddings.data_ptr<float>();
  const float* bias = cache.cpu_biases.data_ptr<float>();
  size_t q = 0;
  for (size_t r = 0; r < b_tasks; ++r) {
    auto* t = tasks[r];
    auto excluded = [&](int64_t idx) { return std::binary_search(t->excluded.begin(), t->excluded.end(), idx); };
    auto& cands = out->candidates[r];
    const int64_t visible = std::min<int64_t>(t->catalog->size(), n);
    if (!t->candidates.empty()) {
      for (int64_t i : t->candidates) {
        if (i < visible && !excluded(i)) cands.push_back(i);
      }
    } else {
      out->retrieved[r] = true;
      for (int64_t j = 0; j < top; ++j) {
        const int64_t i = found[q * top + j];
        if (i >= 0 && i < visible && !excluded(i)) cands.push_back(i);
      }
      ++q;
      // Items added since the index was built are scored exactly.
      for (int64_t i = prepared->index->size(); i < visible; ++i) {
        if (!excluded(i)) cands.push_back(i);
      }
    }
    const float* ur = u + r * d;
    auto& sc = out->scores[r];
    sc.reserve(cands.size());
    for (int64_t i : cands) sc.push_back(bias[i] + InnerProduct(ur, e + i * d, d));
    out->pis[r] = PolicyProbabilities(sc, params);
  }
  return absl::OkStatus();
}

void InferenceEngine::Answer(const std::vector<RecommendTask*>& tasks, BatchScores& scored) {
  const ModelSnapshot& snapshot = *scored.snapshot;
  const ItemCache& cache = *scored.cache;
  std::mt19937_64 rng(static_cast<uint64_t>(options_.policy_seed) * 0x9E3779B97F4A7C15ull +
                      next_batch_.fetch_add(1));
  for (size_t r = 0; r < tasks.size(); ++r) {
    auto* t = tasks[r];
    const auto& scores = scored.scores[r];
    const auto& candidates = scored.candidates[r];
    Slate slate = SampleSlate(scores, scored.pis[r], t->k, t->explore, rng);
    RecommendResult result;
    result.request_id = absl::StrFormat("%016x-%x", request_id_prefix_, next_request_.fetch_add(1));
    result.model_version = snapshot.version;
    result.context = t->context;
    state::Impression imp;
    imp.request_id = result.request_id;
    imp.user_id = t->user_id;
    imp.context = t->context;
    imp.query = t->query;
    imp.num_candidates = static_cast<int64_t>(candidates.size());
    // A retrieved set is the policy's choice set: the learner computes π
    // over the same items.
    imp.candidates = scored.retrieved[r] ? candidates : t->candidates;
    imp.excluded = t->excluded;
    imp.explored = t->explore;
    imp.model_version = snapshot.version;
    for (size_t j = 0; j < slate.positions.size(); ++j) {
      const int64_t pos = slate.positions[j];
      RecommendedItemResult item;
      item.index = candidates[pos];
      item.item_id = t->catalog->item(item.index).item_id;
      item.score = scores[pos];
      item.propensity = slate.propensities[j];
      state::ShownItem shown;
      shown.item_index = item.index;
      shown.item_id = item.item_id;
      shown.score = item.score;
      shown.taste_score = static_cast<float>(cache.TasteScore(t->taste, item.index));
      shown.propensity = item.propensity;
      shown.selection_probability = slate.selection_probabilities[j];
      imp.slate.push_back(std::move(shown));
      result.items.push_back(std::move(item));
    }
    log_->Record(std::move(imp));
    t->done(std::move(result));
  }
  if (options_.step_to_served_observer &&
      snapshot.learned_at != std::chrono::steady_clock::time_point{}) {
    int64_t seen = first_served_version_.load();
    while (seen < snapshot.version && !first_served_version_.compare_exchange_weak(seen, snapshot.version)) {
    }
    if (seen < snapshot.version) {
      options_.step_to_served_observer(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - snapshot.learned_at).count());
    }
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
