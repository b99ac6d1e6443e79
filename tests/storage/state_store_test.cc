// The durable state without torch: the RocksDB store, checkpoint files, and
// the components that keep their state in the store (impressions and
// experiences, users, the catalog), each restarted on the same store.
#include "storage/state_store.h"

#include <filesystem>
#include <fstream>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "state/impression_log.h"
#include "model/catalog.h"
#include "state/user_state.h"
#include "storage/checkpoints.h"
#include "storage/state_keys.h"

namespace rtrec::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A fresh directory per test.
std::string FreshDir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/rtrec-storage-" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

config::StorageOptions StorageAt(const std::string& dir) {
  config::StorageOptions o;
  o.path = dir;
  return o;
}

std::unique_ptr<StateStore> Open(const std::string& dir) {
  auto store = OpenStateStore(StorageAt(dir));
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}

std::vector<std::string> Keys(const StateStore& store, const std::string& prefix) {
  std::vector<std::string> keys;
  EXPECT_TRUE(store.Scan(prefix, [&](std::string_view k, std::string_view) {
                     keys.emplace_back(k);
                     return true;
                   }).ok());
  return keys;
}

TEST(StateStoreTest, BatchesSurviveAReopenAndRangesDelete) {
  const std::string dir = FreshDir("reopen");
  {
    auto store = Open(dir);
    WriteBatch batch;
    batch.Put(ExperienceKey(1), "one");
    batch.Put(ExperienceKey(2), "two");
    batch.Put(ExperienceKey(300), "three hundred");
    batch.Put(HistoryKey("alice"), "h");
    ASSERT_TRUE(store->Write(batch).ok());
    ASSERT_TRUE(store->Commit().ok());
  }
  auto store = Open(dir);
  auto v = store->Get(ExperienceKey(300));
  ASSERT_TRUE(v.ok());
  ASSERT_TRUE(v->has_value());
  EXPECT_EQ(**v, "three hundred");
  // Numeric order, and only the prefix asked for.
  EXPECT_THAT(Keys(*store, kExperiencePrefix),
              ElementsAre(ExperienceKey(1), ExperienceKey(2), ExperienceKey(300)));
  WriteBatch learned;
  learned.DeleteRange(ExperienceKey(0), ExperienceKey(3));
  ASSERT_TRUE(store->Write(learned).ok());
  EXPECT_THAT(Keys(*store, kExperiencePrefix), ElementsAre(ExperienceKey(300)));
  EXPECT_FALSE(store->Get(ExperienceKey(1))->has_value());
  EXPECT_EQ(store->stats().writes, 1);  // since this reopen
}

TEST(StateStoreTest, PerWriteSyncFsyncsAtEveryCommit) {
  const std::string dir = FreshDir("per-write");
  config::StorageOptions o = StorageAt(dir);
  o.sync = "per_write";
  auto store = OpenStateStore(o);
  ASSERT_TRUE(store.ok()) << store.status();
  WriteBatch batch;
  batch.Put("m/x", "1");
  ASSERT_TRUE((*store)->Write(batch).ok());
  ASSERT_TRUE((*store)->Commit().ok());
  ASSERT_TRUE((*store)->Commit().ok());
  EXPECT_EQ((*store)->stats().syncs, 2);
}

TEST(StateStoreTest, AForeignDirectoryIsRefusedNamingIt) {
  const std::string dir = FreshDir("foreign");
  std::filesystem::create_directories(dir + "/store");
  std::ofstream(dir + "/store/CURRENT") << "this is not a store\n";
  std::ofstream(dir + "/store/IDENTITY") << "x";
  auto store = OpenStateStore(StorageAt(dir));
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(std::string(store.status().message()), HasSubstr("storage.path"));
  EXPECT_THAT(std::string(store.status().message()), HasSubstr(dir + "/store"));
}

// ------------------------------------------------------------- checkpoints

v1::CheckpointRecord Record(int64_t version) {
  v1::CheckpointRecord r;
  r.set_model_version(version);
  r.set_learned_through(version * 10);
  r.set_weights(std::string(1000, static_cast<char>('a' + version % 20)));
  return r;
}

