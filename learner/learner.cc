#include "learner/learner.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <limits>
#include <random>
#include <sstream>
#include <thread>
#include <utility>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/logging.h"
#include "common/mutex.h"
#include "absl/container/flat_hash_map.h"
#include "learner/checkpointing.h"
#include "model/policy_probabilities.h"
#include "model/recommender_model.h"
#include "model/text_embedder_impl.h"

namespace rtrec::learner {
namespace {

bool IsLogged(const Experience& e) {
  return e.source != Experience::Source::kOrganic && e.selection_probability > 0;
}

// One model's view of a batch of experiences. Experiences of one request
// share their context, so the user tower runs once per request ("context
// rows"); organic events each have a row of their own.
struct PolicyForward {
  torch::Tensor items;        // [N, D]
  torch::Tensor users;        // [U, D], one per context row
  torch::Tensor scores;       // [U, N]
  torch::Tensor log_pi_all;   // [U, N], log π as served; −inf off the candidates
  torch::Tensor row_of;       // [B] int64: the example's context row
  torch::Tensor log_pi;       // [B] log π(a|s) of each example's item
  torch::Tensor item_scores;  // [B] s of each example's item
};

// Copies of the embedding tables' rows a training step touches, as leaves
// of the step's graph: the gradient lands in them ([rows, D]) instead of in
// a gradient of the whole table, which would be allocated, zeroed and summed
// every step (catalog.max_items × D plus model.user_buckets × D floats, 42 MB
// at the defaults). The step then moves the tables' rows from these.
struct TableRows {
  torch::Tensor item_ids;   // [N, D]: item_id_emb rows 0..N−1 (the catalog)
  torch::Tensor item_bias;  // [N, 1]
  torch::Tensor users;      // [R, D]: user_emb rows of user_buckets
  std::vector<int64_t> user_buckets;  // sorted, distinct
};

PolicyForward ForwardPolicy(model::RecommenderModelImpl& m,
                            const std::vector<const Experience*>& batch,
                            const torch::Tensor& item_text, const model::TextEmbedder& text,
                            const model::PolicyParams& params, const state::UserState* users,
                            const TableRows* tables = nullptr) {
  const torch::Device device = item_text.device();
  const int64_t n = item_text.size(0);
  const int64_t b = static_cast<int64_t>(batch.size());
  PolicyForward out;
  torch::Tensor ids = torch::arange(n, torch::TensorOptions(torch::kInt64).device(device));
  out.items = m.ItemEmbeddings(item_text, ids, tables ? tables->item_ids : torch::Tensor());
  torch::Tensor biases = m.ItemBiases(ids, tables ? tables->item_bias : torch::Tensor());
  // Context rows.
  absl::flat_hash_map<std::string, int64_t> row_of_request;
  std::vector<const Experience*> rows;
  std::vector<int64_t> row_of(b);
  for (int64_t r = 0; r < b; ++r) {
    const Experience& e = *batch[r];
    if (e.request_id.empty()) {
      row_of[r] = static_cast<int64_t>(rows.size());
      rows.push_back(&e);
      continue;
    }
    auto [it, fresh] = row_of_request.emplace(e.request_id, static_cast<int64_t>(rows.size()));
    if (fresh) rows.push_back(&e);
    row_of[r] = it->second;
  }
  const int64_t u_rows = static_cast<int64_t>(rows.size());
  const int64_t max_history = m.options().max_history;
  const int64_t buckets = m.options().user_buckets;
  std::vector<std::vector<int64_t>> contexts;
  std::vector<bool> has_query(u_rows, false);
  std::vector<std::string> queries;
  std::vector<int64_t> query_rows, user_rows(u_rows, 0);
  std::vector<uint8_t> valid(static_cast<size_t>(u_rows * n), 1);
  for (int64_t r = 0; r < u_rows; ++r) {
    const Experience& e = *rows[r];
    std::vector<int64_t> ctx;
    for (int64_t idx : e.context) {
      if (idx >= 0 && idx < n) ctx.push_back(idx);
    }
    if (static_cast<int64_t>(ctx.size()) > max_history) {
      ctx.erase(ctx.begin(), ctx.end() - max_history);
    }
    contexts.push_back(std::move(ctx));
    if (!e.query.empty()) {
      has_query[r] = true;
      queries.push_back(e.query);
      query_rows.push_back(r);
    }
    if (buckets > 0) user_rows[r] = model::UserBucket(e.user_id, buckets);
    uint8_t* row = valid.data() + r * n;
    if (!e.candidates.empty()) {
      std::fill(row, row + n, 0);
      for (int64_t idx : e.candidates) {
        if (idx >= 0 && idx < n) row[idx] = 1;
      }
    }
    for (int64_t idx : e.excluded) {
      if (idx >= 0 && idx < n) row[idx] = 0;
    }
  }
  std::vector<int64_t> actions(b);
  for (int64_t r = 0; r < b; ++r) {
    actions[r] = batch[r]->item_index;
    valid[row_of[r] * n + actions[r]] = 1;  // what was shown was a candidate
  }
  torch::Tensor query_text;
  if (!queries.empty()) {
    torch::Tensor encoded;
    {
      torch::NoGradGuard no_grad;
      encoded = text.impl()->EncodeBatch(queries);
    }
    query_text = torch::zeros({u_rows, encoded.size(1)}, encoded.options());
    query_text.index_copy_(0, torch::tensor(query_rows, torch::kInt64).to(device), encoded);
  }
  torch::Tensor tastes;
  if (users != nullptr && users->learns_taste()) {
    std::vector<std::vector<float>> rows_taste;
    rows_taste.reserve(rows.size());
    for (const Experience* e : rows) rows_taste.push_back(users->Taste(e->user_id));
    tastes = model::TasteRows(rows_taste, m.options().embedding_dim, device);
  }
  torch::Tensor user_vectors;
  if (tables != nullptr && tables->users.defined()) {
    std::vector<int64_t> at(u_rows);
    for (int64_t r = 0; r < u_rows; ++r) {
      at[r] = std::lower_bound(tables->user_buckets.begin(), tables->user_buckets.end(), user_rows[r]) -
              tables->user_buckets.begin();
    }
    user_vectors = tables->users.index_select(0, torch::tensor(at, torch::kInt64).to(device));
  }
  out.users = m.UserStates(model::RecommenderModelImpl::GatherHistories(out.items, contexts), query_text, has_query,
                           torch::tensor(user_rows, torch::kInt64).to(device), tastes, user_vectors);
  out.scores = model::RecommenderModelImpl::Scores(out.users, out.items, biases);  // [U, N]
  torch::Tensor mask = torch::from_blob(valid.data(), {u_rows, n}, torch::kUInt8).to(device).to(torch::kBool);
  // In double, as serving computes it: the logged π and the learner's agree
  // to 1e-6, not just to float rounding of a softmax over the catalog.
  out.log_pi_all = model::PolicyLogProbabilities(out.scores.to(torch::kDouble), mask, params);
  out.row_of = torch::tensor(row_of, torch::kInt64).to(device);
  torch::Tensor a = torch::tensor(actions, torch::kInt64).to(device);
  out.log_pi = out.log_pi_all.index({out.row_of, a});
  out.item_scores = out.scores.index({out.row_of, a});
  return out;
}

// Adam (β = 0.9, 0.999, ε = 1e-8, as torch's) on some rows of an embedding
// table, lazily: only rows that get a gradient move, and each row's bias
// correction counts its own steps, so a row seen for the first time moves
// by about the learning rate.
struct RowAdam {
  torch::Tensor m, v, steps;  // steps: [R] float

