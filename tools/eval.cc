// rtrec-eval: measures rtrec's model and learner offline on real data before
// anyone trusts it online (eval/offline_runner.h has the methods).
//
//   rtrec-eval open-bandit [--data data/open-bandit] [--campaign men|women]
//       Progressive validation on the Open Bandit Dataset's uniform-random
//       log: IPS, SNIPS and DR estimates of rtrec's click rate with bootstrap
//       intervals, against the logging policy's; the Bernoulli-TS log checks
//       the estimators against a known on-policy click rate.
//   rtrec-eval movielens --ratings FILE --movies FILE [--epochs 1] [--k 10]
//       Leave-one-out next-item ranking over all items: HR@k and NDCG@k of
//       rtrec against popularity.
//   rtrec-eval movielens-sample --out DIR [--seed 2024]
//       Writes the MovieLens-format sample the tests use.
//
// --config FILE uses a server config's model, policy and learner sections;
// the default is the shipped defaults (config/default.yaml), what a user of
// the service gets; --config small is the small model of the learning tests
// (sim::SmallLockstepConfig), for quick runs.
#include <cstdio>
#include <string>
#include <vector>

#include "common/command_line.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "config/options.h"
#include "eval/datasets.h"
#include "eval/offline_runner.h"
#include "sim/lockstep_runner.h"

ABSL_FLAG(std::string, config, "",
          "rtrec config file (default: the shipped defaults; 'small': the small model of the learning tests)");
ABSL_FLAG(std::string, data, std::string(RTREC_SOURCE_DIR) + "/data/open-bandit", "Open Bandit folder");
ABSL_FLAG(std::string, campaign, "men", "Open Bandit campaign: men or women");
ABSL_FLAG(int64_t, chunk, 64, "Open Bandit rows per progressive step");
ABSL_FLAG(int64_t, max_rows, 0, "Use only the first N rows of each log (0: all)");
ABSL_FLAG(bool, learn, true, "Train while streaming (false: the initial model throughout)");
ABSL_FLAG(int, bootstrap, 1000, "Bootstrap resamples");
ABSL_FLAG(std::string, ratings, "", "MovieLens ratings file (ratings.dat or ratings.csv)");
ABSL_FLAG(std::string, movies, "", "MovieLens titles file (movies.dat or movies.csv)");
ABSL_FLAG(int64_t, epochs, 1, "MovieLens training passes (1: one pass over the stream, as the service learns)");
ABSL_FLAG(int64_t, k, 10, "MovieLens cut-off for HR and NDCG");
ABSL_FLAG(std::string, out, "", "movielens-sample: output folder");
ABSL_FLAG(uint64_t, seed, 2024, "Seed (sample generator, bootstrap)");

