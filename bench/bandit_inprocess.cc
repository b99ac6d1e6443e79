// rtrec_bandit_inprocess: the contextual-bandit world through rtrec's real
// serving and learning path in-process (sim/bandit_runner.h), for quick
// sweeps of a config. The benchmark of record drives the real server over
// gRPC (bench/run_bandit_bench.sh).
//
//   build/rtrec_bandit_inprocess --config config/default.yaml --requests 20000
#include <cstdio>

#include "common/command_line.h"
#include "absl/flags/flag.h"
#include "config/options.h"
#include "sim/bandit_runner.h"
#include "sim/bandit_world.h"

ABSL_FLAG(std::string, config, "", "Config file (default: built-in defaults)");
ABSL_FLAG(int64_t, requests, 20000, "Requests");
ABSL_FLAG(int64_t, shift_at, 10000, "Request of the taste shift (-1: never)");
ABSL_FLAG(int64_t, window, 2000, "Requests per reported level");
ABSL_FLAG(int64_t, requests_per_batch, 4, "Requests per inference batch");
ABSL_FLAG(double, rate, 300, "Requests per second of simulated time");
ABSL_FLAG(uint64_t, seed, 1, "World seed");

int main(int argc, char** argv) {
  rtrec::ParseCommandLineOrExit(argc, argv, "rtrec_bandit_inprocess --config FILE [flags]: the bandit world through the serving path in process");
  const std::string path = absl::GetFlag(FLAGS_config);
  auto config = path.empty() ? rtrec::config::ParseConfig("", ".") : rtrec::config::LoadConfigFile(path);
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", config.status().ToString().c_str());
    return 2;
  }
  rtrec::sim::BanditWorldOptions wo;
  wo.shift_at = absl::GetFlag(FLAGS_shift_at);
  wo.seed = absl::GetFlag(FLAGS_seed);
  rtrec::sim::BanditWorld world(wo);
  rtrec::sim::BanditRunOptions ro;
  ro.config = *config;
  ro.requests_per_batch = absl::GetFlag(FLAGS_requests_per_batch);
  ro.requests_per_second = absl::GetFlag(FLAGS_rate);
  const int64_t n = absl::GetFlag(FLAGS_requests);
  auto result = rtrec::sim::RunBanditInProcess(ro, world, n);
  if (!result.ok()) {
    std::fprintf(stderr, "%s\n", result.status().ToString().c_str());
    return 1;
  }
  const int64_t w = absl::GetFlag(FLAGS_window);
  for (int64_t to = 500; to <= n; to += 500) std::printf("%ld:%.3f ", static_cast<long>(to), result->Level(to - 500, to));
  const int64_t shift = wo.shift_at >= 0 ? wo.shift_at : n;
  // Shifted and steady users apart, per 1000 requests after the shift.
  for (int64_t from = shift; from + 1000 <= n; from += 1000) {
    double a[2] = {0, 0}, b[2] = {0, 0};
    for (int64_t r = from; r < from + 1000; ++r) {
      const int g = world.shifts(world.Request(r).user) ? 1 : 0;
      a[g] += result->served[r];
      b[g] += result->oracle[r];
    }
    std::printf("[%ld steady %.3f shifted %.3f] ", static_cast<long>(from + 1000), a[0] / b[0], a[1] / b[1]);
  }
  std::printf("\nbefore %.3f end %.3f uniform %.3f steps %ld publishes %ld rejected %ld skipped %ld empty %ld\n",
              result->Level(shift - w, shift), result->Level(n - w, n), result->UniformLevel(0, n),
              static_cast<long>(result->learner_steps), static_cast<long>(result->publishes),
              static_cast<long>(result->rejected_publishes), static_cast<long>(result->skipped_steps), static_cast<long>(result->empty_slates));
  return 0;
}