  // g: the gradient of w's rows `rows` ([R, D]).
  void Step(torch::Tensor& w, const torch::Tensor& rows, const torch::Tensor& g, double lr) {
    torch::NoGradGuard no_grad;
    if (!g.defined() || rows.numel() == 0) return;
    if (!m.defined()) {
      m = torch::zeros_like(w);
      v = torch::zeros_like(w);
      steps = torch::zeros({w.size(0)}, w.options());
    }
    constexpr double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    torch::Tensor mr = m.index_select(0, rows).mul_(b1).add_(g, 1 - b1);
    torch::Tensor vr = v.index_select(0, rows).mul_(b2).addcmul_(g, g, 1 - b2);
    torch::Tensor t = steps.index_select(0, rows).add_(1);
    m.index_copy_(0, rows, mr);
    v.index_copy_(0, rows, vr);
    steps.index_copy_(0, rows, t);
    torch::Tensor c1 = (1 - torch::pow(b1, t)).unsqueeze(1);
    torch::Tensor c2 = (1 - torch::pow(b2, t)).unsqueeze(1);
    torch::Tensor update = (mr / c1) / ((vr / c2).sqrt_().add_(eps));
    w.index_add_(0, rows, update, -lr);
  }
  void Reset() { m = v = steps = torch::Tensor(); }
};

std::vector<double> ToVector(const torch::Tensor& t) {
  torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

}  // namespace

double SelfNormalizedIps(const std::vector<double>& new_probabilities,
                         const std::vector<double>& logged_probabilities,
                         const std::vector<double>& rewards, double weight_cap) {
  double num = 0, den = 0;
  for (size_t i = 0; i < new_probabilities.size(); ++i) {
    const double w = std::min(new_probabilities[i] / logged_probabilities[i], weight_cap);
    num += w * rewards[i];
    den += w;
  }
  return den > 0 ? num / den : 0.0;
}

double PairedSnipsStderr(const std::vector<double>& probabilities_a,
                         const std::vector<double>& probabilities_b,
                         const std::vector<double>& logged_probabilities,
                         const std::vector<double>& rewards, double weight_cap) {
  const size_t n = rewards.size();
  if (n < 2) return 0.0;
  std::vector<double> wa(n), wb(n);
  double sum_a = 0, sum_b = 0;
  for (size_t i = 0; i < n; ++i) {
    wa[i] = std::min(probabilities_a[i] / logged_probabilities[i], weight_cap);
    wb[i] = std::min(probabilities_b[i] / logged_probabilities[i], weight_cap);
    sum_a += wa[i];
    sum_b += wb[i];
  }
  if (sum_a <= 0 || sum_b <= 0) return 0.0;
  const double va = SelfNormalizedIps(probabilities_a, logged_probabilities, rewards, weight_cap);
  const double vb = SelfNormalizedIps(probabilities_b, logged_probabilities, rewards, weight_cap);
  const double mean_a = sum_a / n, mean_b = sum_b / n;
  double sum = 0, sum_sq = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d = wa[i] * (rewards[i] - va) / mean_a - wb[i] * (rewards[i] - vb) / mean_b;
    sum += d;
    sum_sq += d * d;
  }
  const double mean = sum / n;
  const double variance = std::max(0.0, (sum_sq - n * mean * mean) / (n - 1));
  return std::sqrt(variance / n);
}

struct Learner::Impl {
  config::LearnerOptions options;
  model::ModelStore* store = nullptr;
  model::Catalog* catalog = nullptr;
  model::PolicyControl* policy = nullptr;
  ModelPublisher* publisher = nullptr;
  Clock* clock = nullptr;
  const state::UserState* users = nullptr;

  std::shared_ptr<model::ModelWeights> weights;
  std::unique_ptr<torch::optim::Adam> optimizer;
  std::atomic<double> learning_rate{0.001};
  std::mt19937_64 rng;
  bool baseline_set = false;
  double baseline = 0;

  // Item text of the catalog, [N, Ht] on the model's device.
  int64_t text_catalog_version = -1;
  torch::Tensor item_text;
  // Positive events per item (+1), the proposal Q of the next-item loss.
  std::vector<double> item_counts;
  double item_count_total = 0;
  // Recent logged examples, for the publish guard, each with π of the
  // serving snapshot `serving_pi_version` (−1: not computed yet). A
  // published candidate's π becomes the serving π of the examples it was
  // checked on, so a publish computes π of the serving snapshot only for
  // examples that arrived since.
  struct GuardExample {
    Experience example;
    double serving_pi = 0;
    int64_t serving_pi_version = -1;
  };
  std::deque<GuardExample> window;

