#include "model/dynamic_batcher.h"

#include <algorithm>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace rtrec::model {

namespace {

// Weight of the newest batch in the cost per request.
constexpr double kCostSmoothing = 0.2;

}  // namespace

BatchQueue::BatchQueue(int64_t max_batch_size, absl::Duration max_queue_delay,
                       int64_t max_queue_size, Limits limits)
    : max_batch_size_(max_batch_size),
      max_queue_delay_(max_queue_delay),
      max_queue_size_(max_queue_size),
      limits_(limits),
      parallel_(static_cast<double>(std::max<int64_t>(1, limits.parallel_batches))) {}

int64_t BatchQueue::QueuedOf(const std::string& client) const {
  auto it = clients_.find(client);
  return it == clients_.end() ? 0 : static_cast<int64_t>(it->second.size());
}

absl::Status BatchQueue::Refusal(absl::StatusCode code, const char* reason, std::string message,
                                 absl::Duration retry_after) const {
  const int64_t ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(absl::Ceil(retry_after, absl::Milliseconds(1))));
  return WithReason(WithRetryAfter(absl::Status(code, absl::StrCat(message, "; retry after ", ms, " ms")),
                                   retry_after),
                    reason);
}

void BatchQueue::RecordBatchCost(int64_t size, double seconds) {
  if (size <= 0 || !(seconds >= 0)) return;
  const absl::Duration per_request = absl::Seconds(seconds / static_cast<double>(size));
  cost_per_request_ = cost_per_request_ == absl::ZeroDuration()
                          ? per_request
                          : (1 - kCostSmoothing) * cost_per_request_ + kCostSmoothing * per_request;
}

absl::Time BatchQueue::ExpectedFinish(const std::string& client, absl::Time now) const {
  const int64_t mine = QueuedOf(client);
  // Round robin: every other client is served up to one more than this
  // client's own queued count before the new task's turn.
  int64_t ahead = mine;
  for (const auto& [other, tasks] : clients_) {
    if (other != client) ahead += std::min<int64_t>(static_cast<int64_t>(tasks.size()), mine + 1);
  }
  const int64_t own_batch = std::min<int64_t>(ahead + 1, max_batch_size_);
  return now + cost_per_request_ * (static_cast<double>(ahead) / parallel_ + static_cast<double>(own_batch));
}

absl::Status BatchQueue::Schedule(std::unique_ptr<BatchTask>& task, absl::Time now) {
  if (size() >= max_queue_size_) {
    return Refusal(absl::StatusCode::kResourceExhausted, reason::kQueueFull,
                   absl::StrCat("inference queue is full (", max_queue_size_,
                                " requests waiting, batcher.max_queue_size)"),
                   cost_per_request_ * (static_cast<double>(max_batch_size_) / parallel_));
  }
  const int64_t mine = QueuedOf(task->client);
  if (limits_.max_queued_per_client > 0 && mine >= limits_.max_queued_per_client) {
    ++refused_client_limit_;
    return Refusal(absl::StatusCode::kResourceExhausted, reason::kClientLimit,
                   absl::StrCat("this client has ", mine,
                                " requests waiting in the inference queue (batcher.max_queued_per_client)"),
                   cost_per_request_ * (static_cast<double>(clients_.size()) / parallel_));
  }
  // An empty queue always admits: the measured cost only updates when
  // something runs. A request is admitted when its expected end leaves a
  // quarter of the wait as headroom before its deadline (the estimate is an
  // average; batches vary). The retry hint is the wait a request admitted now
  // would have: by then the queue has turned over, and the refused clients
  // come back spread over it instead of at once.
  if (limits_.deadline_admission && size() > 0 && task->deadline != absl::InfiniteFuture()) {
    const absl::Time finish = ExpectedFinish(task->client, now);
    if (finish + (finish - now) / 4 > task->deadline) {
      ++refused_deadline_;
      if (now + cost_per_request_ > task->deadline) {
        return WithReason(absl::DeadlineExceededError(absl::StrCat(
                              "deadline of ", absl::FormatDuration(task->deadline - now),
                              " is shorter than one request's compute (",
                              absl::FormatDuration(cost_per_request_), ")")),
                          reason::kDeadlineTooShort);
      }
      return Refusal(absl::StatusCode::kResourceExhausted, reason::kOverloaded,
                     absl::StrCat("overloaded: the expected queue wait and compute (",
                                  absl::FormatDuration(absl::Trunc(finish - now, absl::Milliseconds(1))),
                                  ") exceed the request's deadline (",
                                  absl::FormatDuration(absl::Trunc(task->deadline - now, absl::Milliseconds(1))),
                                  ")"),
                     finish - now);
    }
  }
  task->enqueue_time = now;
  auto& tasks = clients_[task->client];
  if (tasks.empty()) turns_.push_back(task->client);
  tasks.push_back(std::move(task));
  ++size_;
  return absl::OkStatus();
}

