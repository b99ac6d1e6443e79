#include "eval/ranking.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <tuple>
#include <unordered_set>

namespace rtrec::eval {

std::vector<UserSplit> LeaveOneOut(const std::vector<Interaction>& interactions, int64_t min_interactions) {
  std::map<int64_t, std::vector<std::pair<int64_t, int64_t>>> by_user;  // user -> (time, item), input order
  for (const auto& x : interactions) by_user[x.user].emplace_back(x.timestamp, x.item);
  std::vector<UserSplit> out;
  for (auto& [user, events] : by_user) {
    if (static_cast<int64_t>(events.size()) < min_interactions) continue;
    std::stable_sort(events.begin(), events.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    UserSplit s;
    s.user = user;
    for (size_t i = 0; i + 1 < events.size(); ++i) {
      s.train.push_back(events[i].second);
      s.train_timestamps.push_back(events[i].first);
    }
    s.test_item = events.back().second;
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<std::pair<size_t, size_t>> TrainingEventsInTimeOrder(const std::vector<UserSplit>& splits) {
  std::vector<std::tuple<int64_t, size_t, size_t>> events;
  for (size_t u = 0; u < splits.size(); ++u) {
    for (size_t pos = 0; pos < splits[u].train.size(); ++pos) {
      events.emplace_back(splits[u].train_timestamps[pos], u, pos);
    }
  }
  std::stable_sort(events.begin(), events.end(),
                   [](const auto& a, const auto& b) { return std::get<0>(a) < std::get<0>(b); });
  std::vector<std::pair<size_t, size_t>> out;
  out.reserve(events.size());
  for (const auto& [time, u, pos] : events) out.emplace_back(u, pos);
  return out;
}

int64_t RankIn(const std::vector<int64_t>& top_k, int64_t item) {
  auto it = std::find(top_k.begin(), top_k.end(), item);
  return it == top_k.end() ? -1 : it - top_k.begin();
}

double HitRate(int64_t rank, int64_t k) { return rank >= 0 && rank < k ? 1.0 : 0.0; }

double Ndcg(int64_t rank, int64_t k) {
  return rank >= 0 && rank < k ? 1.0 / std::log2(static_cast<double>(rank) + 2.0) : 0.0;
}

RankingMetrics Summarize(const std::vector<int64_t>& ranks, int64_t k) {
  RankingMetrics m;
  m.users = static_cast<int64_t>(ranks.size());
  for (int64_t r : ranks) {
    m.hr += HitRate(r, k);
    m.ndcg += Ndcg(r, k);
  }
  if (m.users > 0) {
    m.hr /= static_cast<double>(m.users);
    m.ndcg /= static_cast<double>(m.users);
  }
  return m;
}

std::vector<int64_t> PopularityCounts(const std::vector<UserSplit>& splits, int64_t num_items) {
  std::vector<int64_t> counts(num_items, 0);
  for (const auto& s : splits) {
    for (int64_t i : s.train) ++counts[i];
  }
  return counts;
}

std::vector<int64_t> PopularityTopK(const std::vector<int64_t>& counts, const std::vector<int64_t>& train,
                                    int64_t k) {
  const std::unordered_set<int64_t> seen(train.begin(), train.end());
  std::vector<int64_t> order(counts.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return counts[a] > counts[b]; });
  std::vector<int64_t> out;
  for (int64_t i : order) {
    if (static_cast<int64_t>(out.size()) == k) break;
    if (!seen.count(i)) out.push_back(i);
  }
  return out;
}

}  // namespace rtrec::eval
