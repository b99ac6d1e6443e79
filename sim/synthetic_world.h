// A synthetic world for in-process learning tests and benchmarks: items with
// text drawn from topic vocabularies (so words mean something to the text
// tower), users with latent tastes over topics, and a hidden click model with
// position bias. Everything is a pure function of the seed.
//
//   P(click | user u, item i, slate position p) =
//       position_bias^p · (base_ctr + taste_ctr · taste[u][topic(i)]) · quality[i]
//
// taste[u] puts `primary_weight` on the user's primary topic and spreads the
// rest evenly; quality[i] is drawn from [1 − quality_spread, 1 + quality_spread].
//
// Thread safety: const methods may be called from any thread.
#ifndef RTREC_SIM_SYNTHETIC_WORLD_H_
#define RTREC_SIM_SYNTHETIC_WORLD_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "model/catalog.h"

namespace rtrec::sim {

struct SyntheticWorldOptions {
  int64_t num_topics = 6;
  int64_t items_per_topic = 20;
  int64_t num_users = 48;
  double primary_weight = 0.85;
  double base_ctr = 0.02;
  double taste_ctr = 0.6;
  double position_bias = 0.9;
  double quality_spread = 0.3;
  uint64_t seed = 1;
};

class SyntheticWorld {
 public:
  explicit SyntheticWorld(const SyntheticWorldOptions& options);

  // Catalog items (no text embeddings yet), item_id "t<topic>-<n>".
  const std::vector<model::CatalogItem>& items() const { return items_; }
  int64_t num_users() const { return options_.num_users; }
  std::string user_id(int64_t user) const { return "user-" + std::to_string(user); }
  int64_t topic_of_item(int64_t item) const { return item % options_.num_topics; }
  int64_t primary_topic(int64_t user) const { return primary_[user]; }

  double ClickProbability(int64_t user, int64_t item, int64_t position) const;
  // The expected clicks per shown item of a slate of size k drawn uniformly
  // at random without replacement from all items.
  double UniformClickRate(int64_t user, int64_t k) const;
  // The same for the best possible slate (the top k by click probability).
  double OracleClickRate(int64_t user, int64_t k) const;
  // A few items of the user's primary topic: a starting history.
  std::vector<int64_t> SeedHistory(int64_t user, int64_t n, std::mt19937_64& rng) const;
  // Moves every user's primary topic by `offset` (a population-wide shift).
  void ShiftTastes(int64_t offset);

 private:
  SyntheticWorldOptions options_;
  std::vector<model::CatalogItem> items_;
  std::vector<double> quality_;
  std::vector<int64_t> primary_;
};

}  // namespace rtrec::sim

#endif  // RTREC_SIM_SYNTHETIC_WORLD_H_
