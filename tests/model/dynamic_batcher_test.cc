#include "model/dynamic_batcher.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

#include "common/mutex.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rtrec::model {
namespace {

// How a task was answered; outlives the task, which the batcher may destroy.
struct Outcome {
  absl::Status failed_with;
  rtrec::Notification failed;
};

class TestTask : public BatchTask {
 public:
  explicit TestTask(int id, absl::Time deadline = absl::InfiniteFuture(),
                    std::shared_ptr<Outcome> outcome = std::make_shared<Outcome>())
      : id(id), outcome(std::move(outcome)) {
    this->deadline = deadline;
  }
  void Fail(const absl::Status& s) override {
    outcome->failed_with = s;
    outcome->failed.Notify();
  }
  int id;
  std::shared_ptr<Outcome> outcome;
};

std::vector<int> Ids(const TaskBatch& batch) {
  std::vector<int> ids;
  for (const auto& t : batch) ids.push_back(static_cast<TestTask*>(t.get())->id);
  return ids;
}

// ------------------------------------------------ BatchQueue, driven by time

TEST(BatchQueueTest, ClosesBySize) {
  FakeClock clock;
  BatchQueue q(/*max_batch_size=*/3, absl::Milliseconds(10), /*max_queue_size=*/100);
  TaskBatch expired;
  for (int i = 0; i < 2; ++i) {
    std::unique_ptr<BatchTask> t = std::make_unique<TestTask>(i);
    ASSERT_TRUE(q.Schedule(t, clock.Now()).ok());
  }
  EXPECT_TRUE(q.TakeReadyBatch(clock.Now(), &expired).empty());  // 2 < 3, no time passed
  std::unique_ptr<BatchTask> t = std::make_unique<TestTask>(2);
  ASSERT_TRUE(q.Schedule(t, clock.Now()).ok());
  std::unique_ptr<BatchTask> t4 = std::make_unique<TestTask>(3);
  ASSERT_TRUE(q.Schedule(t4, clock.Now()).ok());
  TaskBatch batch = q.TakeReadyBatch(clock.Now(), &expired);
  EXPECT_THAT(Ids(batch), ::testing::ElementsAre(0, 1, 2));
  EXPECT_EQ(q.size(), 1);
  EXPECT_TRUE(expired.empty());
}

TEST(BatchQueueTest, ClosesByDelay) {
  FakeClock clock;
  BatchQueue q(/*max_batch_size=*/8, absl::Microseconds(2000), /*max_queue_size=*/100);
  TaskBatch expired;
  std::unique_ptr<BatchTask> a = std::make_unique<TestTask>(0);
  ASSERT_TRUE(q.Schedule(a, clock.Now()).ok());
  clock.Advance(absl::Microseconds(1500));
  std::unique_ptr<BatchTask> b = std::make_unique<TestTask>(1);
  ASSERT_TRUE(q.Schedule(b, clock.Now()).ok());
  EXPECT_EQ(q.NextEventTime(), clock.Now() + absl::Microseconds(500));
  clock.Advance(absl::Microseconds(499));
  EXPECT_TRUE(q.TakeReadyBatch(clock.Now(), &expired).empty());
  clock.Advance(absl::Microseconds(1));
  // The oldest has waited 2000 us: both go, though the batch is not full.
  EXPECT_THAT(Ids(q.TakeReadyBatch(clock.Now(), &expired)), ::testing::ElementsAre(0, 1));
  EXPECT_EQ(q.NextEventTime(), absl::InfiniteFuture());
}

TEST(BatchQueueTest, ExpiredTasksAreSetAsideNotBatched) {
  FakeClock clock;
  BatchQueue q(2, absl::Milliseconds(10), 100);
  std::unique_ptr<BatchTask> soon = std::make_unique<TestTask>(0, clock.Now() + absl::Milliseconds(1));
  std::unique_ptr<BatchTask> later = std::make_unique<TestTask>(1, clock.Now() + absl::Seconds(10));
  ASSERT_TRUE(q.Schedule(soon, clock.Now()).ok());
  ASSERT_TRUE(q.Schedule(later, clock.Now()).ok());
  EXPECT_EQ(q.NextEventTime(), clock.Now() + absl::Milliseconds(1));
  clock.Advance(absl::Milliseconds(2));
  TaskBatch expired;
  TaskBatch batch = q.TakeReadyBatch(clock.Now(), &expired);
  EXPECT_THAT(Ids(expired), ::testing::ElementsAre(0));
  EXPECT_TRUE(batch.empty());  // one task left, not full, not waited long enough
  EXPECT_EQ(q.size(), 1);
}

TEST(BatchQueueTest, FullQueueRefusesAndLeavesTaskWithCaller) {
  FakeClock clock;
  BatchQueue q(4, absl::Milliseconds(1), /*max_queue_size=*/2);
  for (int i = 0; i < 2; ++i) {
    std::unique_ptr<BatchTask> t = std::make_unique<TestTask>(i);
    ASSERT_TRUE(q.Schedule(t, clock.Now()).ok());
  }
  std::unique_ptr<BatchTask> t = std::make_unique<TestTask>(2);
  absl::Status s = q.Schedule(t, clock.Now());
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  ASSERT_NE(t, nullptr);
}

// ------------------------------------- fairness and admission by deadline

std::unique_ptr<BatchTask> ClientTask(int id, const std::string& client,
                                      absl::Time deadline = absl::InfiniteFuture()) {
  auto t = std::make_unique<TestTask>(id, deadline);
  t->client = client;
  return t;
}

TEST(BatchQueueFairnessTest, BatchesTakeOneTaskPerClientInTurn) {
  FakeClock clock;
  BatchQueue q(/*max_batch_size=*/4, absl::Milliseconds(1), /*max_queue_size=*/100);
  // A flood of 10 from "a", then one each from "b" and "c".
  for (int i = 0; i < 10; ++i) {
    auto t = ClientTask(i, "a");
    ASSERT_TRUE(q.Schedule(t, clock.Now()).ok());
  }
  for (auto [id, client] : {std::pair{100, "b"}, std::pair{200, "c"}}) {
    auto t = ClientTask(id, client);
    ASSERT_TRUE(q.Schedule(t, clock.Now()).ok());
  }
  TaskBatch expired;
  clock.Advance(absl::Milliseconds(2));
  // b and c ride in the first batch, not behind a's ten.
  EXPECT_THAT(Ids(q.TakeReadyBatch(clock.Now(), &expired)), ::testing::ElementsAre(0, 100, 200, 1));
  EXPECT_THAT(Ids(q.TakeReadyBatch(clock.Now(), &expired)), ::testing::ElementsAre(2, 3, 4, 5));
  EXPECT_TRUE(expired.empty());
  EXPECT_EQ(q.size(), 4);
}

TEST(BatchQueueFairnessTest, AClientWhoseTasksExpiredComesBackWithOneTurn) {
  FakeClock clock;
  BatchQueue q(/*max_batch_size=*/3, absl::Milliseconds(10), 100);
  auto doomed = ClientTask(1, "a", clock.Now() + absl::Milliseconds(1));
  ASSERT_TRUE(q.Schedule(doomed, clock.Now()).ok());
  auto waiting = ClientTask(10, "b");
  ASSERT_TRUE(q.Schedule(waiting, clock.Now()).ok());
  // a's only task expires while no batch is ready yet.
  clock.Advance(absl::Milliseconds(2));
  TaskBatch expired;
  EXPECT_TRUE(q.TakeReadyBatch(clock.Now(), &expired).empty());
  EXPECT_THAT(Ids(expired), ::testing::ElementsAre(1));
  // a comes back with two tasks, then c with one.
  for (int i = 0; i < 2; ++i) {
    auto t = ClientTask(20 + i, "a");
    ASSERT_TRUE(q.Schedule(t, clock.Now()).ok());
  }
  auto t = ClientTask(30, "c");
  ASSERT_TRUE(q.Schedule(t, clock.Now()).ok());
  // One turn each, in order of arrival at the turns: b, a, c.
  EXPECT_THAT(Ids(q.TakeReadyBatch(clock.Now(), &expired)), ::testing::ElementsAre(10, 20, 30));
}

TEST(BatchQueueFairnessTest, AClientBeyondItsShareIsRefusedWithARetryHint) {
  FakeClock clock;
  BatchQueue q(4, absl::Milliseconds(1), 100, BatchQueueLimits{false, /*max_queued_per_client=*/3, 1});
  q.RecordBatchCost(1, 0.010);
  for (int i = 0; i < 3; ++i) {
    auto t = ClientTask(i, "flood");
    ASSERT_TRUE(q.Schedule(t, clock.Now()).ok());
  }
  auto over = ClientTask(3, "flood");
  absl::Status s = q.Schedule(over, clock.Now());
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("batcher.max_queued_per_client"));
  ASSERT_TRUE(s.GetPayload(kRetryAfterMsPayload).has_value());
  EXPECT_EQ(std::string(*s.GetPayload(kRetryAfterMsPayload)), "10");
  ASSERT_NE(over, nullptr);  // left with the caller
  // Another client is still admitted.
  auto polite = ClientTask(4, "polite");
  EXPECT_TRUE(q.Schedule(polite, clock.Now()).ok());
  EXPECT_EQ(q.refused_client_limit(), 1);
}