TaskBatch BatchQueue::TakeReadyBatch(absl::Time now, TaskBatch* expired, bool flush) {
  absl::Time oldest = absl::InfiniteFuture();
  bool emptied = false;
  for (auto& [client, tasks] : clients_) {
    for (auto it = tasks.begin(); it != tasks.end();) {
      if ((*it)->deadline < now) {
        expired->push_back(std::move(*it));
        it = tasks.erase(it);
        --size_;
      } else {
        ++it;
      }
    }
    if (tasks.empty()) {
      emptied = true;
    } else {
      oldest = std::min(oldest, tasks.front()->enqueue_time);
    }
  }
  // A client whose every task expired leaves the map and the turns (a new
  // task puts it back at the end, once).
  if (emptied) {
    absl::erase_if(clients_, [](const auto& entry) { return entry.second.empty(); });
    std::deque<std::string> turns;
    for (std::string& client : turns_) {
      if (clients_.contains(client)) turns.push_back(std::move(client));
    }
    turns_ = std::move(turns);
  }
  TaskBatch batch;
  if (size_ == 0) return batch;
  const bool full = size() >= max_batch_size_;
  const bool waited = now - oldest >= max_queue_delay_;
  if (!full && !waited && !flush) return batch;
  // One task per client in turn. With deadline admission a task that would
  // expire before the batch (with it) is computed is set aside; the first
  // task always runs, so the measured cost keeps updating.
  while (static_cast<int64_t>(batch.size()) < max_batch_size_ && !turns_.empty()) {
    const std::string client = std::move(turns_.front());
    turns_.pop_front();
    auto it = clients_.find(client);
    auto& tasks = it->second;
    while (!tasks.empty()) {
      std::unique_ptr<BatchTask> task = std::move(tasks.front());
      tasks.pop_front();
      --size_;
      const absl::Time batch_end =
          now + cost_per_request_ * static_cast<double>(batch.size() + 1);
      if (limits_.deadline_admission && !batch.empty() && task->deadline < batch_end) {
        expired->push_back(std::move(task));
        continue;
      }
      batch.push_back(std::move(task));
      break;
    }
    if (tasks.empty()) {
      clients_.erase(it);
    } else {
      turns_.push_back(client);
    }
  }
  return batch;
}

absl::Time BatchQueue::NextEventTime() const {
  if (size_ == 0) return absl::InfiniteFuture();
  absl::Time next = absl::InfiniteFuture();
  for (const auto& [client, tasks] : clients_) {
    next = std::min(next, tasks.front()->enqueue_time + max_queue_delay_);
    for (const auto& t : tasks) next = std::min(next, t->deadline);
  }
  return next;
}

DynamicBatcher::DynamicBatcher(const config::BatcherOptions& options,
                               ProcessFn process, Clock* clock)
    : options_(options),
      process_(std::move(process)),
      clock_(clock),
      queue_(options.max_batch_size, absl::Microseconds(options.max_queue_delay_us),
             options.max_queue_size,
             BatchQueue::Limits{options.deadline_admission, options.max_queued_per_client,
                                options.num_threads}) {}

