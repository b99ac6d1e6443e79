#include "sim/stream_world.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace rtrec::sim {

absl::StatusOr<StreamWorld> StreamWorld::Create(const StreamWorldOptions& options,
                                                std::vector<model::CatalogItem> items) {
  if (items.empty()) return absl::InvalidArgumentError("catalog: the simulated world needs items");
  if (options.num_users < 1) return absl::InvalidArgumentError("users: must be at least 1");
  if (options.drift_period_min_s <= 0 || options.drift_period_max_s < options.drift_period_min_s) {
    return absl::InvalidArgumentError("drift periods: need 0 < min <= max");
  }
  StreamWorld w;
  w.options_ = options;
  w.items_ = std::move(items);
  std::mt19937_64 rng(options.seed);
  std::uniform_real_distribution<double> quality(1 - options.quality_spread, 1 + options.quality_spread);
  for (size_t i = 0; i < w.items_.size(); ++i) {
    const std::string topic = w.items_[i].tags.empty() ? "other" : w.items_[i].tags[0];
    auto it = std::find(w.topics_.begin(), w.topics_.end(), topic);
    if (it == w.topics_.end()) it = w.topics_.insert(w.topics_.end(), topic);
    w.item_topic_.push_back(it - w.topics_.begin());
    w.quality_.push_back(quality(rng));
    w.index_.emplace_back(w.items_[i].item_id, static_cast<int64_t>(i));
  }
  std::sort(w.index_.begin(), w.index_.end());
  const int64_t n_topics = static_cast<int64_t>(w.topics_.size());
  std::uniform_int_distribution<int64_t> topic(0, n_topics - 1);
  std::uniform_real_distribution<double> period(options.drift_period_min_s, options.drift_period_max_s);
  std::uniform_real_distribution<double> phase(0, 2 * M_PI);
  for (int64_t u = 0; u < options.num_users; ++u) {
    const int64_t first = topic(rng);
    int64_t second = topic(rng);
    if (n_topics > 1) {
      while (second == first) second = topic(rng);
    }
    w.liked_.push_back({first, second});
    w.period_.push_back(period(rng));
    std::vector<double> phases(n_topics);
    for (auto& p : phases) p = phase(rng);
    w.phase_.push_back(std::move(phases));
  }
  return w;
}

int64_t StreamWorld::IndexOf(const std::string& item_id) const {
  auto it = std::lower_bound(index_.begin(), index_.end(), std::make_pair(item_id, int64_t{-1}));
  return it != index_.end() && it->first == item_id ? it->second : -1;
}

std::vector<int64_t> StreamWorld::LikedTopics(int64_t user, double t) const {
  std::vector<int64_t> liked = liked_[user];
  if (options_.shift_at_s >= 0 && t >= options_.shift_at_s) {
    const int64_t n = static_cast<int64_t>(topics_.size());
    for (auto& d : liked) d = (d + options_.shift_offset) % n;
  }
  return liked;
}

std::vector<double> StreamWorld::RelativeAffinity(int64_t user, double t) const {
  // softmax_d(x) / max_d softmax_d(x) = exp(x_d − max x): no normaliser needed.
  const int64_t n = static_cast<int64_t>(topics_.size());
  std::vector<double> x(n, 0.0);
  for (int64_t d : LikedTopics(user, t)) x[d] = 1.0;
  for (int64_t d = 0; d < n; ++d) {
    x[d] = options_.sharpness * (x[d] + options_.drift * std::sin(2 * M_PI * t / period_[user] + phase_[user][d]));
  }
  const double top = *std::max_element(x.begin(), x.end());
  for (auto& v : x) v = std::exp(v - top);
  return x;
}

double StreamWorld::ClickProbabilityGiven(const std::vector<double>& relative, int64_t item,
                                          int64_t position) const {
  double p = options_.base_ctr;
  if (item >= 0) p = quality_[item] * (options_.base_ctr + options_.like_ctr * relative[item_topic_[item]]);
  return std::min(1.0, p * std::pow(options_.position_bias, static_cast<double>(position)));
}

double StreamWorld::ClickProbability(int64_t user, int64_t item, int64_t position, double t) const {
  return ClickProbabilityGiven(RelativeAffinity(user, t), item, position);
}

double StreamWorld::SlateClickRate(int64_t user, const std::vector<int64_t>& slate, double t) const {
  if (slate.empty()) return 0;
  const std::vector<double> relative = RelativeAffinity(user, t);
  double total = 0;
  for (size_t pos = 0; pos < slate.size(); ++pos) {
    total += ClickProbabilityGiven(relative, slate[pos], static_cast<int64_t>(pos));
  }
  return total / static_cast<double>(slate.size());
}

double StreamWorld::OracleClickRate(int64_t user, int64_t k, double t) const {
  const std::vector<double> relative = RelativeAffinity(user, t);
  std::vector<double> p;
  p.reserve(items_.size());
  for (int64_t i = 0; i < static_cast<int64_t>(items_.size()); ++i) p.push_back(ClickProbabilityGiven(relative, i, 0));
  k = std::min<int64_t>(k, static_cast<int64_t>(p.size()));
  std::partial_sort(p.begin(), p.begin() + k, p.end(), std::greater<double>());
  double total = 0, bias = 1;
  for (int64_t pos = 0; pos < k; ++pos, bias *= options_.position_bias) total += std::min(1.0, p[pos] * bias);
  return total / static_cast<double>(k);
}

double StreamWorld::UniformClickRate(int64_t user, int64_t k, double t) const {
  // Every item is equally likely at every position of a uniform slate.
  const std::vector<double> relative = RelativeAffinity(user, t);
  double mean = 0;
  for (int64_t i = 0; i < static_cast<int64_t>(items_.size()); ++i) mean += ClickProbabilityGiven(relative, i, 0);
  mean /= static_cast<double>(items_.size());
  double total = 0, bias = 1;
  k = std::min<int64_t>(k, static_cast<int64_t>(items_.size()));
  for (int64_t pos = 0; pos < k; ++pos, bias *= options_.position_bias) total += mean * bias;
  return total / static_cast<double>(k);
}

int64_t StreamWorld::OrganicItem(int64_t user, double t, double u) const {
  const std::vector<double> relative = RelativeAffinity(user, t);
  std::vector<double> cumulative;
  cumulative.reserve(items_.size());
  double total = 0;
  for (int64_t i = 0; i < static_cast<int64_t>(items_.size()); ++i) {
    total += ClickProbabilityGiven(relative, i, 0);
    cumulative.push_back(total);
  }
  const auto it = std::upper_bound(cumulative.begin(), cumulative.end(), u * total);
  return std::min<int64_t>(it - cumulative.begin(), static_cast<int64_t>(items_.size()) - 1);
}

}  // namespace rtrec::sim
