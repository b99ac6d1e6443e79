#include "eval/offline_runner.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/clock.h"
#include "model/policy_probabilities.h"
#include "learner/learner.h"
#include "model/exploration_policy.h"
#include "model/inference_engine.h"
#include "model/model_store.h"
#include "serving/serving_stack.h"

namespace rtrec::eval {

struct OfflineModel::Impl {
  explicit Impl(const config::RtrecConfig& c) : config(c) {}
  const config::RtrecConfig config;
  FakeClock clock;
  // The engine logs every scored request; nothing here learns from those
  // logs, so their unanswered examples have nowhere to go: the experience
  // buffer holds one and is emptied after every batch.
  std::unique_ptr<serving::ServingStack> stack;
};

OfflineModel::OfflineModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OfflineModel::~OfflineModel() = default;

absl::StatusOr<std::unique_ptr<OfflineModel>> OfflineModel::Create(const config::RtrecConfig& config,
                                                                   std::vector<model::CatalogItem> items) {
  auto impl = std::make_unique<Impl>(config);
  config::RtrecConfig sized = config;  // the catalog holds every item of the data
  sized.catalog.max_items = std::max<int64_t>(config.catalog.max_items, static_cast<int64_t>(items.size()));
  sized.learner.enabled = true;  // what is evaluated is the learner's model
  sized.tuner.enabled = false;
  sized.storage.path.clear();
  serving::ServingStackOptions so;
  so.clock = &impl->clock;
  so.items = std::move(items);
  so.cpu_only = true;
  so.learner_uses_tastes = false;
  so.experience_capacity = 1;
  so.overflow = state::OverflowPolicy::kRefuse;
  so.log = [](const std::string&) {};
  auto stack = serving::ServingStack::Build(sized, std::move(so));
  if (!stack.ok()) return stack.status();
  impl->stack = std::move(*stack);
  return std::unique_ptr<OfflineModel>(new OfflineModel(std::move(impl)));
}

int64_t OfflineModel::num_items() const { return impl_->stack->catalog->Snapshot()->size(); }
int64_t OfflineModel::learner_steps() const { return impl_->stack->learner->stats().steps; }
int64_t OfflineModel::model_version() const { return impl_->stack->models.Current()->version; }

absl::StatusOr<std::vector<model::RecommendResult>> OfflineModel::Run(const std::vector<OfflineRequest>& requests,
                                                                      int64_t k) {
  std::vector<absl::StatusOr<model::RecommendResult>> results(requests.size(), absl::UnknownError("unanswered"));
  model::TaskBatch batch;
  auto catalog = impl_->stack->catalog->Snapshot();
  const int64_t window = impl_->config.users.history_length;
  for (size_t r = 0; r < requests.size(); ++r) {
    auto t = std::make_unique<model::RecommendTask>();
    t->user_id = requests[r].user_id;
    t->query = requests[r].query;
    const auto& c = requests[r].context;
    t->context.assign(c.size() > static_cast<size_t>(window) ? c.end() - window : c.begin(), c.end());
    t->excluded = requests[r].excluded;
    t->k = k;
    t->explore = false;
    t->catalog = catalog;
    t->done = [&results, r](absl::StatusOr<model::RecommendResult> result) { results[r] = std::move(result); };
    batch.push_back(std::move(t));
  }
  impl_->stack->engine->RunBatch(std::move(batch));
  impl_->clock.Advance(absl::Milliseconds(impl_->config.impressions.reward_wait_ms));
  impl_->stack->impressions->ExpireDue();
  impl_->stack->experiences->PopBatch(impl_->stack->experiences->size() + 1);
  std::vector<model::RecommendResult> out;
  for (auto& r : results) {
    if (!r.ok()) return r.status();
    out.push_back(std::move(*r));
  }
  return out;
}

absl::StatusOr<std::vector<std::vector<float>>> OfflineModel::Score(const std::vector<OfflineRequest>& requests) {
  const int64_t n = num_items();
  std::vector<OfflineRequest> all = requests;
  for (auto& r : all) r.excluded.clear();
  auto results = Run(all, n);
  if (!results.ok()) return results.status();
  std::vector<std::vector<float>> scores;
  for (const auto& r : *results) {
    std::vector<float> by_index(n, 0.0f);
    for (const auto& item : r.items) by_index[item.index] = item.score;
    scores.push_back(std::move(by_index));
  }
  return scores;
}

absl::StatusOr<std::vector<std::vector<int64_t>>> OfflineModel::TopK(const std::vector<OfflineRequest>& requests,
                                                                     int64_t k) {
  auto results = Run(requests, k);
  if (!results.ok()) return results.status();
  std::vector<std::vector<int64_t>> out;
  for (const auto& r : *results) {
    std::vector<int64_t> top;
    for (const auto& item : r.items) top.push_back(item.index);
    out.push_back(std::move(top));
  }
  return out;
}

absl::Status OfflineModel::Train(const std::vector<state::Experience>& examples) {
  const size_t batch = static_cast<size_t>(impl_->config.learner.batch_size);
  for (size_t from = 0; from < examples.size(); from += batch) {
    std::vector<state::Experience> b(examples.begin() + from,
                                       examples.begin() + std::min(examples.size(), from + batch));
    auto step = impl_->stack->learner->Train(b);
    if (!step.ok()) return step.status();
    impl_->stack->learner->MaybePublish();
  }
  return absl::OkStatus();
}

absl::Status OfflineModel::Publish() {
  const learner::PublishDecision d = impl_->stack->learner->PublishNow();
  if (d.attempted && !d.published) return absl::FailedPreconditionError(absl::StrCat("publish refused: ", d.reason));
  return absl::OkStatus();
}

// --------------------------------------------------------------- Open Bandit

std::vector<model::CatalogItem> OpenBanditCatalog(const std::vector<BanditItem>& items) {
  static const char* kBands[] = {"budget", "value", "standard", "premium", "luxury"};
  std::vector<double> sorted;
  for (const auto& i : items) sorted.push_back(i.feature0);
  std::sort(sorted.begin(), sorted.end());
  std::vector<model::CatalogItem> out;
  for (const auto& i : items) {
    const int64_t below = std::lower_bound(sorted.begin(), sorted.end(), i.feature0) - sorted.begin();
    const int64_t band = std::min<int64_t>(4, below * 5 / static_cast<int64_t>(sorted.size()));
    model::CatalogItem c;
    c.item_id = absl::StrCat("obd-", i.item_id);
    c.title = absl::StrCat(kBands[band], " item");
    std::string text = absl::StrCat("price ", kBands[band]);
    for (size_t k = 0; k < i.categories.size(); ++k) {
      absl::StrAppend(&text, " category", k + 1, " ", i.categories[k].substr(0, 6));
    }
    c.text = text;
    c.tags = {kBands[band]};
    out.push_back(std::move(c));
  }
  return out;
}

namespace {

OfflineRequest BanditRequest(const BanditLogRow& row) {
  OfflineRequest r;
  std::string user = "obd";
  std::string query;
  for (size_t f = 0; f < row.user_features.size(); ++f) {
    absl::StrAppend(&user, "-", row.user_features[f].substr(0, 8));
    absl::StrAppend(&query, f ? " " : "", "feature", f, " ", row.user_features[f].substr(0, 6));
  }
  r.user_id = user;
  r.query = query;
  // Items the user clicked before, most clicked last (nearest the query).
  std::vector<std::pair<double, int64_t>> clicked;
  for (size_t i = 0; i < row.affinity.size(); ++i) {
    if (row.affinity[i] > 0) clicked.emplace_back(row.affinity[i], static_cast<int64_t>(i));
  }
  std::sort(clicked.begin(), clicked.end());
  for (const auto& [a, i] : clicked) r.context.push_back(i);
  return r;
}

// Per-item click rates from the rows seen so far, shrunk to the running mean.
class ItemRewardModel {
 public:
  ItemRewardModel(int64_t n, double prior) : clicks_(n, 0), shows_(n, 0), prior_(prior) {}
  double Predict(int64_t item) const {
    const double mean = (total_clicks_ + 1) / (total_shows_ + 2);
    return (clicks_[item] + prior_ * mean) / (shows_[item] + prior_);
  }
  void Add(int64_t item, double click) {
    clicks_[item] += click;
    shows_[item] += 1;
    total_clicks_ += click;
    total_shows_ += 1;
  }