absl::StatusOr<std::unique_ptr<DynamicBatcher>> DynamicBatcher::Create(
    const config::BatcherOptions& options, ProcessFn process, Clock* clock) {
  if (options.max_batch_size < 1) {
    return absl::InvalidArgumentError("batcher.max_batch_size: must be at least 1");
  }
  if (options.num_threads < 1) {
    return absl::InvalidArgumentError("batcher.num_threads: must be at least 1");
  }
  if (options.max_queue_size < 1) {
    return absl::InvalidArgumentError("batcher.max_queue_size: must be at least 1");
  }
  if (!process || clock == nullptr) {
    return absl::InvalidArgumentError("DynamicBatcher needs a processor and a clock");
  }
  std::unique_ptr<DynamicBatcher> b(new DynamicBatcher(options, std::move(process), clock));
  for (int64_t i = 0; i < options.num_threads; ++i) {
    b->threads_.emplace_back([raw = b.get()] { raw->Run(); });
  }
  return b;
}

DynamicBatcher::~DynamicBatcher() {
  {
    rtrec::MutexLock lock(&mu_);
    stopping_ = true;
  }
  wake_.SignalAll();
  for (auto& t : threads_) t.join();
}

absl::Status DynamicBatcher::Schedule(std::unique_ptr<BatchTask> task) {
  absl::Status status;
  {
    rtrec::MutexLock lock(&mu_);
    if (stopping_) {
      status = WithReason(WithRetryAfter(absl::UnavailableError("server is shutting down"), absl::Seconds(1)),
                          reason::kShuttingDown);
    } else {
      status = queue_.Schedule(task, clock_->Now());
      if (!status.ok()) ++stats_.rejected_full;
    }
  }
  if (!status.ok()) {
    task->Fail(status);
    return status;
  }
  wake_.Signal();
  return absl::OkStatus();
}

void DynamicBatcher::Poke() { wake_.SignalAll(); }

BatcherStats DynamicBatcher::stats() const {
  rtrec::MutexLock lock(&mu_);
  BatcherStats s = stats_;
  s.queue_depth = queue_.size();
  s.refused_deadline = queue_.refused_deadline();
  s.refused_client_limit = queue_.refused_client_limit();
  s.cost_per_request_seconds = absl::ToDoubleSeconds(queue_.cost_per_request());
  return s;
}

void DynamicBatcher::Run() {
  for (;;) {
    TaskBatch batch;
    TaskBatch expired;
    bool more_ready = false;
    {
      rtrec::MutexLock lock(&mu_);
      for (;;) {
        const absl::Time now = clock_->Now();
        batch = queue_.TakeReadyBatch(now, &expired, /*flush=*/stopping_);
        if (!batch.empty() || !expired.empty()) break;
        if (stopping_) return;
        const absl::Time next = queue_.NextEventTime();
        if (next == absl::InfiniteFuture()) {
          wake_.Wait(&mu_);
        } else {
          wake_.WaitWithTimeout(&mu_, std::max(next - now, absl::Microseconds(50)));
        }
      }
      stats_.expired += static_cast<int64_t>(expired.size());
      if (!batch.empty()) {
        ++stats_.batches;
        stats_.batched_requests += static_cast<int64_t>(batch.size());
        stats_.largest_batch_size =
            std::max(stats_.largest_batch_size, static_cast<int64_t>(batch.size()));
      }
      more_ready = queue_.size() > 0;
    }
    // Decided under the lock; answer and notify after releasing it.
    if (more_ready) wake_.Signal();
    for (auto& task : expired) {
      task->Fail(WithReason(absl::DeadlineExceededError(
                                "deadline passed (or would pass before its batch is computed) "
                                "while the request waited in the inference queue"),
                            reason::kDeadlineExpired));
    }
    if (!batch.empty()) {
      const int64_t size = static_cast<int64_t>(batch.size());
      const absl::Time started = clock_->Now();
      process_(std::move(batch));
      const double seconds = absl::ToDoubleSeconds(clock_->Now() - started);
      rtrec::MutexLock lock(&mu_);
      queue_.RecordBatchCost(size, seconds);
    }
  }
}

}  // namespace rtrec::model
