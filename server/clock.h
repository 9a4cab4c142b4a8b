// The server's source of wall-clock time. Everything that reads "now"
// (lease expiry, contact windows, event timestamps) takes a Clock so that
// tests set and advance time instead of sleeping. Business dates are not
// wall-clock time: they live in the database and advance by aging.
#ifndef COLLECTIONS_SERVER_CLOCK_H_
#define COLLECTIONS_SERVER_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace collections::server {

// Thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// absl::Now().
class SystemClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  // A process-wide instance; never destroyed.
  static const Clock& Get();
};

// A clock that only moves when told to. For tests.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1767225600))
      : now_(start) {}  // default start: 2026-01-01T00:00:00Z

  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Set(absl::Time t) {
    absl::MutexLock lock(&mu_);
    now_ = t;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

inline const Clock& SystemClock::Get() {
  static const SystemClock* const clock = new SystemClock();
  return *clock;
}

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_CLOCK_H_
