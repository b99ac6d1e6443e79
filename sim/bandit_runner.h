// Runs the contextual-bandit world (sim/bandit_world.h) through rtrec's real
// serving and learning path in-process, in lock step on one thread with a
// FakeClock: requests are served in batches of `requests_per_batch` (as the
// dynamic batcher would group concurrent callers), every shown slot is
// reported (reward 1 for a click, 0 otherwise, as a bandit client does),
// clicks enter the user's history as the service's feedback path appends
// them, the learner trains whenever a full batch of experiences waits and
// publishes as its options say, the clock moving 1 / `requests_per_second`
// per request. A run is a pure function of the config and the seeds: the
// reduced learning test and quick sweeps use it; the benchmark against
// Vowpal Wabbit drives the real server over gRPC (tools/bandit_bench.cc).
//
// Thread safety: not thread-safe; one thread drives a runner.
#ifndef RTREC_SIM_BANDIT_RUNNER_H_
#define RTREC_SIM_BANDIT_RUNNER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "config/options.h"
#include "sim/bandit_world.h"

namespace rtrec::sim {

struct BanditRunOptions {
  config::RtrecConfig config;
  int64_t requests_per_batch = 4;
  double requests_per_second = 300;
};

struct BanditRunResult {
  // Per request: the world's expected click rate of the served slate, the
  // oracle's and a uniformly random slate's.
  std::vector<double> served, oracle, uniform;
  int64_t learner_steps = 0;
  int64_t publishes = 0;
  int64_t rejected_publishes = 0;
  int64_t skipped_steps = 0;
  int64_t empty_slates = 0;

  // Σ served ÷ Σ oracle over requests [from, to).
  double Level(int64_t from, int64_t to) const;
  double UniformLevel(int64_t from, int64_t to) const;
};

// Serves `requests` requests of `world` (0 .. requests-1).
absl::StatusOr<BanditRunResult> RunBanditInProcess(const BanditRunOptions& options,
                                                   const BanditWorld& world, int64_t requests);

}  // namespace rtrec::sim

#endif  // RTREC_SIM_BANDIT_RUNNER_H_
