// Dynamic batching of inference requests.
//
// Cut into three parts:
//  * BatchTask: one request; knows its deadline and how to answer itself
//    without being computed (Fail).
//  * BatchQueue: the thread-less decision core. It holds each client's tasks
//    in arrival order and, given "now", says whether a batch is ready:
//    max_batch_size tasks are waiting, or the oldest has waited
//    max_queue_delay. A batch takes one task of each waiting client in turn
//    (round robin), so a client that floods the queue delays the others by
//    at most one request each turn; a client may hold max_queued_per_client
//    tasks. With deadline admission it refuses at once a task whose deadline
//    is before the expected end of its wait and compute (from the measured
//    cost per request), and sets aside a task that would expire during the
//    batch it would join. Tests drive it with a FakeClock's time and
//    recorded costs; no threads, no sleeps.
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
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/refusal.h"
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
  // Who asked (fairness counts against it); "" for a single client.
  std::string client;
  // Set by the batcher when the task is queued.
  absl::Time enqueue_time;
};

// The status payload (type URL) of a refusal that may succeed later: the
// milliseconds after which a retry is expected to be admitted, as decimal
// text. The server sends it to clients as "retry-after-ms" trailing metadata.

using TaskBatch = std::vector<std::unique_ptr<BatchTask>>;

struct BatchQueueLimits {
  // Refuse what cannot finish in time; set aside what would expire mid-batch.
  bool deadline_admission = false;
  // Tasks one client may hold; 0 = no bound.
  int64_t max_queued_per_client = 0;
  // Batches computed at once (the inference threads).
  int64_t parallel_batches = 1;
};

class BatchQueue {
 public:
  using Limits = BatchQueueLimits;

  BatchQueue(int64_t max_batch_size, absl::Duration max_queue_delay,
             int64_t max_queue_size, Limits limits = Limits());

  // Queues the task, or refuses it (task untouched): RESOURCE_EXHAUSTED when
  // max_queue_size tasks wait or its client holds max_queued_per_client;
  // with deadline admission, DEADLINE_EXCEEDED when its deadline is before
  // ExpectedFinish(). Refusals a later retry may pass carry a
  // kRetryAfterMsPayload.
  absl::Status Schedule(std::unique_ptr<BatchTask>& task, absl::Time now);

  // Moves every task whose deadline is before `now` (with deadline
  // admission: before the end of the batch it would join) into *expired.
  // Then, if a batch is ready at `now` (or `flush` is set and tasks wait),
  // removes and returns up to max_batch_size tasks, one per client in turn;
  // else returns empty.
  TaskBatch TakeReadyBatch(absl::Time now, TaskBatch* expired, bool flush = false);

  // The earliest time at which TakeReadyBatch may have something to return:
  // the oldest task's close time or the earliest deadline. InfiniteFuture
  // when empty.
  absl::Time NextEventTime() const;

  // A computed batch of `size` tasks took `seconds`: updates the cost per
  // request that admission estimates with (an exponential moving average).
  void RecordBatchCost(int64_t size, double seconds);
  // The cost per request measured so far (zero before the first batch).
  absl::Duration cost_per_request() const { return cost_per_request_; }
  // When a task of `client` queued now would be answered: the tasks served
  // before it (each other client's up to its own count, in turn) and its own
  // batch, at the measured cost.
  absl::Time ExpectedFinish(const std::string& client, absl::Time now) const;

  int64_t size() const { return size_; }
  int64_t refused_deadline() const { return refused_deadline_; }
  int64_t refused_client_limit() const { return refused_client_limit_; }

 private:
  int64_t QueuedOf(const std::string& client) const;
  absl::Status Refusal(absl::StatusCode code, const char* reason, std::string message,
                       absl::Duration retry_after) const;

  const int64_t max_batch_size_;
  const absl::Duration max_queue_delay_;
  const int64_t max_queue_size_;
  const Limits limits_;
  // Batches computed at once, as a divisor (at least 1).
  const double parallel_;
  // Exactly the clients with queued tasks: their tasks in arrival order, and
  // each once in `turns_`, in the order their turn comes.
  absl::flat_hash_map<std::string, std::deque<std::unique_ptr<BatchTask>>> clients_;
  std::deque<std::string> turns_;
  int64_t size_ = 0;
  absl::Duration cost_per_request_ = absl::ZeroDuration();
  int64_t refused_deadline_ = 0;
  int64_t refused_client_limit_ = 0;
};

struct BatcherStats {
  int64_t batches = 0;
  int64_t batched_requests = 0;
  int64_t largest_batch_size = 0;
  int64_t expired = 0;
  int64_t rejected_full = 0;
  // Refused by deadline admission / the per-client bound.
  int64_t refused_deadline = 0;
  int64_t refused_client_limit = 0;
  // The measured cost per request admission estimates with, seconds.
  double cost_per_request_seconds = 0;
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