  // Recent examples learned again (learner.replay_ratio).
  std::deque<Experience> replay;
  int64_t steps_since_publish = 0;
  // When the last good step ended: a published snapshot's learned_at.
  std::chrono::steady_clock::time_point last_step_end{};
  absl::Time last_publish;
  // Experience::seq of the last experience consumed, and its value when the
  // serving weights were last decided (published or a candidate refused).
  uint64_t consumed_through = 0;
  uint64_t published_through = 0;
  // stats.steps and stats.examples when published_through was set.
  int64_t steps_published = 0;
  int64_t examples_published = 0;
  absl::Duration checkpoint_interval = absl::InfiniteDuration();
  std::function<void(storage::v1::CheckpointRecord)> checkpoint_hook;
  absl::Time last_checkpoint;
  // ReplaceServing() hands the learner thread a swap to run.
  rtrec::Mutex replace_mu;
  std::function<absl::Status()> replace ABSL_GUARDED_BY(replace_mu);
  bool replace_done ABSL_GUARDED_BY(replace_mu) = false;
  absl::Status replace_status ABSL_GUARDED_BY(replace_mu);

  // Runs an operator's swap (see ReplaceServing) on the calling thread,
  // which is the learner's.
  absl::Status RunReplace(const std::function<absl::Status()>& swap) {
    absl::Status st = swap();
    if (!st.ok()) return st;
    RollBack(*store->Current());
    published_through = consumed_through;
    {
      rtrec::MutexLock lock(&stats_mu);
      steps_published = stats.steps;
      examples_published = stats.examples;
      stats.last_published_version = store->Current()->version;
    }
    return absl::OkStatus();
  }

  std::function<void(model::ModelWeights&)> after_backward;

  mutable rtrec::Mutex stats_mu;
  LearnerStats stats ABSL_GUARDED_BY(stats_mu);

  std::thread thread;
  rtrec::Notification stop;
  ExperienceBuffer* buffer = nullptr;

  // Adam over every parameter except the embedding tables, which only move
  // in the rows a step touched: item ids and biases get a lazy Adam
  // (RowAdam) at learning_rate · sparse_learning_rate_multiplier, users
  // per-example SGD at user_learning_rate (see TableSteps). The tables are
  // sized for catalog.max_items and model.user_buckets; a dense step over
  // all of them would cost more than the rest of the step.
  RowAdam item_id_adam, item_bias_adam;
  // Rows of the tables the current step touches: the catalog's items, and
  // the batch's users; and their copies the step's gradient lands in.
  torch::Tensor item_rows, user_rows;
  TableRows table_rows;

  static bool IsTable(const std::string& name) {
    return name == "item_id_emb.weight" || name == "item_bias.weight" || name == "user_emb.weight";
  }

  // Takes this step's copies of the touched table rows (TableRows).
  void CopyTableRows(const std::vector<int64_t>& user_buckets) {
    torch::NoGradGuard no_grad;
    model::RecommenderModelImpl& m = *weights->model;
    auto leaf = [&](const torch::Tensor& w, const torch::Tensor& rows) {
      return w.index_select(0, rows).detach().requires_grad_(true);
    };
    table_rows = TableRows{};
    table_rows.item_ids = leaf(m.item_id_emb->weight, item_rows);
    table_rows.item_bias = leaf(m.item_bias->weight, item_rows);
    if (m.user_emb) {
      table_rows.users = leaf(m.user_emb->weight, user_rows);
      table_rows.user_buckets = user_buckets;
    }
  }

  // The gradients of this step's table rows.
  std::vector<torch::Tensor> TableRowGrads() {
    std::vector<torch::Tensor> out;
    for (const torch::Tensor* t : {&table_rows.item_ids, &table_rows.item_bias, &table_rows.users}) {
      if (t->defined() && t->grad().defined()) out.push_back(t->grad());
    }
    return out;
  }

  void ResetOptimizer() {
    std::vector<torch::Tensor> dense;
    for (auto& p : weights->model->named_parameters()) {
      if (!IsTable(p.key())) dense.push_back(p.value());
    }
    optimizer = std::make_unique<torch::optim::Adam>(dense, torch::optim::AdamOptions(learning_rate.load()));
    item_id_adam.Reset();
    item_bias_adam.Reset();
  }

  // Zeroes every gradient: the dense ones (the table rows' copies are made
  // afresh each step).
  void ZeroGrad() {
    torch::NoGradGuard no_grad;
    optimizer->zero_grad();
    table_rows = TableRows{};
  }

  // Clips the global gradient norm (dense parameters plus the touched rows
  // of the tables) to grad_clip_norm; returns the norm before clipping.
  double ClipGradients() {
    torch::NoGradGuard no_grad;
    double sq = 0;
    for (auto& group : optimizer->param_groups()) {
      for (auto& p : group.params()) {
        if (p.grad().defined()) sq += p.grad().pow(2).sum().item<double>();
      }
    }
    for (const torch::Tensor& g : TableRowGrads()) sq += g.pow(2).sum().item<double>();
    const double norm = std::sqrt(sq);
    if (std::isfinite(norm) && norm > options.grad_clip_norm) {
      const double scale = options.grad_clip_norm / (norm + 1e-6);
      for (auto& group : optimizer->param_groups()) {
        for (auto& p : group.params()) {
          if (p.grad().defined()) p.mutable_grad().mul_(scale);
        }
      }
      for (torch::Tensor g : TableRowGrads()) g.mul_(scale);
    }
    return norm;
  }

  // `examples`: how many examples the loss averaged over.
  void TableSteps(int64_t examples) {
    const double lr = learning_rate.load() * options.sparse_learning_rate_multiplier;
    model::RecommenderModelImpl& m = *weights->model;
    item_id_adam.Step(m.item_id_emb->weight, item_rows, table_rows.item_ids.grad(), lr);
    item_bias_adam.Step(m.item_bias->weight, item_rows, table_rows.item_bias.grad(), lr);
    if (m.user_emb && table_rows.users.defined()) {
      // Per-example SGD: each of a user's examples moves the user's row by
      // user_learning_rate times its own gradient (the loss is a mean, so the
      // gradient is scaled back up by the number of examples).
      torch::NoGradGuard no_grad;
      const torch::Tensor& g = table_rows.users.grad();
      if (g.defined() && user_rows.numel() > 0) {
        m.user_emb->weight.index_add_(0, user_rows, g, -options.user_learning_rate * static_cast<double>(examples));
      }
    }
  }