TEST(CheckpointTest, WritesReadBackAndKeepsTheNewest) {
  const std::string dir = FreshDir("ckpt-keep") + "/checkpoints";
  CheckpointDirectory checkpoints(dir, 2);
  for (int64_t v : {3, 7, 5}) ASSERT_TRUE(checkpoints.Write(Record(v)).ok());
  std::vector<CheckpointFile> files = checkpoints.List();
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].model_version, 7);
  EXPECT_EQ(files[1].model_version, 5);
  std::vector<std::string> refused;
  auto newest = checkpoints.ReadNewestGood(&refused);
  ASSERT_TRUE(newest.has_value());
  EXPECT_EQ(newest->model_version(), 7);
  EXPECT_EQ(newest->learned_through(), 70);
  EXPECT_EQ(newest->weights(), Record(7).weights());
  EXPECT_TRUE(refused.empty());
  // No temporary file is left behind.
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    EXPECT_EQ(e.path().filename().string().rfind(".tmp", 0), std::string::npos) << e.path();
  }
}

TEST(CheckpointTest, DamagedTruncatedAndForeignFilesAreRefusedNamingThem) {
  const std::string dir = FreshDir("ckpt-bad") + "/checkpoints";
  CheckpointDirectory checkpoints(dir, 10);
  ASSERT_TRUE(checkpoints.Write(Record(1)).ok());
  auto path = [&](int v) { return dir + "/checkpoint-v00000000000" + std::to_string(v) + ".rtrec"; };
  // v2: one byte of the body flipped.
  ASSERT_TRUE(checkpoints.Write(Record(2)).ok());
  {
    std::fstream f(path(2), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(500);
    f.put('#');
  }
  // v3: cut short, as by a crash without the rename protocol.
  ASSERT_TRUE(checkpoints.Write(Record(3)).ok());
  std::filesystem::resize_file(path(3), 100);
  // v4: someone else's file under a checkpoint's name.
  std::ofstream(path(4)) << "PK\x03\x04 a zip archive, not a checkpoint";
  // v5: empty.
  std::ofstream(path(5)).flush();

  for (int v : {2, 3, 4, 5}) {
    auto r = ReadCheckpointFile(path(v));
    ASSERT_FALSE(r.ok()) << v;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << v;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(path(v)));
  }
  EXPECT_THAT(std::string(ReadCheckpointFile(path(2)).status().message()), HasSubstr("checksum"));
  EXPECT_THAT(std::string(ReadCheckpointFile(path(3)).status().message()), HasSubstr("truncated"));
  EXPECT_THAT(std::string(ReadCheckpointFile(path(4)).status().message()), HasSubstr("magic"));

  std::vector<std::string> refused;
  auto newest = checkpoints.ReadNewestGood(&refused);
  ASSERT_TRUE(newest.has_value());
  EXPECT_EQ(newest->model_version(), 1);
  ASSERT_EQ(refused.size(), 4u);
  EXPECT_THAT(refused[0], HasSubstr(path(5)));
  EXPECT_THAT(refused[3], HasSubstr(path(2)));
}

// -------------------------------------------------- impressions, experiences

state::Impression MakeImpression(const std::string& id, const std::string& user) {
  state::Impression imp;
  imp.request_id = id;
  imp.user_id = user;
  imp.context = {7, 8};
  imp.query = "green tea";
  imp.excluded = {3};
  imp.model_version = 4;
  for (int i = 0; i < 3; ++i) {
    state::ShownItem s;
    s.item_index = 10 + i;
    s.item_id = "item-" + std::to_string(i);
    s.score = 0.5f + static_cast<float>(i);
    s.propensity = 0.5 + 0.1 * i;
    s.selection_probability = 0.2 + 0.01 * i;
    imp.slate.push_back(s);
  }
  return imp;
}

// One run of the serving side's join on a store: a buffer and a log.
struct JoinSide {
  JoinSide(StateStore* store, Clock* clock, const std::string& aggregation, uint64_t learned_through) {
    config::ImpressionLogOptions o;
    o.reward_wait_ms = 1000;
    o.default_reward = -0.5;
    o.feedback_aggregation = aggregation;
    auto restored = buffer.Restore(store, learned_through);
    EXPECT_TRUE(restored.ok()) << restored.status();
    restored_experiences = restored.ok() ? *restored : -1;
    log = std::move(*state::ImpressionLog::Create(o, clock, &buffer));
    log->AttachStore(store);
    auto open = log->Restore();
    EXPECT_TRUE(open.ok()) << open.status();
    restored_impressions = open.ok() ? *open : -1;
  }
  state::ExperienceBuffer buffer{1000};
  std::unique_ptr<state::ImpressionLog> log;
  int64_t restored_experiences = 0;
  int64_t restored_impressions = 0;
};

