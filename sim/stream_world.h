// The hidden world behind rtrec-sim (tools/simulator.cc): users with latent
// tastes over the catalog's topics that drift over time, a scheduled
// population-wide preference shift, and a click model with position bias.
// Items come from a catalog whose text is drawn from per-topic vocabularies
// (data/demo_catalog.jsonl: topic = an item's first tag, its department), so
// words mean something to the text tower.
//
// At time t (seconds since the start of the run) user u's affinity for topic d:
//
//   a_u(d, t) = softmax_d( sharpness · (liked_u(d, t) + drift · sin(2π t / P_u + φ_ud)) )
//
// liked_u(d, t) is 1 for the user's two liked topics and 0 otherwise; at
// t ≥ shift_at_s every liked topic moves by shift_offset (the shift). The
// click probability of item i at slate position p:
//
//   P(click) = position_bias^p · quality_i · (base_ctr + like_ctr · a_u(d_i, t) / max_d a_u(d, t))
//
// Everything is a pure function of the seed, the user and t.
//
// Thread safety: const methods may be called from any thread.
#ifndef RTREC_SIM_STREAM_WORLD_H_
#define RTREC_SIM_STREAM_WORLD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "model/catalog.h"

namespace rtrec::sim {

struct StreamWorldOptions {
  int64_t num_users = 200;
  double base_ctr = 0.02;
  double like_ctr = 0.35;
  double position_bias = 0.85;
  // Item quality multipliers are drawn from [1 − spread, 1 + spread].
  double quality_spread = 0.3;
  double sharpness = 4.0;
  // Amplitude and period range of the taste drift.
  double drift = 0.5;
  double drift_period_min_s = 60;
  double drift_period_max_s = 300;
  // The population-wide shift: at shift_at_s (< 0: never) every liked topic
  // moves by shift_offset topics.
  double shift_at_s = -1;
  int64_t shift_offset = 3;
  uint64_t seed = 42;
};

class StreamWorld {
 public:
  // Topics are the items' first tags ("other" when an item has none).
  static absl::StatusOr<StreamWorld> Create(const StreamWorldOptions& options,
                                            std::vector<model::CatalogItem> items);

  const std::vector<model::CatalogItem>& items() const { return items_; }
  const std::vector<std::string>& topics() const { return topics_; }
  int64_t topic_of(int64_t item) const { return item_topic_[item]; }
  // Index of an item id, or -1 for an item the world does not know (it is
  // then clicked with base_ctr only).
  int64_t IndexOf(const std::string& item_id) const;
  int64_t num_users() const { return options_.num_users; }
  std::string user_id(int64_t user) const { return "sim-user-" + std::to_string(user); }
  const StreamWorldOptions& options() const { return options_; }

  // The user's currently liked topics (after the shift when t ≥ shift_at_s).
  std::vector<int64_t> LikedTopics(int64_t user, double t) const;
  // item -1 = unknown item.
  double ClickProbability(int64_t user, int64_t item, int64_t position, double t) const;
  // Expected clicks per shown item of a slate of k (mean over positions).
  double SlateClickRate(int64_t user, const std::vector<int64_t>& slate, double t) const;
  double OracleClickRate(int64_t user, int64_t k, double t) const;
  double UniformClickRate(int64_t user, int64_t k, double t) const;
  // An item the user reaches on its own (organic event): drawn in proportion
  // to its position-0 click probability, from a uniform draw u in [0, 1).
  int64_t OrganicItem(int64_t user, double t, double u) const;

 private:
  StreamWorld() = default;
  // a_u(d, t) / max_d a_u(d, t), for every topic d.
  std::vector<double> RelativeAffinity(int64_t user, double t) const;
  double ClickProbabilityGiven(const std::vector<double>& relative, int64_t item, int64_t position) const;

  StreamWorldOptions options_;
  std::vector<model::CatalogItem> items_;
  std::vector<std::string> topics_;
  std::vector<int64_t> item_topic_;
  std::vector<double> quality_;
  std::vector<std::pair<std::string, int64_t>> index_;  // sorted by id
  std::vector<std::vector<int64_t>> liked_;              // per user, before the shift
  std::vector<double> period_;                           // per user
  std::vector<std::vector<double>> phase_;               // per user and topic
};

}  // namespace rtrec::sim

#endif  // RTREC_SIM_STREAM_WORLD_H_