  // Refreshes item_text (and item_counts) when the catalog changed.
  std::shared_ptr<const model::CatalogSnapshot> RefreshItemText() {
    auto snap = catalog->Snapshot();
    if (snap->version() != text_catalog_version) {
      const int64_t n = snap->size();
      const int64_t dim = snap->text_dim();
      torch::Tensor t = torch::empty({n, dim}, torch::kFloat32);
      float* p = t.data_ptr<float>();
      for (int64_t i = 0; i < n; ++i) {
        const auto& e = snap->item(i).text_embedding;
        std::copy(e.begin(), e.end(), p + i * dim);
      }
      item_text = t.to(weights->device);
      text_catalog_version = snap->version();
      while (static_cast<int64_t>(item_counts.size()) < n) {
        item_counts.push_back(1.0);
        item_count_total += 1.0;
      }
    }
    return snap;
  }

  // π(a|s) of `examples` under `m` (no gradient), in chunks.
  std::vector<double> Probabilities(model::RecommenderModelImpl& m,
                                    const std::vector<const Experience*>& examples,
                                    const model::TextEmbedder& text,
                                    const model::PolicyParams& params) {
    torch::NoGradGuard no_grad;
    std::vector<double> out;
    constexpr size_t kChunk = 256;
    for (size_t begin = 0; begin < examples.size(); begin += kChunk) {
      std::vector<const Experience*> chunk(
          examples.begin() + begin, examples.begin() + std::min(examples.size(), begin + kChunk));
      auto f = ForwardPolicy(m, chunk, item_text, text, params, users);
      for (double lp : ToVector(f.log_pi)) out.push_back(std::exp(lp));
    }
    return out;
  }

  void RollBack(const model::ModelSnapshot& serving) {
    torch::NoGradGuard no_grad;
    auto src = serving.weights->model->named_parameters();
    for (auto& p : weights->model->named_parameters()) p.value().copy_(src[p.key()]);
    auto src_buffers = serving.weights->model->named_buffers();
    for (auto& b : weights->model->named_buffers()) b.value().copy_(src_buffers[b.key()]);
    ResetOptimizer();
  }

  void CountRejection(const std::string& reason) {
    rtrec::MutexLock lock(&stats_mu);
    ++stats.rejected_publishes;
    stats.last_rejection = reason;
  }

  // A snapshot that failed its checks: counted, and the learner goes back to
  // the serving weights.
  void Reject(const model::ModelSnapshot& serving, const PublishDecision& d) {
    store->RecordRejected();
    RollBack(serving);
    CountRejection(d.reason);
    rejection_log.Log(logging::Level::kWarning, "learner",
                      absl::StrCat("snapshot v", d.version, " rejected by the publish check, serving v",
                                   serving.version, " stays and the learner goes back to it: ", d.reason),
                      absl::Now());
  }
  logging::RateLimitedLog rejection_log{absl::Seconds(10)};
};

Learner::Learner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Learner::~Learner() { Stop(); }

absl::StatusOr<std::unique_ptr<Learner>> Learner::Create(
    const config::LearnerOptions& options, model::ModelStore* store, model::Catalog* catalog,
    model::PolicyControl* policy, ModelPublisher* publisher, Clock* clock) {
  if (store == nullptr || catalog == nullptr || policy == nullptr || clock == nullptr) {
    return absl::InvalidArgumentError("Learner needs a model store, a catalog, a policy and a clock");
  }
  auto serving = store->Current();
  if (!serving) return absl::FailedPreconditionError("Learner: no model is serving yet");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->store = store;
  impl->catalog = catalog;
  impl->policy = policy;
  impl->publisher = publisher;
  impl->clock = clock;
  impl->rng.seed(static_cast<uint64_t>(options.seed));
  impl->learning_rate.store(options.learning_rate);
  try {
    torch::manual_seed(static_cast<uint64_t>(options.seed));
    impl->weights = model::CloneSnapshot(*serving, serving->version)->weights;
    impl->weights->model->train();
    impl->ResetOptimizer();
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("learner: cannot copy the model: ", e.what_without_backtrace()));
  }
  impl->last_publish = clock->Now();
  {
    rtrec::MutexLock lock(&impl->stats_mu);
    impl->stats.learning_rate = options.learning_rate;
    impl->stats.last_published_version = serving->version;
  }
  return std::unique_ptr<Learner>(new Learner(std::move(impl)));
}

