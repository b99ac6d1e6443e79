// Runs closures one at a time, in order, on one background thread. Used for
// work that must not run inside a gRPC reactor callback (encoding upserted
// items with BERT).
//
// Thread safety: Add() may be called from any thread. The destructor runs
// what is queued, then joins.
#ifndef RTREC_COMMON_SERIAL_EXECUTOR_H_
#define RTREC_COMMON_SERIAL_EXECUTOR_H_

#include <deque>
#include <functional>
#include <thread>
#include <utility>

#include "common/mutex.h"

namespace rtrec {

class SerialExecutor {
 public:
  SerialExecutor() : thread_([this] { Run(); }) {}
  ~SerialExecutor() {
    {
      rtrec::MutexLock lock(&mu_);
      stopping_ = true;
    }
    thread_.join();
  }
  SerialExecutor(const SerialExecutor&) = delete;
  SerialExecutor& operator=(const SerialExecutor&) = delete;

  void Add(std::function<void()> fn) ABSL_LOCKS_EXCLUDED(mu_) {
    rtrec::MutexLock lock(&mu_);
    queue_.push_back(std::move(fn));
  }

 private:
  void Run() {
    for (;;) {
      std::function<void()> fn;
      {
        rtrec::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](SerialExecutor* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(e->mu_) {
              return e->stopping_ || !e->queue_.empty();
            },
            this));
        if (queue_.empty()) return;  // stopping and drained
        fn = std::move(queue_.front());
        queue_.pop_front();
      }
      fn();
    }
  }

  rtrec::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace rtrec

#endif  // RTREC_COMMON_SERIAL_EXECUTOR_H_
