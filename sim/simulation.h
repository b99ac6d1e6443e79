// The simulated user stream of rtrec-sim: request i happens at simulated time
// t_i = i / rate; a seeded stream per request (seed, i) picks the user, the
// query, the clicks and the organic events, so for the same answers from the
// service a run is the same whatever the concurrency and the timing. With
// real_time the workers wait until t_i on the wall clock (an open-loop load
// at `rate` requests/s); without it they run as fast as the service answers
// (the tests).
//
// Per window of window_s seconds it reports the served slates' click rate
// (sampled clicks per shown item, and the world's expected click rate of the
// same slates), the oracle's and a uniformly random slate's expected click
// rates for the same requests, and the feedback sent.
//
// Thread safety: RunSimulation calls `service` from `concurrency` threads at
// once and `on_window` from one thread at a time, in window order.
#ifndef RTREC_SIM_SIMULATION_H_
#define RTREC_SIM_SIMULATION_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sim/stream_world.h"

namespace rtrec::sim {

struct SimulatedSlate {
  std::string request_id;
  std::vector<std::string> item_ids;
  int64_t model_version = 0;
};

// What the simulation needs from an rtrec server (tools/simulator.cc: gRPC).
class SimulatedService {
 public:
  virtual ~SimulatedService() = default;
  virtual absl::StatusOr<SimulatedSlate> Recommend(const std::string& user_id, const std::string& query,
                                                   int64_t k) = 0;
  // request_id empty: an organic event.
  virtual absl::Status Feedback(const std::string& request_id, const std::string& user_id,
                                const std::string& item_id, double reward) = 0;
};

struct SimulationOptions {
  double seconds = 60;
  double rate = 100;  // requests per second of simulated time
  int concurrency = 4;
  int64_t k = 5;
  double window_s = 5;
  double query_fraction = 0.2;
  // Expected organic events (items users reach on their own) per request.
  double organic_per_request = 0.1;
  // Report every shown slot, 0 for an item not clicked (as bandit clients
  // do); false reports clicks only.
  bool report_every_slot = true;
  uint64_t seed = 42;
  bool real_time = true;
};

struct WindowReport {
  int64_t window = 0;
  double start_s = 0, end_s = 0;
  int64_t requests = 0, errors = 0, impressions = 0, clicks = 0;
  int64_t feedback_sent = 0, feedback_failed = 0, organic_sent = 0;
  double served_ctr = 0;       // sampled clicks / shown items
  double served_expected = 0;  // the world's click rate of the served slates
  double oracle = 0;           // the best slate's
  double random = 0;           // a uniformly random slate's
  int64_t model_version = 0;   // newest seen in the window
  double p50_ms = 0, p99_ms = 0;  // real_time only
  bool after_shift = false;
};

struct SimulationSummary {
  std::vector<WindowReport> windows;
  // Served (expected) / oracle over the windows before the shift (the last
  // `baseline_windows` of them) and from the shift to the end.
  double before_shift = 0, after_shift = 0;
  // The level recovery is measured against: before_shift, or the reference
  // given to SummarizeShift (another run's pre-shift level, so that runs that
  // never learned before the shift compare).
  double recovery_level = 0;
  // The first window after the shift whose served/oracle is back at 90 % of
  // recovery_level, and the feedback events sent from the shift to its end;
  // -1 when it never recovered or there was no shift.
  int64_t recovered_window = -1;
  int64_t feedback_to_recover = -1;
  double seconds_to_recover = -1;
  int64_t total_feedback = 0;
};

absl::StatusOr<SimulationSummary> RunSimulation(const StreamWorld& world, const SimulationOptions& options,
                                                SimulatedService* service,
                                                const std::function<void(const WindowReport&)>& on_window);

// Recomputes the summary's shift figures from its windows; reference_level
// > 0 replaces the run's own pre-shift level as the recovery target.
void SummarizeShift(const StreamWorld& world, SimulationSummary* summary, int64_t baseline_windows = 3,
                    double reference_level = -1);

std::string WindowCsvHeader();
std::string WindowCsvRow(const WindowReport& w);

}  // namespace rtrec::sim

#endif  // RTREC_SIM_SIMULATION_H_