absl::StatusOr<StepResult> Learner::Train(const std::vector<Experience>& batch) {
  Impl& s = *impl_;
  StepResult result;
  auto serving = s.store->Current();
  auto catalog = s.RefreshItemText();
  const int64_t n = catalog->size();
  std::vector<const Experience*> used;
  std::vector<int64_t> logged_rows, next_rows;
  for (const auto& e : batch) s.consumed_through = std::max(s.consumed_through, e.seq);
  for (const auto& e : batch) {
    if (e.item_index < 0 || e.item_index >= n) continue;
    const bool logged = IsLogged(e);
    const bool positive = e.reward > 0;
    if (!logged && !positive) continue;
    const int64_t row = static_cast<int64_t>(used.size());
    used.push_back(&e);
    if (logged) logged_rows.push_back(row);
    // Joined positives are taught by the reward model; the next-item loss
    // is for organic events, which carry no propensity.
    if (positive && !logged && s.options.next_item_loss_weight > 0) next_rows.push_back(row);
  }
  {
    rtrec::MutexLock lock(&s.stats_mu);
    s.stats.examples += static_cast<int64_t>(batch.size());
  }
  if (logged_rows.empty() && next_rows.empty()) return result;
  // Rows from here on are replayed examples: learned from again, not counted.
  const int64_t fresh_logged = static_cast<int64_t>(logged_rows.size());
  const int64_t fresh_next = static_cast<int64_t>(next_rows.size());
  const int64_t fresh_used = static_cast<int64_t>(used.size());
  if (s.options.replay_ratio > 0 && !s.replay.empty()) {
    const int64_t extra = static_cast<int64_t>(std::lround(s.options.replay_ratio * fresh_used));
    std::uniform_int_distribution<size_t> pick(0, s.replay.size() - 1);
    for (int64_t i = 0; i < extra; ++i) {
      const Experience& e = s.replay[pick(s.rng)];
      if (e.item_index >= n) continue;
      const int64_t row = static_cast<int64_t>(used.size());
      used.push_back(&e);
      if (IsLogged(e)) logged_rows.push_back(row);
      if (e.reward > 0 && !IsLogged(e) && s.options.next_item_loss_weight > 0) next_rows.push_back(row);
    }
  }
  result.policy_examples = static_cast<int64_t>(logged_rows.size());
  result.next_item_examples = static_cast<int64_t>(next_rows.size());
  const model::PolicyParams params = s.policy->Get();
  const torch::Device device = s.weights->device;
  double iw_mean = 0, iw_ess = 0;
  double loss_value = 0;
  try {
    model::RecommenderModelImpl& m = *s.weights->model;
    // Train mode only where it changes the computation: LibTorch's dropout
    // draws a Bernoulli mask even at p = 0 (a twentieth of a replay's step
    // time went to the generator), and no other layer behaves differently.
    if (m.options().dropout > 0) {
      m.train();
    } else {
      m.eval();
    }
    for (auto& group : s.optimizer->param_groups()) {
      static_cast<torch::optim::AdamOptions&>(group.options()).lr(s.learning_rate.load());
    }
    // The table rows this step touches.
    s.item_rows = torch::arange(n, torch::TensorOptions(torch::kInt64).device(device));
    std::vector<int64_t> users;
    if (m.user_emb) {
      for (const Experience* e : used) users.push_back(model::UserBucket(e->user_id, m.options().user_buckets));
      std::sort(users.begin(), users.end());
      users.erase(std::unique(users.begin(), users.end()), users.end());
      s.user_rows = torch::tensor(users, torch::kInt64).to(device);
    }
    s.CopyTableRows(users);
    PolicyForward f = ForwardPolicy(m, used, s.item_text, *serving->text, params, s.users, &s.table_rows);
    torch::Tensor loss = torch::zeros({}, f.log_pi.options());
    if (!logged_rows.empty()) {
      const int64_t p = static_cast<int64_t>(logged_rows.size());
      std::vector<float> log_beta(p), reward(p), slate(p);
      std::vector<int64_t> positions(p);
      for (int64_t i = 0; i < p; ++i) {
        const Experience& e = *used[logged_rows[i]];
        log_beta[i] = static_cast<float>(std::log(e.selection_probability));
        reward[i] = static_cast<float>(e.reward);
        slate[i] = static_cast<float>(std::max<int64_t>(1, e.slate_size));
        positions[i] = e.slate_position;
      }
      if (!s.baseline_set) {
        s.baseline = reward[0];
        s.baseline_set = true;
      }
      auto rows = torch::tensor(logged_rows, torch::kInt64).to(device);
      torch::Tensor r = torch::tensor(reward).to(device);
      // Reward model: P(reward > 0) at the shown position, fitted to every
      // logged example (rewards clipped to [0, 1]).
      torch::Tensor reward_logit = m.RewardLogits(
          f.item_scores.index_select(0, rows), torch::tensor(positions, torch::kInt64).to(device));
      const bool reward_model = s.options.reward_loss_weight > 0;
      if (reward_model) {
        loss = loss + s.options.reward_loss_weight *
                          torch::binary_cross_entropy_with_logits(reward_logit, r.clamp(0.0, 1.0));
      }
      // Policy: off-policy top-K REINFORCE with capped weights, with the
      // reward model's r̂(a) as the control variate: the advantage is r − r̂(a)
      // (no gradient through r̂). (A direct term Σ_i π(i)·r̂(i) made it doubly
      // robust but only sharpened π without bound: measured worse.)
      torch::Tensor log_pi = f.log_pi.index_select(0, rows);
      torch::Tensor pi = log_pi.detach().exp();
      // π/β from logarithms: both may be below float's smallest number.
      torch::Tensor ratio = torch::exp(log_pi.detach() - torch::tensor(log_beta).to(device));
      torch::Tensor w = ratio.clamp_max(s.options.importance_weight_cap);
      torch::Tensor k = torch::tensor(slate).to(device);
      torch::Tensor lambda = k * torch::pow(1.0 - pi, k - 1.0);
      if (s.options.policy_loss_weight > 0) {
        torch::Tensor baseline = reward_model ? torch::sigmoid(reward_logit.detach())
                                              : torch::full_like(r, s.baseline);
        torch::Tensor policy = -(w * lambda * (r - baseline) * log_pi).mean();
        loss = loss + s.options.policy_loss_weight * policy;
      }
      const double sum_w = ratio.sum().item<double>();
      const double sum_w2 = (ratio * ratio).sum().item<double>();
      iw_mean = sum_w / p;
      iw_ess = sum_w2 > 0 ? sum_w * sum_w / (p * sum_w2) : 0.0;
    }
    if (!next_rows.empty()) {
      // Sampled softmax with log-Q correction; Q ∝ positive events per item.
      const int64_t q = static_cast<int64_t>(next_rows.size());
      const int64_t negatives = s.options.next_item_negatives;
      std::discrete_distribution<int64_t> proposal(s.item_counts.begin(),
                                                   s.item_counts.begin() + n);
      std::vector<int64_t> neg(static_cast<size_t>(q * negatives));
      for (auto& j : neg) j = proposal(s.rng);
      std::vector<int64_t> pos(q);
      for (int64_t i = 0; i < q; ++i) pos[i] = used[next_rows[i]]->item_index;
      std::vector<float> log_q(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) log_q[i] = static_cast<float>(std::log(s.item_counts[i] / s.item_count_total));
      torch::Tensor log_q_t = torch::tensor(log_q).to(device);
      torch::Tensor pos_t = torch::tensor(pos, torch::kInt64).to(device);
      torch::Tensor neg_t = torch::tensor(neg, torch::kInt64).to(device).view({q, negatives});
      torch::Tensor u = f.users.index_select(
          0, f.row_of.index_select(0, torch::tensor(next_rows, torch::kInt64).to(device)));
      torch::Tensor pos_logit = (u * f.items.index_select(0, pos_t)).sum(1) - log_q_t.index_select(0, pos_t);
      torch::Tensor neg_emb = f.items.index_select(0, neg_t.view({-1})).view({q, negatives, -1});
      torch::Tensor neg_logit = torch::bmm(neg_emb, u.unsqueeze(2)).squeeze(2) -
                                log_q_t.index_select(0, neg_t.view({-1})).view({q, negatives});
      // A sampled negative that is the positive itself is not a negative.
      neg_logit = neg_logit.masked_fill(neg_t == pos_t.unsqueeze(1),
                                        -std::numeric_limits<float>::infinity());
      torch::Tensor logits = torch::cat({pos_logit.unsqueeze(1), neg_logit}, 1);
      torch::Tensor next_loss = -torch::log_softmax(logits, 1).select(1, 0).mean();
      loss = loss + s.options.next_item_loss_weight * next_loss;
    }
    loss_value = loss.item<double>();
    loss.backward();
    if (s.after_backward) s.after_backward(*s.weights);
    const double norm = s.ClipGradients();
    if (!std::isfinite(loss_value) || !std::isfinite(norm)) {
      s.ZeroGrad();
      rtrec::MutexLock lock(&s.stats_mu);
      ++s.stats.skipped_steps;
      return result;
    }
    s.optimizer->step();
    s.TableSteps(static_cast<int64_t>(std::max(logged_rows.size(), next_rows.size())));
    s.ZeroGrad();
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("learner step failed: ", e.what_without_backtrace()));
  }
  // Bookkeeping after a good step, of the fresh examples only.
  for (int64_t i = 0; i < fresh_logged; ++i) {
    const Experience& e = *used[logged_rows[i]];
    s.baseline = s.options.baseline_decay * s.baseline + (1 - s.options.baseline_decay) * e.reward;
    s.window.push_back(Impl::GuardExample{e});
    while (static_cast<int64_t>(s.window.size()) > s.options.guard_window) s.window.pop_front();
  }
  for (int64_t i = 0; i < fresh_next; ++i) {
    s.item_counts[used[next_rows[i]]->item_index] += 1.0;
    s.item_count_total += 1.0;
  }
  if (s.options.replay_ratio > 0) {
    for (int64_t row = 0; row < fresh_used; ++row) s.replay.push_back(*used[row]);
    while (static_cast<int64_t>(s.replay.size()) > s.options.replay_capacity) s.replay.pop_front();
  }
  ++s.steps_since_publish;
  s.last_step_end = std::chrono::steady_clock::now();
  result.stepped = true;
  result.loss = loss_value;
  rtrec::MutexLock lock(&s.stats_mu);
  ++s.stats.steps;
  s.stats.last_loss = loss_value;
  s.stats.mean_reward = s.baseline;
  if (!logged_rows.empty()) {
    s.stats.importance_weight_mean = iw_mean;
    s.stats.importance_weight_ess = iw_ess;
  }
  return result;
}