TEST(DurableJoinTest, ARestartKeepsOpenImpressionsJoinsAndUnlearnedExperiences) {
  const std::string dir = FreshDir("join");
  FakeClock clock;
  const absl::Time t0 = clock.Now();
  {
    auto store = Open(dir);
    JoinSide run(store.get(), &clock, "first", 0);
    EXPECT_EQ(run.restored_impressions, 0);
    run.log->Record(MakeImpression("r1", "alice"));
    clock.Advance(absl::Milliseconds(100));
    run.log->Record(MakeImpression("r2", "bob"));
    ASSERT_EQ(*run.log->Join("r1", "alice", "item-1", 1.0), state::JoinOutcome::kJoined);
    ASSERT_EQ(*run.log->Join("r2", "bob", "item-0", 0.0), state::JoinOutcome::kJoined);
    // The learner took the first one; nothing is checkpointed yet.
    auto popped = run.buffer.PopBatch(1);
    ASSERT_EQ(popped.size(), 1u);
    EXPECT_EQ(popped[0].seq, 1u);
  }  // the process ends without any shutdown step

  auto store = Open(dir);
  JoinSide run(store.get(), &clock, "first", /*learned_through=*/0);
  EXPECT_EQ(run.restored_impressions, 2);
  // Both experiences come back: the one popped was not in a checkpoint.
  EXPECT_EQ(run.restored_experiences, 2);
  auto back = run.buffer.PopBatch(10);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].seq, 1u);
  EXPECT_EQ(back[0].request_id, "r1");
  EXPECT_EQ(back[0].item_index, 11);
  EXPECT_DOUBLE_EQ(back[0].propensity, 0.6);
  EXPECT_DOUBLE_EQ(back[0].selection_probability, 0.21);
  EXPECT_FLOAT_EQ(back[0].served_score, 1.5f);
  EXPECT_THAT(back[0].context, ElementsAre(7, 8));
  EXPECT_THAT(back[0].excluded, ElementsAre(3));
  EXPECT_EQ(back[0].query, "green tea");
  EXPECT_EQ(back[0].model_version, 4);
  EXPECT_EQ(back[1].request_id, "r2");
  // The joins are remembered: a repeat is a duplicate, a new item joins.
  EXPECT_EQ(*run.log->Join("r1", "alice", "item-1", 1.0), state::JoinOutcome::kDuplicate);
  EXPECT_EQ(*run.log->Join("r1", "alice", "item-2", 1.0), state::JoinOutcome::kJoined);
  EXPECT_EQ(run.buffer.PopBatch(10)[0].seq, 3u);  // numbering goes on
  // r1 closes on its original schedule: logged at t0, 1000 ms to wait.
  clock.Advance(absl::Milliseconds(850));
  EXPECT_EQ(run.log->ExpireDue(), 0);
  clock.Advance(absl::Milliseconds(50));
  EXPECT_EQ(run.log->ExpireDue(), 1);
  EXPECT_EQ(clock.Now() - t0, absl::Milliseconds(1000));
  auto expired = run.buffer.PopBatch(10);
  ASSERT_EQ(expired.size(), 1u);  // item-0 was never answered
  EXPECT_EQ(expired[0].source, state::Experience::Source::kExpired);
  EXPECT_DOUBLE_EQ(expired[0].reward, -0.5);
  // Its records left the store with it; r2's stay.
  EXPECT_THAT(Keys(*store, kImpressionPrefix), ElementsAre(ImpressionKey("r2")));
  EXPECT_EQ(Keys(*store, FeedbackKeyPrefix("r1")).size(), 0u);
  EXPECT_EQ(Keys(*store, FeedbackKeyPrefix("r2")).size(), 1u);
}

