// A contextual-bandit world for the learning benchmark against Vowpal Wabbit
// (bench/run_bandit_bench.sh) and the reduced lock-step learning test.
//
// Unlike the demo's drifting world (sim/stream_world.h) it is the setting
// bandit services are used in: a few hundred items with short texts whose
// words carry the preference, several hundred users with persistent tastes,
// a random subset of candidates per request, a slate of k with
// position-biased clicks, re-consumption allowed, and half of the users'
// tastes shifting at one request.
//
//   item i:   one topic t(i) (of num_topics), a text of words from the
//             topic's vocabulary and common filler words, a quality q_i in
//             [1 − quality_spread, 1 + quality_spread]
//   user u:   likes two topics, the first with weight 1, the second with
//             second_like; at request shift_at, users with shifts(u) like
//             two other topics from then on
//   P(click | u, i at slate position p) =
//             position_bias^p · q_i · (base_ctr + like_ctr · like_u(t(i)))
//
// Request r (0-based) is a pure function of (seed, r): its user, its
// candidates and the uniforms that decide each slate position's click, so
// every policy meets the same stream with common random numbers.
//
// Thread safety: const methods may be called from any thread.
#ifndef RTREC_SIM_BANDIT_WORLD_H_
#define RTREC_SIM_BANDIT_WORLD_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "model/catalog.h"

namespace rtrec::sim {

struct BanditWorldOptions {
  int64_t num_items = 300;
  int64_t num_topics = 12;
  int64_t num_users = 500;
  int64_t candidates = 50;
  int64_t k = 5;
  // Words per item text, of which topic_words come from its topic.
  int64_t words_per_item = 6;
  int64_t topic_words = 3;
  double base_ctr = 0.02;
  double like_ctr = 0.5;
  double second_like = 0.6;
  double position_bias = 0.85;
  double quality_spread = 0.3;
  // Request at which the tastes of the shifting users change (-1: never).
  int64_t shift_at = 10000;
  // Share of users whose tastes shift.
  double shift_share = 0.5;
  uint64_t seed = 1;
};

struct BanditRequest {
  int64_t index = 0;
  int64_t user = 0;
  // Item indices, in random order.
  std::vector<int64_t> candidates;
  // click_uniform[p] < P(click) means a click at slate position p.
  std::vector<double> click_uniform;
};

class BanditWorld {
 public:
  explicit BanditWorld(const BanditWorldOptions& options);

  const BanditWorldOptions& options() const { return options_; }
  // Catalog items, item_id "bw-<index>", first tag the topic name.
  const std::vector<model::CatalogItem>& items() const { return items_; }
  std::string user_id(int64_t user) const { return "bw-user-" + std::to_string(user); }
  int64_t topic_of(int64_t item) const { return topic_[item]; }
  // q_i: known to the world only (and to the bench's informed reference
  // learner, which is told it).
  double quality_of(int64_t item) const { return quality_[item]; }
  bool shifts(int64_t user) const { return shifts_[user] != 0; }

  BanditRequest Request(int64_t r) const;

  // P(click) of `item` shown to `user` at slate `position` during request r.
  double ClickProbability(int64_t r, int64_t user, int64_t item, int64_t position) const;
  // Expected clicks per shown item of a slate (item indices, best first).
  double ExpectedSlateRate(const BanditRequest& request, const std::vector<int64_t>& slate) const;
  // The best slate of min(k, candidates): the top k by click value, best first.
  std::vector<int64_t> OracleSlate(const BanditRequest& request) const;
  // Expected clicks per shown item of a uniformly random slate.
  double UniformRate(const BanditRequest& request) const;

 private:
  double Like(int64_t r, int64_t user, int64_t topic) const;

  BanditWorldOptions options_;
  std::vector<model::CatalogItem> items_;
  std::vector<int64_t> topic_;
  std::vector<double> quality_;
  // Liked topics before and after the shift, [user][2].
  std::vector<std::array<int64_t, 2>> liked_before_, liked_after_;
  std::vector<char> shifts_;
};

}  // namespace rtrec::sim

#endif  // RTREC_SIM_BANDIT_WORLD_H_