StepPacer::StepPacer(double max_per_second)
    : interval_(max_per_second > 0 ? absl::Seconds(1.0 / max_per_second) : absl::ZeroDuration()) {}

absl::Duration StepPacer::Delay(absl::Time now) const {
  if (interval_ <= absl::ZeroDuration() || last_ == absl::InfinitePast()) return absl::ZeroDuration();
  return std::max(absl::ZeroDuration(), last_ + interval_ - now);
}

void StepPacer::Started(absl::Time at) { last_ = at; }

void ApplyLearnerCpuBudget(const config::LearnerOptions& options) {
  if (options.intra_op_threads > 0) at::set_num_threads(static_cast<int>(options.intra_op_threads));
  if (options.nice > 0) {
    // Linux: a thread's own niceness (PRIO_PROCESS of its thread id); the
    // threads it starts later inherit it.
    const pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
    if (setpriority(PRIO_PROCESS, static_cast<id_t>(tid), static_cast<int>(options.nice)) != 0) {
      logging::Warning("learner", absl::StrCat("cannot set learner.nice = ", options.nice, ": ",
                                               std::strerror(errno)));
    }
  }
}

PublishDecision Learner::MaybePublish() {
  Impl& s = *impl_;
  const bool by_steps = s.steps_since_publish >= s.options.publish_every;
  const bool by_time = s.options.publish_interval_ms > 0 && s.steps_since_publish > 0 &&
                       s.clock->Now() - s.last_publish >= absl::Milliseconds(s.options.publish_interval_ms);
  if (!by_steps && !by_time) return PublishDecision{};
  return PublishNow();
}

PublishDecision Learner::PublishPending() {
  if (impl_->steps_since_publish == 0) return PublishDecision{};
  return PublishNow();
}

