// Injected time. Components that need "now" take a Clock*, so tests can drive
// time by hand (FakeClock) instead of sleeping.
//
// Thread safety: all methods may be called from any thread.
#ifndef RTREC_COMMON_CLOCK_H_
#define RTREC_COMMON_CLOCK_H_

#include "common/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace rtrec {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// Wall-clock time. A process-wide instance is returned by RealClock::Get().
class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  static Clock* Get() {
    static RealClock* clock = new RealClock();
    return clock;
  }
};

// Time that moves only when a test says so.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::UnixEpoch() + absl::Hours(24))
      : now_(start) {}
  absl::Time Now() const override {
    rtrec::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    rtrec::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  mutable rtrec::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rtrec

#endif  // RTREC_COMMON_CLOCK_H_