 private:
  std::vector<double> clicks_, shows_;
  double total_clicks_ = 0, total_shows_ = 0;
  const double prior_;
};

LoggedDecision Decide(const BanditLogRow& row, const std::vector<double>& target, const ItemRewardModel& q) {
  LoggedDecision d;
  d.reward = row.click;
  d.logging_probability = row.propensity;
  d.target_probability = target[row.item];
  d.reward_model_logged = q.Predict(row.item);
  for (size_t a = 0; a < target.size(); ++a) d.reward_model_expected += target[a] * q.Predict(static_cast<int64_t>(a));
  return d;
}

PolicyEstimate Estimate(const std::string& name, const std::vector<LoggedDecision>& log,
                        const BanditEvalOptions& o) {
  PolicyEstimate e;
  e.policy = name;
  e.ips = Bootstrap(log, Ips, o.bootstrap, o.confidence, o.seed);
  e.snips = Bootstrap(log, Snips, o.bootstrap, o.confidence, o.seed + 1);
  e.dr = Bootstrap(log, DoublyRobust, o.bootstrap, o.confidence, o.seed + 2);
  return e;
}

}  // namespace

absl::StatusOr<BanditEvalReport> EvaluateOpenBandit(const config::RtrecConfig& config,
                                                    const std::vector<BanditItem>& items,
                                                    const std::vector<BanditLogRow>& random_log,
                                                    const std::vector<BanditLogRow>& check_log,
                                                    const BanditEvalOptions& options) {
  if (random_log.empty()) return absl::InvalidArgumentError("random log: no rows");
  if (options.chunk < 1) return absl::InvalidArgumentError("chunk: must be at least 1");
  const int64_t n = static_cast<int64_t>(items.size());
  for (const auto* log : {&random_log, &check_log}) {
    for (const auto& row : *log) {
      if (row.item >= n || static_cast<int64_t>(row.affinity.size()) != n) {
        return absl::InvalidArgumentError(absl::StrCat("log row at ", row.timestamp, ": item ", row.item,
                                                       " or its affinity columns do not match the ", n,
                                                       " items of item_context"));
      }
    }
  }
  auto model = OfflineModel::Create(config, OpenBanditCatalog(items));
  if (!model.ok()) return model.status();
  const model::PolicyParams params{config.policy.temperature, config.policy.epsilon};

  // Bernoulli-TS's empirical item distribution per position (the check's target).
  std::map<int64_t, std::vector<double>> check_target;
  for (const auto& row : check_log) {
    auto& v = check_target[row.position];
    v.resize(n, 0.0);
    v[row.item] += 1;
  }
  for (auto& [pos, v] : check_target) {
    const double total = std::accumulate(v.begin(), v.end(), 0.0);
    for (auto& x : v) x /= total;
  }

  BanditEvalReport report;
  std::vector<LoggedDecision> served, greedy, logging, check;
  ItemRewardModel q(n, options.reward_model_prior);
  const std::vector<double> uniform(n, 1.0 / static_cast<double>(n));
  for (size_t from = 0; from < random_log.size(); from += static_cast<size_t>(options.chunk)) {
    const size_t to = std::min(random_log.size(), from + static_cast<size_t>(options.chunk));
    std::vector<OfflineRequest> requests;
    for (size_t i = from; i < to; ++i) requests.push_back(BanditRequest(random_log[i]));
    auto scores = (*model)->Score(requests);
    if (!scores.ok()) return scores.status();
    std::vector<state::Experience> examples;
    for (size_t i = from; i < to; ++i) {
      const BanditLogRow& row = random_log[i];
      const std::vector<float>& s = (*scores)[i - from];
      const std::vector<double> pi = model::PolicyProbabilities(s, params);
      std::vector<double> top(n, 0.0);
      top[std::max_element(s.begin(), s.end()) - s.begin()] = 1.0;
      served.push_back(Decide(row, pi, q));
      greedy.push_back(Decide(row, top, q));
      logging.push_back(Decide(row, uniform, q));
      if (auto it = check_target.find(row.position); it != check_target.end()) {
        check.push_back(Decide(row, it->second, q));
      }
      state::Experience e;
      e.source = row.click > 0 ? state::Experience::Source::kJoined : state::Experience::Source::kExpired;
      e.request_id = absl::StrCat("obd-", i);
      e.user_id = requests[i - from].user_id;
      e.context = requests[i - from].context;
      e.query = requests[i - from].query;
      e.item_index = row.item;
      e.reward = row.click;
      e.propensity = row.propensity;
      e.selection_probability = row.propensity;
      e.slate_size = 1;
      e.model_version = (*model)->model_version();
      examples.push_back(std::move(e));
    }
    for (size_t i = from; i < to; ++i) q.Add(random_log[i].item, random_log[i].click);
    if (options.learn) {
      if (auto s = (*model)->Train(examples); !s.ok()) return s;
    }
  }
  report.rows = static_cast<int64_t>(random_log.size());
  for (const auto& row : random_log) report.clicks += row.click > 0 ? 1 : 0;
  report.logging_click_rate = static_cast<double>(report.clicks) / static_cast<double>(report.rows);
  report.estimates.push_back(Estimate(
      absl::StrFormat("rtrec as served (temperature %g, epsilon %g)", params.temperature, params.epsilon), served,
      options));
  report.estimates.push_back(Estimate("rtrec greedy (top item)", greedy, options));
  report.estimates.push_back(Estimate("uniform random (the logging policy)", logging, options));
  if (!check_log.empty()) {
    report.has_check = true;
    report.check_rows = static_cast<int64_t>(check_log.size());
    double clicks = 0;
    for (const auto& row : check_log) clicks += row.click;
    report.check_on_policy = clicks / static_cast<double>(check_log.size());
    report.check = Estimate("Bernoulli-TS (item frequencies of its log)", check, options);
  }
  report.learner_steps = (*model)->learner_steps();
  report.model_version = (*model)->model_version();
  return report;
}

// ------------------------------------------------------------------ MovieLens

absl::StatusOr<MovieLensEvalReport> EvaluateMovieLens(const config::RtrecConfig& config, const MovieLensData& data,
                                                      const MovieLensEvalOptions& options) {
  const std::vector<UserSplit> splits = LeaveOneOut(data.interactions, options.min_interactions);
  if (splits.empty()) return absl::InvalidArgumentError("ratings: no user has enough interactions");
  auto model = OfflineModel::Create(config, data.items);
  if (!model.ok()) return model.status();
  MovieLensEvalReport report;
  report.users = static_cast<int64_t>(splits.size());
  report.items = static_cast<int64_t>(data.items.size());

  const std::vector<std::pair<size_t, size_t>> events = TrainingEventsInTimeOrder(splits);
  report.train_interactions = static_cast<int64_t>(events.size());
  const int64_t window = config.users.history_length;
  for (int64_t epoch = 0; epoch < options.epochs; ++epoch) {
    std::vector<state::Experience> examples;
    for (const auto& [u, pos] : events) {
      const UserSplit& s = splits[u];
      state::Experience e;
      e.source = state::Experience::Source::kOrganic;
      e.user_id = data.users[s.user];
      const size_t begin = pos > static_cast<size_t>(window) ? pos - window : 0;
      e.context.assign(s.train.begin() + begin, s.train.begin() + pos);
      e.item_index = s.train[pos];
      e.reward = 1;
      examples.push_back(std::move(e));
    }
    if (auto st = (*model)->Train(examples); !st.ok()) return st;
  }
  if (auto st = (*model)->Publish(); !st.ok()) return st;
  report.learner_steps = (*model)->learner_steps();

  const std::vector<int64_t> counts = PopularityCounts(splits, report.items);
  std::vector<int64_t> model_ranks, popularity_ranks;
  constexpr size_t kBatch = 64;
  for (size_t from = 0; from < splits.size(); from += kBatch) {
    std::vector<OfflineRequest> requests;
    for (size_t i = from; i < std::min(splits.size(), from + kBatch); ++i) {
      OfflineRequest r;
      r.user_id = data.users[splits[i].user];
      r.context = splits[i].train;
      r.excluded = splits[i].train;
      std::sort(r.excluded.begin(), r.excluded.end());
      r.excluded.erase(std::unique(r.excluded.begin(), r.excluded.end()), r.excluded.end());
      requests.push_back(std::move(r));
    }
    auto top = (*model)->TopK(requests, options.k);
    if (!top.ok()) return top.status();
    for (size_t i = from; i < std::min(splits.size(), from + kBatch); ++i) {
      model_ranks.push_back(RankIn((*top)[i - from], splits[i].test_item));
      popularity_ranks.push_back(
          RankIn(PopularityTopK(counts, splits[i].train, options.k), splits[i].test_item));
    }
  }
  report.model = Summarize(model_ranks, options.k);
  report.popularity = Summarize(popularity_ranks, options.k);
  return report;
}

}  // namespace rtrec::eval