PublishDecision Learner::PublishNow() {
  Impl& s = *impl_;
  PublishDecision d;
  d.attempted = true;
  s.steps_since_publish = 0;
  s.last_publish = s.clock->Now();
  // Published or refused (and rolled back), what was consumed is decided.
  s.published_through = s.consumed_through;
  {
    rtrec::MutexLock lock(&s.stats_mu);
    s.steps_published = s.stats.steps;
    s.examples_published = s.stats.examples;
  }
  auto serving = s.store->Current();
  d.version = serving->version + 1;
  std::shared_ptr<model::ModelSnapshot> candidate;
  // The checked examples with the candidate's π: their serving π once it
  // is published.
  std::vector<std::pair<Impl::GuardExample*, double>> checked_after_publish;
  try {
    model::ModelSnapshot mine;
    mine.version = serving->version;
    mine.device = serving->device;
    mine.weights = s.weights;
    mine.text = serving->text;
    candidate = model::CloneSnapshot(mine, d.version);
    candidate->learned_at = s.last_step_end;
    torch::NoGradGuard no_grad;
    for (const auto& p : candidate->weights->model->named_parameters()) {
      if (!torch::isfinite(p.value()).all().item<bool>()) {
        d.reason = absl::StrCat("parameter ", p.key(), " is not finite");
        break;
      }
    }
    if (d.reason.empty() && static_cast<int64_t>(s.window.size()) >= s.options.guard_min_examples &&
        !s.window.empty()) {
      s.RefreshItemText();
      std::vector<Impl::GuardExample*> checked;
      for (auto& g : s.window) {
        if (g.example.item_index < s.item_text.size(0)) checked.push_back(&g);
      }
      std::vector<const Experience*> examples, stale;
      std::vector<double> beta, reward;
      for (const auto* g : checked) {
        examples.push_back(&g->example);
        beta.push_back(g->example.selection_probability);
        reward.push_back(g->example.reward);
        if (g->serving_pi_version != serving->version) stale.push_back(&g->example);
      }
      const model::PolicyParams params = s.policy->Get();
      const std::vector<double> pi_candidate =
          s.Probabilities(*candidate->weights->model, examples, *serving->text, params);
      const std::vector<double> pi_stale =
          s.Probabilities(*serving->weights->model, stale, *serving->text, params);
      std::vector<double> pi_serving;
      pi_serving.reserve(checked.size());
      for (size_t i = 0, j = 0; i < checked.size(); ++i) {
        Impl::GuardExample* g = checked[i];
        if (g->serving_pi_version != serving->version) {
          g->serving_pi = pi_stale[j++];
          g->serving_pi_version = serving->version;
        }
        pi_serving.push_back(g->serving_pi);
      }
      d.checked_examples = static_cast<int64_t>(checked.size());
      d.serving_recomputed = static_cast<int64_t>(stale.size());
      checked_after_publish.clear();
      for (size_t i = 0; i < checked.size(); ++i) checked_after_publish.emplace_back(checked[i], pi_candidate[i]);
      const double cap = s.options.importance_weight_cap;
      d.candidate_estimate = SelfNormalizedIps(pi_candidate, beta, reward, cap);
      d.serving_estimate = SelfNormalizedIps(pi_serving, beta, reward, cap);
      d.difference_stderr = PairedSnipsStderr(pi_candidate, pi_serving, beta, reward, cap);
      d.estimated = true;
      const double allowed = s.options.guard_margin + s.options.guard_z * d.difference_stderr;
      if (d.candidate_estimate < d.serving_estimate - allowed) {
        d.reason = absl::StrFormat(
            "self-normalised IPS estimate %.4f is below the serving snapshot's %.4f by more than "
            "learner.guard_margin = %g plus learner.guard_z = %g standard errors (%.4f each)",
            d.candidate_estimate, d.serving_estimate, s.options.guard_margin, s.options.guard_z,
            d.difference_stderr);
      }
    }
  } catch (const c10::Error& e) {
    d.reason = absl::StrCat("checking the snapshot failed: ", e.what_without_backtrace());
  }
  if (!d.reason.empty()) {
    s.Reject(*serving, d);
    return d;
  }
  // Counted before the swap makes it visible, so that whoever sees the swap
  // (ModelStore::swaps()) also sees the publish; taken back if it fails.
  {
    rtrec::MutexLock lock(&s.stats_mu);
    ++s.stats.publishes;
  }
  absl::Status published = s.publisher ? s.publisher->Publish(candidate)
                                       : (s.store->Publish(candidate), absl::OkStatus());
  rtrec::MutexLock lock(&s.stats_mu);
  if (!published.ok()) {
    --s.stats.publishes;
    d.reason = std::string(published.message());
    ++s.stats.rejected_publishes;
    s.stats.last_rejection = d.reason;
    return d;
  }
  d.published = true;
  s.stats.last_published_version = d.version;
  for (auto& [g, pi] : checked_after_publish) {
    g->serving_pi = pi;
    g->serving_pi_version = d.version;
  }
  return d;
}

void Learner::Start(ExperienceBuffer* buffer,
                    std::function<void(const std::vector<Experience>&)> after_batch) {
  Impl& s = *impl_;
  s.buffer = buffer;
  s.thread = std::thread([this, after_batch = std::move(after_batch)] {
    Impl& s = *impl_;
    ApplyLearnerCpuBudget(s.options);
    StepPacer pacer(s.options.max_steps_per_second);
    while (!s.stop.HasBeenNotified()) {
      // The steps-per-second cap, in real time: it budgets this process's
      // CPU, whatever clock the learner's bookkeeping runs on.
      const absl::Duration wait = pacer.Delay(absl::Now());
      if (wait > absl::ZeroDuration() && s.stop.WaitForNotificationWithTimeout(wait)) break;
      pacer.Started(absl::Now());
      auto batch = s.buffer->WaitAndPopBatch(s.options.batch_size, absl::Milliseconds(100),
                                             absl::Milliseconds(s.options.max_batch_wait_ms));
      std::function<absl::Status()> replace;
      {
        rtrec::MutexLock lock(&s.replace_mu);
        replace = std::move(s.replace);
        s.replace = nullptr;
      }
      if (replace) {
        absl::Status st = s.RunReplace(replace);
        if (st.ok() && s.checkpoint_hook) {
          s.last_checkpoint = s.clock->Now();
          auto record = MakeCheckpoint();
          if (record.ok()) s.checkpoint_hook(std::move(*record));
        }
        rtrec::MutexLock lock(&s.replace_mu);
        s.replace_status = st;
        s.replace_done = true;
      }
      if (!batch.empty()) {
        auto step = Train(batch);
        if (!step.ok()) logging::Error("learner", step.status().ToString());
        if (after_batch) after_batch(batch);
      }
      const PublishDecision d = MaybePublish();
      if (d.published && s.checkpoint_hook &&
          s.clock->Now() - s.last_checkpoint >= s.checkpoint_interval) {
        s.last_checkpoint = s.clock->Now();
        auto record = MakeCheckpoint();
        if (record.ok()) {
          s.checkpoint_hook(std::move(*record));
        } else {
          logging::Error("learner", record.status().ToString());
        }
      }
    }
  });
}

void Learner::SetCheckpointHook(absl::Duration interval,
                                std::function<void(storage::v1::CheckpointRecord)> hook) {
  impl_->checkpoint_interval = interval;
  impl_->checkpoint_hook = std::move(hook);
  impl_->last_checkpoint = impl_->clock->Now();
}

namespace {

constexpr const char* kRowAdamNames[] = {"item_id_adam", "item_bias_adam"};

}  // namespace