TEST(DurableJoinTest, ACheckpointedPrefixIsNotReplayedAndSumsGoOn) {
  const std::string dir = FreshDir("sum");
  FakeClock clock;
  {
    auto store = Open(dir);
    JoinSide run(store.get(), &clock, "sum", 0);
    run.log->Record(MakeImpression("r1", "alice"));
    ASSERT_TRUE(run.buffer.TryPush(state::Experience{}, nullptr).ok());  // seq 1, not journaled
    WriteBatch organic;
    state::Experience e;
    e.source = state::Experience::Source::kOrganic;
    e.user_id = "carol";
    e.item_index = 5;
    e.reward = 1;
    ASSERT_TRUE(run.buffer.TryPush(e, &organic).ok());  // seq 2
    ASSERT_TRUE(store->Write(organic).ok());
    ASSERT_EQ(*run.log->Join("r1", "alice", "item-2", 2.0), state::JoinOutcome::kJoined);
    ASSERT_EQ(*run.log->Join("r1", "alice", "item-2", 0.5), state::JoinOutcome::kDuplicate);
  }
  auto store = Open(dir);
  // A checkpoint learned through seq 2: the organic event is not replayed.
  JoinSide run(store.get(), &clock, "sum", /*learned_through=*/2);
  EXPECT_EQ(run.restored_experiences, 0);
  EXPECT_EQ(Keys(*store, kExperiencePrefix).size(), 0u);
  EXPECT_EQ(run.buffer.stats().reserved, 1);  // the summed slot is held again
  ASSERT_EQ(*run.log->Join("r1", "alice", "item-2", 0.25), state::JoinOutcome::kDuplicate);
  clock.Advance(absl::Seconds(2));
  run.log->ExpireDue();
  auto out = run.buffer.PopBatch(10);
  ASSERT_EQ(out.size(), 3u);
  double summed = 0;
  for (const auto& x : out) {
    if (x.item_index == 12) summed = x.reward;
    EXPECT_GT(x.seq, 2u);
  }
  EXPECT_DOUBLE_EQ(summed, 2.75);
}

// ------------------------------------------------------------------ users

config::UserStateOptions TwoUsersInMemory() {
  config::UserStateOptions o;
  o.num_shards = 1;
  o.max_cached_users = 2;
  o.history_length = 3;
  return o;
}

TEST(DurableUsersTest, EvictedUsersComeBackFromTheStoreWithTheirHistoryAndTaste) {
  const std::string dir = FreshDir("users");
  auto store = Open(dir);
  auto users = *state::UserState::Create(TwoUsersInMemory(), /*taste_dim=*/2, store.get());
  const std::vector<float> x = {1.0f, -0.5f};
  users->LearnTaste("alice", x, 0.0, 1.0);
  const std::vector<float> alice_taste = users->Taste("alice");
  ASSERT_EQ(alice_taste.size(), 2u);
  for (int i = 1; i <= 4; ++i) ASSERT_TRUE(users->Append("alice", i).ok());
  ASSERT_TRUE(users->Append("bob", 20).ok());
  EXPECT_EQ(users->evicted(), 0);
  ASSERT_TRUE(users->Append("carol", 30).ok());  // alice is the least recent
  EXPECT_EQ(users->evicted(), 1);
  EXPECT_EQ(users->num_users(), 2);
  // Back from the store, as she was (the taste was written at eviction).
  EXPECT_THAT(users->History("alice"), ElementsAre(2, 3, 4));
  EXPECT_THAT(users->Consumed("alice"), ElementsAre(1, 2, 3, 4));
  EXPECT_EQ(users->Taste("alice"), alice_taste);
  EXPECT_EQ(users->num_users(), 2);
  EXPECT_EQ(users->evicted(), 2);  // bob made room for her
  // An unknown user is not cached by a read.
  EXPECT_TRUE(users->History("nobody").empty());
  EXPECT_EQ(users->evicted(), 2);

  // Many users, memory stays at the bound; each one still comes back.
  for (int u = 0; u < 500; ++u) ASSERT_TRUE(users->Append("user-" + std::to_string(u), u).ok());
  EXPECT_EQ(users->num_users(), 2);
  EXPECT_THAT(users->History("user-17"), ElementsAre(17));

  // A restart: histories written at every Append, tastes at the flush.
  users->LearnTaste("dave", x, 0.0, 0.0);
  const std::vector<float> dave_taste = users->Taste("dave");
  ASSERT_EQ(*users->FlushTastes(), 1);
  users.reset();
  auto again = *state::UserState::Create(TwoUsersInMemory(), 2, store.get());
  EXPECT_THAT(again->History("alice"), ElementsAre(2, 3, 4));
  EXPECT_THAT(again->History("carol"), ElementsAre(30));
  EXPECT_EQ(again->Taste("dave"), dave_taste);
}

