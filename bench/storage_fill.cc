// rtrec_storage_fill: fills a state store (storage/state_store.h) with the
// state of a large deployment, for the restart bench (bench/run_storage_bench.sh):
// `users` user histories (20 items each; a taste for every tenth user) and
// `impressions` open impressions of 5 items, logged now, through the same
// code the server writes them with (ImpressionLog, UserState).
//
//   rtrec_storage_fill --path DIR --users 1000000 --impressions 1000000
#include <sys/resource.h>

#include <cstdio>
#include <string>
#include <vector>

#include "common/command_line.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "state/impression_log.h"
#include "state/user_state.h"
#include "storage/state_store.h"

ABSL_FLAG(std::string, path, "", "storage.path to fill (created)");
ABSL_FLAG(int64_t, users, 1000000, "Users with a history");
ABSL_FLAG(int64_t, impressions, 1000000, "Open impressions");
ABSL_FLAG(int64_t, catalog_items, 240, "Item indices drawn from [0, catalog_items)");
ABSL_FLAG(int64_t, taste_dim, 64, "model.embedding_dim of the server that will read it");
ABSL_FLAG(int64_t, max_cached_users, 10000, "users.max_cached_users while filling");
ABSL_FLAG(bool, in_memory, false,
          "No store: the users stay in memory (max_cached_users should then hold them all); "
          "for the memory comparison");

int main(int argc, char** argv) {
  rtrec::ParseCommandLineOrExit(argc, argv, "rtrec_storage_fill --path DIR [flags]: fills a state store for the restart bench");
  rtrec::config::StorageOptions storage;
  storage.path = absl::GetFlag(FLAGS_path);
  absl::StatusOr<std::unique_ptr<rtrec::storage::StateStore>> store =
      absl::GetFlag(FLAGS_in_memory) ? std::unique_ptr<rtrec::storage::StateStore>()
                                     : rtrec::storage::OpenStateStore(storage);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }
  const int64_t items = absl::GetFlag(FLAGS_catalog_items);
  const absl::Time started = absl::Now();
  {
    rtrec::config::UserStateOptions o;
    o.max_cached_users = absl::GetFlag(FLAGS_max_cached_users);
    auto users = *rtrec::state::UserState::Create(o, absl::GetFlag(FLAGS_taste_dim), store->get());
    std::vector<float> x(static_cast<size_t>(absl::GetFlag(FLAGS_taste_dim)), 0.1f);
    for (int64_t u = 0; u < absl::GetFlag(FLAGS_users); ++u) {
      const std::string id = absl::StrCat("user-", u);
      for (int64_t i = 0; i < 20; ++i) {
        if (!users->Append(id, (u * 7 + i * 13) % items).ok()) return 1;
      }
      if (u % 10 == 0) users->LearnTaste(id, x, 0.0, 1.0);
    }
    if (!users->FlushTastes().ok()) return 1;
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    std::printf("{\"users_in_memory\": %lld, \"evicted\": %lld, \"peak_rss_mb\": %ld}\n",
                static_cast<long long>(users->num_users()), static_cast<long long>(users->evicted()),
                usage.ru_maxrss / 1024);
    std::fflush(stdout);
  }
  const absl::Time users_done = absl::Now();
  {
    rtrec::state::ExperienceBuffer buffer(1);
    rtrec::config::ImpressionLogOptions o;
    o.capacity = absl::GetFlag(FLAGS_impressions) + 1;
    auto log = *rtrec::state::ImpressionLog::Create(o, rtrec::RealClock::Get(), &buffer);
    if (*store) log->AttachStore(store->get());
    for (int64_t r = 0; r < absl::GetFlag(FLAGS_impressions); ++r) {
      rtrec::state::Impression imp;
      imp.request_id = absl::StrCat("fill-", r);
      imp.user_id = absl::StrCat("user-", r % std::max<int64_t>(1, absl::GetFlag(FLAGS_users)));
      for (int64_t i = 0; i < 20; ++i) imp.context.push_back((r + i) % items);
      for (int64_t i = 0; i < 5; ++i) {
        rtrec::state::ShownItem s;
        s.item_index = (r * 5 + i) % items;
        s.item_id = absl::StrCat("item-", s.item_index);
        s.propensity = 0.05;
        s.selection_probability = 0.01;
        imp.slate.push_back(s);
      }
      imp.num_candidates = items;
      imp.model_version = 1;
      log->Record(std::move(imp));
    }
  }
  if (*store) (*store)->Sync().IgnoreError();
  std::printf("{\"users\": %lld, \"impressions\": %lld, \"users_s\": %.1f, \"impressions_s\": %.1f}\n",
              static_cast<long long>(absl::GetFlag(FLAGS_users)),
              static_cast<long long>(absl::GetFlag(FLAGS_impressions)),
              absl::ToDoubleSeconds(users_done - started), absl::ToDoubleSeconds(absl::Now() - users_done));
  return 0;
}