absl::StatusOr<storage::v1::CheckpointRecord> Learner::MakeCheckpoint() {
  Impl& s = *impl_;
  storage::v1::CheckpointRecord record;
  auto serving = s.store->Current();
  try {
    record.set_weights(SerializeWeights(*serving->weights));
    torch::serialize::OutputArchive archive;
    s.optimizer->save(archive);
    RowAdam* rows[] = {&s.item_id_adam, &s.item_bias_adam};
    for (int i = 0; i < 2; ++i) {
      if (!rows[i]->m.defined()) continue;
      archive.write(absl::StrCat(kRowAdamNames[i], ".m"), rows[i]->m, true);
      archive.write(absl::StrCat(kRowAdamNames[i], ".v"), rows[i]->v, true);
      archive.write(absl::StrCat(kRowAdamNames[i], ".steps"), rows[i]->steps, true);
    }
    std::ostringstream out;
    archive.save_to(out);
    record.set_optimizer(out.str());
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("checkpoint: cannot serialise: ", e.what_without_backtrace()));
  }
  record.set_model_version(serving->version);
  record.set_learned_through(static_cast<int64_t>(s.published_through));
  record.set_created_unix_ms(absl::ToUnixMillis(absl::Now()));
  record.set_baseline(s.baseline);
  record.set_baseline_set(s.baseline_set);
  record.set_learning_rate(s.learning_rate.load());
  record.set_epsilon(s.policy->Get().epsilon);
  record.mutable_item_counts()->Add(s.item_counts.begin(), s.item_counts.end());
  record.set_learner_steps(s.steps_published);
  record.set_learner_examples(s.examples_published);
  return record;
}

absl::Status Learner::RestoreFrom(const storage::v1::CheckpointRecord& record) {
  Impl& s = *impl_;
  s.RollBack(*s.store->Current());  // the serving weights; a fresh optimizer
  if (!record.optimizer().empty()) {
    try {
      torch::serialize::InputArchive archive;
      archive.load_from(record.optimizer().data(), record.optimizer().size(), s.weights->device);
      s.optimizer->load(archive);
      RowAdam* rows[] = {&s.item_id_adam, &s.item_bias_adam};
      for (int i = 0; i < 2; ++i) {
        RowAdam r;
        if (archive.try_read(absl::StrCat(kRowAdamNames[i], ".m"), r.m, true) &&
            archive.try_read(absl::StrCat(kRowAdamNames[i], ".v"), r.v, true) &&
            archive.try_read(absl::StrCat(kRowAdamNames[i], ".steps"), r.steps, true)) {
          *rows[i] = std::move(r);
        }
      }
    } catch (const c10::Error& e) {
      logging::Warning("learner", absl::StrCat("the checkpoint's optimizer state is not used (",
                                               e.what_without_backtrace(), "); it restarts"));
      s.ResetOptimizer();
    }
  }
  s.baseline = record.baseline();
  s.baseline_set = record.baseline_set();
  if (record.learning_rate() > 0) SetLearningRate(record.learning_rate());
  model::PolicyParams p = s.policy->Get();
  p.epsilon = record.epsilon();
  s.policy->Set(p);
  s.item_counts.assign(record.item_counts().begin(), record.item_counts().end());
  s.item_count_total = 0;
  for (double c : s.item_counts) s.item_count_total += c;
  s.text_catalog_version = -1;  // item_text and the counts' length follow the catalog
  s.consumed_through = s.published_through = static_cast<uint64_t>(record.learned_through());
  s.steps_published = record.learner_steps();
  s.examples_published = record.learner_examples();
  rtrec::MutexLock lock(&s.stats_mu);
  s.stats.steps = record.learner_steps();
  s.stats.examples = record.learner_examples();
  s.stats.last_published_version = record.model_version();
  return absl::OkStatus();
}

absl::Status Learner::ReplaceServing(std::function<absl::Status()> swap) {
  Impl& s = *impl_;
  if (!s.thread.joinable()) {
    absl::Status st = s.RunReplace(swap);
    if (st.ok() && s.checkpoint_hook) {
      auto record = MakeCheckpoint();
      if (record.ok()) s.checkpoint_hook(std::move(*record));
    }
    return st;
  }
  rtrec::MutexLock lock(&s.replace_mu);
  // One at a time: wait for an earlier one to be taken.
  s.replace_mu.Await(absl::Condition(
      +[](Impl* impl) ABSL_NO_THREAD_SAFETY_ANALYSIS { return impl->replace == nullptr; }, &s));
  s.replace = std::move(swap);
  s.replace_done = false;
  s.replace_mu.Await(absl::Condition(
      +[](Impl* impl) ABSL_NO_THREAD_SAFETY_ANALYSIS { return impl->replace_done; }, &s));
  return s.replace_status;
}

void Learner::Stop() {
  Impl& s = *impl_;
  if (!s.thread.joinable()) return;
  s.stop.Notify();
  if (s.buffer) s.buffer->Close();
  s.thread.join();
}

void Learner::UseUserTastes(const state::UserState* users) { impl_->users = users; }

void Learner::SetLearningRate(double learning_rate) {
  impl_->learning_rate.store(learning_rate);
  rtrec::MutexLock lock(&impl_->stats_mu);
  impl_->stats.learning_rate = learning_rate;
}

double Learner::learning_rate() const { return impl_->learning_rate.load(); }

LearnerStats Learner::stats() const {
  rtrec::MutexLock lock(&impl_->stats_mu);
  return impl_->stats;
}

std::vector<double> Learner::ServingPolicyProbabilities(const std::vector<Experience>& batch) {
  Impl& s = *impl_;
  auto serving = s.store->Current();
  s.RefreshItemText();
  std::vector<const Experience*> examples;
  for (const auto& e : batch) examples.push_back(&e);
  return s.Probabilities(*serving->weights->model, examples, *serving->text, s.policy->Get());
}

void Learner::SetAfterBackwardHookForTesting(std::function<void(model::ModelWeights&)> hook) {
  impl_->after_backward = std::move(hook);
}

model::ModelWeights& Learner::TrainableWeightsForTesting() { return *impl_->weights; }

absl::StatusOr<std::unique_ptr<tuner::OnlineTuner>> CreateTunerFor(
    const config::RtrecConfig& config, Learner* learner, model::PolicyControl* policy,
    Clock* clock, absl::Duration warmup) {
  return tuner::OnlineTuner::Create(
      config.tuner, config.learner.learning_rate, config.policy.epsilon,
      [learner, policy](double learning_rate, double exploration) {
        learner->SetLearningRate(learning_rate);
        model::PolicyParams p = policy->Get();
        p.epsilon = exploration;
        policy->Set(p);
      },
      clock, warmup);
}

}  // namespace rtrec::learner
