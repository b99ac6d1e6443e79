// Dynamic batching of inference requests.
//
// Cut into three parts:
//  * BatchTask: one request; knows its deadline and how to answer itself
//    without being computed (Fail).
//  * BatchQueue: the thread-less decision core. It holds tasks in arrival
//    order and, given "now", says whether a batch is ready: max_batch_size
//    tasks are waiting, or the oldest has waited max_queue_delay. Tests drive
//    it with a FakeClock's time; no threads, no sleeps.
//  * DynamicBatcher: N inference threads around one BatchQueue. Schedule()
//    never blocks: a full queue answers RESOURCE_EXHAUSTED at once. A task
//    whose deadline passes while queued is answered DEADLINE_EXCEEDED and is
//    never computed. On destruction, queued tasks are answered UNAVAILABLE.
//
// Thread safety: DynamicBatcher is thread-safe. BatchQueue is not; the
// DynamicBatcher guards it with its mutex.
#ifndef RTREC_MODEL_DYNAMIC_BATCHER_H_
#define RTREC_MODEL_DYNAMIC_BATCHER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "config/options.h"

namespace rtrec::model {

class BatchTask {
 public:
  virtual ~BatchTask() = default;
  // Answers the task with an error instead of computing it. Called at most
  // once, and never for a task handed to the batch processor.
  virtual void Fail(const absl::Status& status) = 0;

  // The caller's deadline; InfiniteFuture when it has none.
  absl::Time deadline = absl::InfiniteFuture();
  // Set by the batcher when the task is queued.
  absl::Time enqueue_time;
};

using TaskBatch = std::vector<std::unique_ptr<BatchTask>>;

class BatchQueue {
 public:
  BatchQueue(int64_t max_batch_size, absl::Duration max_queue_delay,
             int64_t max_queue_size);

  // Queues the task, or returns RESOURCE_EXHAUSTED (task untouched) when
  // max_queue_size tasks are waiting.
  absl::Status Schedule(std::unique_ptr<BatchTask>& task, absl::Time now);

  // Moves every task whose deadline is before `now` into *expired. Then, if
  // a batch is ready at `now` (or `flush` is set and tasks wait), removes and
  // returns up to max_batch_size tasks in arrival order; else returns empty.
  TaskBatch TakeReadyBatch(absl::Time now, TaskBatch* expired, bool flush = false);

  // The earliest time at which TakeReadyBatch may have something to return:
  // the oldest task's close time or the earliest deadline. InfiniteFuture
  // when empty.
  absl::Time NextEventTime() const;

  int64_t size() const { return static_cast<int64_t>(tasks_.size()); }

 private:
  const int64_t max_batch_size_;
  const absl::Duration max_queue_delay_;
  const int64_t max_queue_size_;
  std::deque<std::unique_ptr<BatchTask>> tasks_;
};

struct BatcherStats {
  int64_t batches = 0;
  int64_t batched_requests = 0;
  int64_t largest_batch_size = 0;
  int64_t expired = 0;
  int64_t rejected_full = 0;
  int64_t queue_depth = 0;
};

class DynamicBatcher {
 public:
  // Computes a batch. Must answer every task in it. Runs on an inference
  // thread; may block for the length of one forward pass.
  using ProcessFn = std::function<void(TaskBatch)>;

  static absl::StatusOr<std::unique_ptr<DynamicBatcher>> Create(
      const config::BatcherOptions& options, ProcessFn process, Clock* clock);
  ~DynamicBatcher();

  DynamicBatcher(const DynamicBatcher&) = delete;
  DynamicBatcher& operator=(const DynamicBatcher&) = delete;

  // Never blocks. On error the task has been answered with the same status.
  absl::Status Schedule(std::unique_ptr<BatchTask> task) ABSL_LOCKS_EXCLUDED(mu_);

  // Wakes the inference threads to look at the queue again; tests call it
  // after moving a FakeClock.
  void Poke();

  BatcherStats stats() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  DynamicBatcher(const config::BatcherOptions& options, ProcessFn process,
                 Clock* clock);
  void Run() ABSL_LOCKS_EXCLUDED(mu_);

  const config::BatcherOptions options_;
  const ProcessFn process_;
  Clock* const clock_;

  mutable rtrec::Mutex mu_;
  rtrec::CondVar wake_;
  BatchQueue queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  BatcherStats stats_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
};

}  // namespace rtrec::model

#endif  // RTREC_MODEL_DYNAMIC_BATCHER_H_
