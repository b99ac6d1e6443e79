// Leave-one-out next-item evaluation with full ranking: for every user the
// last interaction (by time) is held out, everything before it is training
// data; a ranker orders every item the user has not interacted with in
// training, and the held-out item's place in that order gives
//
//   HR@k   = 1 if rank < k else 0
//   NDCG@k = 1 / log2(rank + 2) if rank < k else 0      (rank from 0)
//
// averaged over users. The popularity ranker (training interaction counts)
// is the baseline every model must beat.
//
// Thread safety: free functions and value types.
#ifndef RTREC_EVAL_RANKING_H_
#define RTREC_EVAL_RANKING_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace rtrec::eval {

struct Interaction {
  int64_t user = 0;  // dense user index
  int64_t item = 0;  // dense item index
  int64_t timestamp = 0;
};

struct UserSplit {
  int64_t user = 0;
  std::vector<int64_t> train;  // time order
  std::vector<int64_t> train_timestamps;
  int64_t test_item = 0;
};

// Users with fewer than `min_interactions` are left out. Ties in time keep
// the input order.
std::vector<UserSplit> LeaveOneOut(const std::vector<Interaction>& interactions, int64_t min_interactions = 3);

// Every training interaction of `splits` as (split index, position in its
// train list), in global time order (ties keep the splits' order): the
// stream a service would have seen.
std::vector<std::pair<size_t, size_t>> TrainingEventsInTimeOrder(const std::vector<UserSplit>& splits);

// The held-out item's rank among the top-k list (-1 when absent).
int64_t RankIn(const std::vector<int64_t>& top_k, int64_t item);
double HitRate(int64_t rank, int64_t k);
double Ndcg(int64_t rank, int64_t k);

struct RankingMetrics {
  int64_t users = 0;
  double hr = 0, ndcg = 0;  // @k, averaged
};
// Averages over the users' ranks (-1 = not in the top k).
RankingMetrics Summarize(const std::vector<int64_t>& ranks, int64_t k);

// Training interaction counts per item.
std::vector<int64_t> PopularityCounts(const std::vector<UserSplit>& splits, int64_t num_items);
// The k most popular items the user did not interact with in training (ties:
// lower index first).
std::vector<int64_t> PopularityTopK(const std::vector<int64_t>& counts, const std::vector<int64_t>& train, int64_t k);

}  // namespace rtrec::eval

#endif  // RTREC_EVAL_RANKING_H_
