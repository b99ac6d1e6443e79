// rtrec's mutex, condition variable and notification: absl's, made visible to
// ThreadSanitizer.
//
// Debian ships Abseil compiled without ThreadSanitizer, so a TSan build sees
// neither absl::Mutex's lock nor its unlock and reports every guarded access
// as a race. These wrappers add the happens-before edges TSan needs
// (__tsan_release before an unlock, __tsan_acquire after a lock) when the
// build is instrumented (-fsanitize=thread, RTREC_SANITIZE=thread) and compile
// to plain absl calls otherwise. Clang's thread-safety annotations work on
// them as on absl's.
//
// Thread safety: as absl::Mutex, absl::CondVar and absl::Notification.
#ifndef RTREC_COMMON_MUTEX_H_
#define RTREC_COMMON_MUTEX_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define RTREC_TSAN_ACQUIRE(addr) __tsan_acquire(const_cast<void*>(static_cast<const void*>(addr)))
#define RTREC_TSAN_RELEASE(addr) __tsan_release(const_cast<void*>(static_cast<const void*>(addr)))
#else
#define RTREC_TSAN_ACQUIRE(addr) static_cast<void>(addr)
#define RTREC_TSAN_RELEASE(addr) static_cast<void>(addr)
#endif

namespace rtrec {

class CondVar;

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    mu_.Lock();
    RTREC_TSAN_ACQUIRE(this);
  }
  void Unlock() ABSL_UNLOCK_FUNCTION() {
    RTREC_TSAN_RELEASE(this);
    mu_.Unlock();
  }
  void AssertHeld() const ABSL_ASSERT_EXCLUSIVE_LOCK() { mu_.AssertHeld(); }

  // Releases the lock until `cond` holds, then holds it again.
  void Await(const absl::Condition& cond) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    RTREC_TSAN_RELEASE(this);
#if defined(__SANITIZE_THREAD__)
    Guarded guarded{&cond, this};
    mu_.Await(absl::Condition(&Guarded::Eval, &guarded));
#else
    mu_.Await(cond);
#endif
    RTREC_TSAN_ACQUIRE(this);
  }
  // As Await, giving up after `timeout`; returns whether `cond` holds.
  bool AwaitWithTimeout(const absl::Condition& cond, absl::Duration timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    RTREC_TSAN_RELEASE(this);
#if defined(__SANITIZE_THREAD__)
    Guarded guarded{&cond, this};
    const bool met = mu_.AwaitWithTimeout(absl::Condition(&Guarded::Eval, &guarded), timeout);
#else
    const bool met = mu_.AwaitWithTimeout(cond, timeout);
#endif
    RTREC_TSAN_ACQUIRE(this);
    return met;
  }

 private:
  friend class CondVar;
  // absl evaluates a waiter's condition with the lock held, on the waiting
  // thread or on the thread that is unlocking; either way the evaluation is
  // inside the critical section, and TSan is told so.
  struct Guarded {
    const absl::Condition* cond;
    const Mutex* mu;
    static bool Eval(Guarded* g) {
      RTREC_TSAN_ACQUIRE(g->mu);
      const bool result = g->cond->Eval();
      RTREC_TSAN_RELEASE(g->mu);
      return result;
    }
  };
  mutable absl::Mutex mu_;
};

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }

 private:
  Mutex* const mu_;
};

class CondVar {
 public:
  // REQUIRES: `mu` is held; it is released while waiting and held again after.
  void Wait(Mutex* mu) {
    RTREC_TSAN_RELEASE(mu);
    cv_.Wait(&mu->mu_);
    RTREC_TSAN_ACQUIRE(mu);
  }
  // Returns true when the wait timed out.
  bool WaitWithTimeout(Mutex* mu, absl::Duration timeout) {
    RTREC_TSAN_RELEASE(mu);
    const bool timed_out = cv_.WaitWithTimeout(&mu->mu_, timeout);
    RTREC_TSAN_ACQUIRE(mu);
    return timed_out;
  }
  void Signal() { cv_.Signal(); }
  void SignalAll() { cv_.SignalAll(); }

 private:
  absl::CondVar cv_;
};

class Notification {
 public:
  void Notify() {
    RTREC_TSAN_RELEASE(this);
    n_.Notify();
  }
  bool HasBeenNotified() const {
    const bool notified = n_.HasBeenNotified();
    if (notified) RTREC_TSAN_ACQUIRE(this);
    return notified;
  }
  void WaitForNotification() const {
    n_.WaitForNotification();
    RTREC_TSAN_ACQUIRE(this);
  }
  bool WaitForNotificationWithTimeout(absl::Duration timeout) const {
    const bool notified = n_.WaitForNotificationWithTimeout(timeout);
    if (notified) RTREC_TSAN_ACQUIRE(this);
    return notified;
  }

 private:
  absl::Notification n_;
};

}  // namespace rtrec

#endif  // RTREC_COMMON_MUTEX_H_
