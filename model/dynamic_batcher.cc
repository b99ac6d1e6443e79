#include "model/dynamic_batcher.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace rtrec::model {

BatchQueue::BatchQueue(int64_t max_batch_size, absl::Duration max_queue_delay,
                       int64_t max_queue_size)
    : max_batch_size_(max_batch_size),
      max_queue_delay_(max_queue_delay),
      max_queue_size_(max_queue_size) {}

absl::Status BatchQueue::Schedule(std::unique_ptr<BatchTask>& task, absl::Time now) {
  if (size() >= max_queue_size_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "inference queue is full (", max_queue_size_,
        " requests waiting, batcher.max_queue_size); retry later"));
  }
  task->enqueue_time = now;
  tasks_.push_back(std::move(task));
  return absl::OkStatus();
}

TaskBatch BatchQueue::TakeReadyBatch(absl::Time now, TaskBatch* expired, bool flush) {
  for (auto it = tasks_.begin(); it != tasks_.end();) {
    if ((*it)->deadline < now) {
      expired->push_back(std::move(*it));
      it = tasks_.erase(it);
    } else {
      ++it;
    }
  }
  TaskBatch batch;
  if (tasks_.empty()) return batch;
  const bool full = size() >= max_batch_size_;
  const bool waited = now - tasks_.front()->enqueue_time >= max_queue_delay_;
  if (!full && !waited && !flush) return batch;
  const int64_t n = std::min(size(), max_batch_size_);
  for (int64_t i = 0; i < n; ++i) {
    batch.push_back(std::move(tasks_.front()));
    tasks_.pop_front();
  }
  return batch;
}

absl::Time BatchQueue::NextEventTime() const {
  if (tasks_.empty()) return absl::InfiniteFuture();
  absl::Time next = tasks_.front()->enqueue_time + max_queue_delay_;
  for (const auto& t : tasks_) next = std::min(next, t->deadline);
  return next;
}

DynamicBatcher::DynamicBatcher(const config::BatcherOptions& options,
                               ProcessFn process, Clock* clock)
    : options_(options),
      process_(std::move(process)),
      clock_(clock),
      queue_(options.max_batch_size, absl::Microseconds(options.max_queue_delay_us),
             options.max_queue_size) {}

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
      status = absl::UnavailableError("server is shutting down");
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
      task->Fail(absl::DeadlineExceededError(
          "deadline passed while the request waited in the inference queue"));
    }
    if (!batch.empty()) process_(std::move(batch));
  }
}

}  // namespace rtrec::model
