// rtrec_tuner_bench: cumulative reward of the online learner with the GP
// tuner (expected improvement), with the fixed defaults (tuner off), and with
// random search over the same box, on the same seeded synthetic worlds for
// the same number of rounds, in lock step (sim/lockstep_runner.h).
//
// Two starts: from the default learning rate (1e-3), and from a bad one
// (1e-6), where a tuner has something to fix.
//
// Prints a Markdown table for bench/RESULTS.md.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/command_line.h"
#include "absl/flags/flag.h"
#include "config/options.h"
#include "sim/lockstep_runner.h"

ABSL_FLAG(int, seeds, 3, "Worlds (seeds) per setting");
ABSL_FLAG(int, rounds, 200, "Lock-step rounds per run");
ABSL_FLAG(int, round_size, 768, "Logged examples per tuner round");

namespace {

using rtrec::config::RtrecConfig;

RtrecConfig BaseConfig() {
  RtrecConfig c = rtrec::sim::SmallLockstepConfig();
  c.tuner.round_size = absl::GetFlag(FLAGS_round_size);
  return c;
}

// Total clicks and shown items over all seeds.
std::pair<int64_t, int64_t> Run(const RtrecConfig& c) {
  int64_t clicks = 0, shown = 0;
  for (int seed = 1; seed <= absl::GetFlag(FLAGS_seeds); ++seed) {
    rtrec::sim::SyntheticWorldOptions wo;
    wo.seed = static_cast<uint64_t>(seed);
    rtrec::sim::SyntheticWorld world(wo);
    rtrec::sim::LockstepOptions lo;
    lo.config = c;
    lo.config.model.seed = seed;
    lo.config.policy.seed = seed;
    lo.config.tuner.seed = seed;
    lo.seed = static_cast<uint64_t>(seed) * 101;
    auto runner = rtrec::sim::LockstepRunner::Create(lo, &world);
    if (!runner.ok()) {
      std::fprintf(stderr, "%s\n", runner.status().ToString().c_str());
      std::exit(1);
    }
    for (int r = 0; r < absl::GetFlag(FLAGS_rounds); ++r) {
      auto round = (*runner)->RunRound();
      if (!round.ok()) std::exit(1);
      clicks += round->clicks;
      shown += round->shown;
    }
  }
  return {clicks, shown};
}

}  // namespace

int main(int argc, char** argv) {
  rtrec::ParseCommandLineOrExit(argc, argv, "rtrec_tuner_bench [flags]: the GP tuner against fixed settings and random search");
  std::printf("| start lr | setting | clicks | click rate | vs fixed |\n|---|---|---|---|---|\n");
  for (double start_lr : {1e-3, 1e-6}) {
    RtrecConfig fixed = BaseConfig();
    fixed.learner.learning_rate = start_lr;
    fixed.tuner.enabled = false;
    RtrecConfig ei = fixed;
    ei.tuner.enabled = true;
    ei.tuner.acquisition = "ei";
    RtrecConfig random = ei;
    random.tuner.acquisition = "random";
    const auto f = Run(fixed);
    const auto e = Run(ei);
    const auto r = Run(random);
    auto row = [&](const char* name, std::pair<int64_t, int64_t> v) {
      std::printf("| %g | %s | %lld | %.4f | %.3fx |\n", start_lr, name, static_cast<long long>(v.first),
                  static_cast<double>(v.first) / v.second, static_cast<double>(v.first) / f.first);
      std::fflush(stdout);
    };
    row("fixed (tuner off)", f);
    row("GP-EI tuner", e);
    row("random search", r);
  }
  std::printf("\n%d seeds x %d rounds x 48 users x 4 items per setting; tuner rounds of %d examples; "
              "box log10 lr [-4, -2.5], epsilon [0, 0.2]\n",
              absl::GetFlag(FLAGS_seeds), absl::GetFlag(FLAGS_rounds), absl::GetFlag(FLAGS_round_size));
  return 0;
}