TEST(BatchQueueAdmissionTest, RefusesAtOnceWhatCannotFinishBeforeItsDeadline) {
  FakeClock clock;
  BatchQueue q(/*max_batch_size=*/1, absl::ZeroDuration(), 1000, BatchQueueLimits{true, 0, 1});
  // 25 ms a request, one at a time: a 100 ms deadline covers four.
  q.RecordBatchCost(1, 0.025);
  EXPECT_EQ(q.cost_per_request(), absl::Milliseconds(25));
  const absl::Time deadline = clock.Now() + absl::Milliseconds(100);
  int admitted = 0;
  absl::Status refusal;
  for (int i = 0; i < 10; ++i) {
    auto t = ClientTask(i, absl::StrCat("client", i), deadline);
    absl::Status s = q.Schedule(t, clock.Now());
    if (s.ok()) {
      ++admitted;
    } else {
      refusal = s;
    }
  }
  // With n queued ahead a request ends at (n + 1) x 25 ms; it is admitted
  // while that plus a quarter of it as headroom is within 100 ms: n = 0
  // (an empty queue always admits), 1 (62.5 ms), 2 (93.75 ms); not 3 (125 ms).
  EXPECT_EQ(admitted, 3);
  EXPECT_EQ(refusal.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(refusal.message()), ::testing::HasSubstr("exceed the request's deadline"));
  EXPECT_TRUE(refusal.GetPayload(kRetryAfterMsPayload).has_value());
  EXPECT_EQ(q.refused_deadline(), 7);
  // A deadline shorter than one request's compute can never be met.
  auto hopeless = ClientTask(99, "x", clock.Now() + absl::Milliseconds(5));
  EXPECT_EQ(q.Schedule(hopeless, clock.Now()).code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(BatchQueueAdmissionTest, AnEmptyQueueAlwaysAdmitsSoTheCostKeepsBeingMeasured) {
  FakeClock clock;
  BatchQueue q(4, absl::ZeroDuration(), 1000, BatchQueueLimits{true, 0, 1});
  q.RecordBatchCost(1, 10.0);  // a slow first batch (warm-up)
  auto t = ClientTask(1, "a", clock.Now() + absl::Seconds(1));
  ASSERT_TRUE(q.Schedule(t, clock.Now()).ok());
  TaskBatch expired;
  EXPECT_THAT(Ids(q.TakeReadyBatch(clock.Now(), &expired)), ::testing::ElementsAre(1));
  // Faster batches bring the estimate down (moving average, weight 0.2).
  for (int i = 0; i < 60; ++i) q.RecordBatchCost(2, 0.002);
  EXPECT_LT(q.cost_per_request(), absl::Milliseconds(2));
}

TEST(BatchQueueAdmissionTest, ABatchNeverStartsATaskThatWouldExpireBeforeItEnds) {
  FakeClock clock;
  BatchQueue q(/*max_batch_size=*/4, absl::ZeroDuration(), 1000, BatchQueueLimits{true, 0, 1});
  q.RecordBatchCost(1, 0.010);
  const absl::Time t0 = clock.Now();
  // Admitted while their deadlines still covered the estimate...
  for (auto [id, ms] : {std::pair{1, 500}, std::pair{2, 500}, std::pair{3, 500}, std::pair{4, 500}}) {
    auto t = ClientTask(id, absl::StrCat("c", id), t0 + absl::Milliseconds(ms));
    ASSERT_TRUE(q.Schedule(t, t0).ok());
  }
  // ...then the queue stalls until 485 ms: a batch of four ends at 525 ms.
  clock.Advance(absl::Milliseconds(485));
  TaskBatch expired;
  TaskBatch batch = q.TakeReadyBatch(clock.Now(), &expired);
  // The first runs (495 ms); the second would end at 505 ms: set aside, and
  // so are the others; nothing is computed for a caller who has gone.
  EXPECT_THAT(Ids(batch), ::testing::ElementsAre(1));
  EXPECT_THAT(Ids(expired), ::testing::ElementsAre(2, 3, 4));
  EXPECT_EQ(q.size(), 0);
}

TEST(BatchQueueAdmissionTest, WithoutDeadlineAdmissionEverythingWaits) {
  FakeClock clock;
  BatchQueue q(1, absl::ZeroDuration(), 1000, BatchQueueLimits{false, 0, 1});
  q.RecordBatchCost(1, 0.025);
  for (int i = 0; i < 10; ++i) {
    auto t = ClientTask(i, "a", clock.Now() + absl::Milliseconds(100));
    EXPECT_TRUE(q.Schedule(t, clock.Now()).ok());
  }
  EXPECT_EQ(q.refused_deadline(), 0);
}

// ------------------------------------------- DynamicBatcher, with its threads

class Recorder {
 public:
  void Add(TaskBatch batch) {
    rtrec::MutexLock lock(&mu_);
    sizes_.push_back(static_cast<int>(batch.size()));
    for (auto& t : batch) done_.push_back(std::move(t));
  }
  void AwaitTasks(size_t n) {
    rtrec::MutexLock lock(&mu_);
    wanted_ = n;
    mu_.Await(absl::Condition(
        +[](Recorder* r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(r->mu_) { return r->done_.size() >= r->wanted_; },
        this));
  }
  std::vector<int> sizes() {
    rtrec::MutexLock lock(&mu_);
    return sizes_;
  }

 private:
  rtrec::Mutex mu_;
  std::vector<int> sizes_;
  std::vector<std::unique_ptr<BatchTask>> done_;
  size_t wanted_ = 0;
};

TEST(DynamicBatcherConcurrencyTest, ClosesFullBatchesWithoutWaitingForTheDelay) {
  FakeClock clock;  // frozen: the delay can never pass
  Recorder rec;
  config::BatcherOptions o;
  o.max_batch_size = 4;
  o.max_queue_delay_us = 1000000000;
  o.num_threads = 1;
  auto b = DynamicBatcher::Create(o, [&](TaskBatch batch) { rec.Add(std::move(batch)); }, &clock);
  ASSERT_TRUE(b.ok());
  for (int i = 0; i < 8; ++i) ASSERT_TRUE((*b)->Schedule(std::make_unique<TestTask>(i)).ok());
  rec.AwaitTasks(8);
  EXPECT_THAT(rec.sizes(), ::testing::ElementsAre(4, 4));
  EXPECT_EQ((*b)->stats().largest_batch_size, 4);
  EXPECT_EQ((*b)->stats().batched_requests, 8);
}

TEST(DynamicBatcherConcurrencyTest, ClosesPartialBatchWhenTheClockPassesTheDelay) {
  FakeClock clock;
  Recorder rec;
  config::BatcherOptions o;
  o.max_batch_size = 16;
  o.max_queue_delay_us = 5000;
  o.num_threads = 2;
  auto b = DynamicBatcher::Create(o, [&](TaskBatch batch) { rec.Add(std::move(batch)); }, &clock);
  ASSERT_TRUE(b.ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*b)->Schedule(std::make_unique<TestTask>(i)).ok());
  EXPECT_EQ((*b)->stats().batches, 0);
  clock.Advance(absl::Microseconds(5000));
  (*b)->Poke();
  rec.AwaitTasks(3);
  EXPECT_THAT(rec.sizes(), ::testing::ElementsAre(3));
}

TEST(DynamicBatcherConcurrencyTest, ExpiredRequestIsAnsweredDeadlineExceededAndNotComputed) {
  FakeClock clock;
  Recorder rec;
  config::BatcherOptions o;
  o.max_batch_size = 2;
  o.max_queue_delay_us = 1000000000;
  o.num_threads = 1;
  auto b = DynamicBatcher::Create(o, [&](TaskBatch batch) { rec.Add(std::move(batch)); }, &clock);
  ASSERT_TRUE(b.ok());
  auto outcome = std::make_shared<Outcome>();
  ASSERT_TRUE((*b)->Schedule(std::make_unique<TestTask>(0, clock.Now() + absl::Milliseconds(1),
                                                        outcome)).ok());
  clock.Advance(absl::Milliseconds(2));
  (*b)->Poke();
  outcome->failed.WaitForNotification();
  EXPECT_EQ(outcome->failed_with.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(rec.sizes().empty());
  EXPECT_EQ((*b)->stats().expired, 1);
}

TEST(DynamicBatcherConcurrencyTest, FullQueueAnswersResourceExhausted) {
  FakeClock clock;
  rtrec::Notification started, release;
  config::BatcherOptions o;
  o.max_batch_size = 1;
  o.max_queue_delay_us = 0;
  o.max_queue_size = 2;
  o.num_threads = 1;
  std::vector<std::unique_ptr<BatchTask>> done;
  rtrec::Mutex done_mu;
  auto b = DynamicBatcher::Create(o, [&](TaskBatch batch) {
    if (!started.HasBeenNotified()) started.Notify();
    release.WaitForNotification();
    rtrec::MutexLock lock(&done_mu);
    for (auto& t : batch) done.push_back(std::move(t));
  }, &clock);
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE((*b)->Schedule(std::make_unique<TestTask>(0)).ok());
  started.WaitForNotification();  // the only thread is now busy
  ASSERT_TRUE((*b)->Schedule(std::make_unique<TestTask>(1)).ok());
  ASSERT_TRUE((*b)->Schedule(std::make_unique<TestTask>(2)).ok());
  auto outcome = std::make_shared<Outcome>();
  absl::Status s = (*b)->Schedule(std::make_unique<TestTask>(3, absl::InfiniteFuture(), outcome));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  // The refused task was answered with the same status; it is not lost silently.
  EXPECT_TRUE(outcome->failed.HasBeenNotified());
  EXPECT_EQ(outcome->failed_with.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ((*b)->stats().rejected_full, 1);
  release.Notify();
  b->reset();  // drains the queue before the threads stop
  EXPECT_EQ(done.size(), 3u);
}

TEST(DynamicBatcherConcurrencyTest, RefusesBadOptions) {
  FakeClock clock;
  config::BatcherOptions o;
  o.max_batch_size = 0;
  EXPECT_FALSE(DynamicBatcher::Create(o, [](TaskBatch) {}, &clock).ok());
}

}  // namespace
}  // namespace rtrec::model