namespace {

int Fail(const absl::Status& s) {
  fprintf(stderr, "rtrec-eval: %s\n", s.ToString().c_str());
  return s.code() == absl::StatusCode::kInvalidArgument || s.code() == absl::StatusCode::kNotFound ? 2 : 1;
}

absl::StatusOr<rtrec::config::RtrecConfig> Config() {
  const std::string path = absl::GetFlag(FLAGS_config);
  if (path.empty()) return rtrec::config::ParseConfig("", ".");
  if (path == "small") return rtrec::sim::SmallLockstepConfig();
  return rtrec::config::LoadConfigFile(path);
}

std::string Cell(const rtrec::eval::Interval& i, double base) {
  return absl::StrFormat("%.5f [%.5f, %.5f] %5.2fx", i.estimate, i.lower, i.upper, base > 0 ? i.estimate / base : 0);
}

int OpenBandit() {
  auto config = Config();
  if (!config.ok()) return Fail(config.status());
  const std::string campaign = absl::GetFlag(FLAGS_campaign);
  const std::string dir = absl::GetFlag(FLAGS_data);
  auto items = rtrec::eval::ReadOpenBanditItems(absl::StrCat(dir, "/random/", campaign, "/item_context.csv"));
  if (!items.ok()) return Fail(items.status());
  auto random_log = rtrec::eval::ReadOpenBanditLog(absl::StrCat(dir, "/random/", campaign, "/", campaign, ".csv"));
  if (!random_log.ok()) return Fail(random_log.status());
  auto bts_log = rtrec::eval::ReadOpenBanditLog(absl::StrCat(dir, "/bts/", campaign, "/", campaign, ".csv"));
  if (!bts_log.ok()) return Fail(bts_log.status());
  if (const int64_t max = absl::GetFlag(FLAGS_max_rows); max > 0) {
    if (static_cast<int64_t>(random_log->size()) > max) random_log->resize(max);
    if (static_cast<int64_t>(bts_log->size()) > max) bts_log->resize(max);
  }
  rtrec::eval::BanditEvalOptions o;
  o.chunk = absl::GetFlag(FLAGS_chunk);
  o.learn = absl::GetFlag(FLAGS_learn);
  o.bootstrap = absl::GetFlag(FLAGS_bootstrap);
  o.seed = absl::GetFlag(FLAGS_seed);
  auto r = rtrec::eval::EvaluateOpenBandit(*config, *items, *random_log, *bts_log, o);
  if (!r.ok()) return Fail(r.status());
  printf("Open Bandit '%s': %lld rows of the uniform-random log (%zu items), %lld clicks, click rate %.5f\n",
         campaign.c_str(), static_cast<long long>(r->rows), items->size(), static_cast<long long>(r->clicks),
         r->logging_click_rate);
  printf("progressive validation: %s, %lld learner steps, model v%lld; estimate [95%% bootstrap, %d resamples] "
         "and ratio to the random policy's click rate\n",
         o.learn ? "learning" : "learning off", static_cast<long long>(r->learner_steps),
         static_cast<long long>(r->model_version), o.bootstrap);
  printf("%-48s %-34s %-34s %-34s\n", "policy", "IPS", "SNIPS", "DR");
  auto row = [&](const rtrec::eval::PolicyEstimate& e) {
    printf("%-48s %-34s %-34s %-34s\n", e.policy.c_str(), Cell(e.ips, r->logging_click_rate).c_str(),
           Cell(e.snips, r->logging_click_rate).c_str(), Cell(e.dr, r->logging_click_rate).c_str());
  };
  for (const auto& e : r->estimates) row(e);
  if (r->has_check) {
    row(r->check);
    const bool inside = r->check.snips.lower <= r->check_on_policy && r->check_on_policy <= r->check.snips.upper;
    printf("check: Bernoulli-TS's own log (%lld rows) has click rate %.5f (%.2fx random); the SNIPS interval "
           "above %s it\n",
           static_cast<long long>(r->check_rows), r->check_on_policy,
           r->logging_click_rate > 0 ? r->check_on_policy / r->logging_click_rate : 0.0,
           inside ? "contains" : "does NOT contain");
  }
  return 0;
}

int MovieLens() {
  if (absl::GetFlag(FLAGS_ratings).empty() || absl::GetFlag(FLAGS_movies).empty()) {
    return Fail(absl::InvalidArgumentError("movielens needs --ratings and --movies"));
  }
  auto config = Config();
  if (!config.ok()) return Fail(config.status());
  auto data = rtrec::eval::ReadMovieLens(absl::GetFlag(FLAGS_ratings), absl::GetFlag(FLAGS_movies));
  if (!data.ok()) return Fail(data.status());
  rtrec::eval::MovieLensEvalOptions o;
  o.epochs = absl::GetFlag(FLAGS_epochs);
  o.k = absl::GetFlag(FLAGS_k);
  auto r = rtrec::eval::EvaluateMovieLens(*config, *data, o);
  if (!r.ok()) return Fail(r.status());
  printf("MovieLens leave-one-out: %lld users, %lld items, %lld training interactions, %lld epochs, %lld learner "
         "steps; full ranking over the items each user has not seen\n",
         static_cast<long long>(r->users), static_cast<long long>(r->items),
         static_cast<long long>(r->train_interactions), static_cast<long long>(o.epochs),
         static_cast<long long>(r->learner_steps));
  printf("%-12s HR@%-6lld NDCG@%lld\n", "ranker", static_cast<long long>(o.k), static_cast<long long>(o.k));
  printf("%-12s %.4f   %.4f\n", "popularity", r->popularity.hr, r->popularity.ndcg);
  printf("%-12s %.4f   %.4f\n", "rtrec", r->model.hr, r->model.ndcg);
  printf("rtrec / popularity: HR %.2fx, NDCG %.2fx\n", r->popularity.hr > 0 ? r->model.hr / r->popularity.hr : 0,
         r->popularity.ndcg > 0 ? r->model.ndcg / r->popularity.ndcg : 0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args = rtrec::ParseCommandLineOrExit(
      argc, argv, "rtrec-eval open-bandit|movielens|movielens-sample [flags]; see tools/eval.cc");
  if (args.size() != 2) return Fail(absl::InvalidArgumentError("expected one command: open-bandit, movielens or movielens-sample"));
  const std::string command = args[1];
  if (command == "open-bandit") return OpenBandit();
  if (command == "movielens") return MovieLens();
  if (command == "movielens-sample") {
    if (absl::GetFlag(FLAGS_out).empty()) return Fail(absl::InvalidArgumentError("--out: required"));
    rtrec::eval::MovieLensSampleOptions o;
    o.seed = absl::GetFlag(FLAGS_seed);
    if (auto s = rtrec::eval::WriteMovieLensSample(absl::GetFlag(FLAGS_out), o); !s.ok()) return Fail(s);
    printf("wrote %s/ratings.dat and %s/movies.dat\n", absl::GetFlag(FLAGS_out).c_str(),
           absl::GetFlag(FLAGS_out).c_str());
    return 0;
  }
  return Fail(absl::InvalidArgumentError(absl::StrCat("unknown command '", command, "'")));
}