TEST(DurableUsersTest, WithoutAStoreEvictedUsersAreForgottenAndCounted) {
  auto users = *state::UserState::Create(TwoUsersInMemory());
  for (const char* u : {"a", "b", "c"}) ASSERT_TRUE(users->Append(u, 1).ok());
  EXPECT_EQ(users->evicted(), 1);
  EXPECT_TRUE(users->History("a").empty());
  EXPECT_THAT(users->History("c"), ElementsAre(1));
}

// ---------------------------------------------------------------- catalog

model::CatalogItem Item(const std::string& id, const std::string& text) {
  model::CatalogItem item;
  item.item_id = id;
  item.title = "title of " + id;
  item.text = text;
  item.tags = {"t1", "t2"};
  item.text_embedding = {0.5f, 0.25f};
  return item;
}

TEST(DurableCatalogTest, UpsertsAreStoredInIndexOrder) {
  const std::string dir = FreshDir("catalog");
  auto store = Open(dir);
  config::CatalogOptions o;
  o.max_items = 10;
  auto catalog = *model::Catalog::Create(o, store.get());
  ASSERT_TRUE(catalog->Upsert({Item("b", "first"), Item("a", "second")}).ok());
  ASSERT_TRUE(catalog->Upsert({Item("a", "second, revised"), Item("c", "third")}).ok());
  auto stored = model::ReadStoredCatalog(*store);
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_EQ(stored->size(), 3u);
  EXPECT_EQ((*stored)[0].item_id, "b");
  EXPECT_EQ((*stored)[1].item_id, "a");
  EXPECT_EQ((*stored)[1].text, "second, revised");
  EXPECT_THAT((*stored)[1].tags, ElementsAre("t1", "t2"));
  EXPECT_EQ((*stored)[2].item_id, "c");
  // A damaged record is refused, naming the store.
  WriteBatch damage;
  damage.Put(CatalogKey(1), "\xff\xff not a record");
  ASSERT_TRUE(store->Write(damage).ok());
  auto bad = model::ReadStoredCatalog(*store);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr(store->path()));
}

// Joins, evictions and flushes from many threads on one store: nothing
// acknowledged is missing from it afterwards (ASan and TSan run this).
TEST(DurableStoreConcurrencyTest, ManyThreadsJoinEvictAndFlushOnOneStore) {
  const std::string dir = FreshDir("concurrency");
  auto store = Open(dir);
  FakeClock clock;
  JoinSide join(store.get(), &clock, "first", 0);
  config::UserStateOptions user_options;
  user_options.num_shards = 2;
  user_options.max_cached_users = 8;
  auto users = *state::UserState::Create(user_options, 2, store.get());
  constexpr int kThreads = 4, kPerThread = 40;
  std::atomic<bool> done{false};
  std::thread flusher([&] {
    while (!done.load()) {
      EXPECT_TRUE(users->FlushTastes().ok());
      join.log->ExpireDue();
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string id = "r" + std::to_string(t) + "-" + std::to_string(i);
        const std::string user = "user-" + std::to_string(t) + "-" + std::to_string(i % 5);
        join.log->Record(MakeImpression(id, user));
        auto joined = join.log->Join(id, user, "item-1", 1.0);
        ASSERT_TRUE(joined.ok()) << joined.status();
        ASSERT_TRUE(users->Append(user, i).ok());
        users->LearnTaste(user, {0.5f, 0.5f}, 0.0, 1.0);
      }
    });
  }
  for (auto& th : threads) th.join();
  done.store(true);
  flusher.join();
  EXPECT_EQ(join.buffer.size(), kThreads * kPerThread);
  EXPECT_EQ(Keys(*store, kExperiencePrefix).size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(Keys(*store, kImpressionPrefix).size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_GT(users->evicted(), 0);
  ASSERT_TRUE(users->FlushTastes().ok());
  users.reset();
  auto again = *state::UserState::Create(user_options, 2, store.get());
  for (int t = 0; t < kThreads; ++t) {
    for (int u = 0; u < 5; ++u) {
      const std::string user = "user-" + std::to_string(t) + "-" + std::to_string(u);
      std::vector<int64_t> expected;
      for (int i = 0; i < kPerThread; ++i) {
        if (i % 5 == u) expected.push_back(i);
      }
      expected.erase(expected.begin(), expected.end() - std::min<size_t>(expected.size(), 20));
      EXPECT_EQ(again->History(user), expected) << user;
      EXPECT_EQ(again->Taste(user).size(), 2u) << user;
    }
  }
}

}  // namespace
}  // namespace rtrec::storage
