// HandoffNotifier: wakes StreamHandoffs streams that have caught up, when a
// commit creates handoffs (the store's on_handoffs hook) — and, since other
// replicas' commits do not call the hook, once every `poll` of real time.
//
// Thread-safe. Wake callbacks run on the writer thread or the notifier's
// thread, outside its lock; they must not block.
#ifndef COLLECTIONS_SERVER_HANDOFF_NOTIFIER_H_
#define COLLECTIONS_SERVER_HANDOFF_NOTIFIER_H_

#include <cstdint>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace collections::server {

class HandoffNotifier {
 public:
  // stopping: the server is shutting down; otherwise look again.
  using WakeFn = std::function<void(bool stopping)>;

  explicit HandoffNotifier(absl::Duration poll = absl::Seconds(1)) {
    thread_ = std::thread([this, poll] {
      absl::MutexLock lock(&mu_);
      while (!stopping_) {
        mu_.AwaitWithTimeout(absl::Condition(&stopping_), poll);
        if (stopping_) break;
        WakeAllLocked();
      }
    });
  }
  ~HandoffNotifier() { Stop(); }

  uint64_t epoch() const {
    absl::MutexLock lock(&mu_);
    return epoch_;
  }

  // Calls `wake` once: at once when handoffs were committed since `epoch`
  // (read before the caller last looked), else at the next commit or poll.
  void Wait(uint64_t epoch, WakeFn wake) {
    bool now = false, stopping = false;
    {
      absl::MutexLock lock(&mu_);
      stopping = stopping_;
      now = stopping_ || epoch_ != epoch;
      if (!now) waiters_.push_back(std::move(wake));
    }
    if (now) wake(stopping);
  }

  void Notify() {
    absl::MutexLock lock(&mu_);
    ++epoch_;
    WakeAllLocked();
  }

  // Wakes every waiter with stopping = true; later waits get it at once.
  void Stop() {
    std::vector<WakeFn> waiters;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_ && !thread_.joinable()) return;
      stopping_ = true;
      waiters.swap(waiters_);
    }
    for (WakeFn& w : waiters) w(true);
    if (thread_.joinable()) thread_.join();
  }

 private:
  // Runs the waiters outside the lock (they may Wait again at once).
  void WakeAllLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (waiters_.empty()) return;
    std::vector<WakeFn> waiters;
    waiters.swap(waiters_);
    mu_.Unlock();
    for (WakeFn& w : waiters) w(false);
    mu_.Lock();
  }

  mutable absl::Mutex mu_;
  uint64_t epoch_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<WakeFn> waiters_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_HANDOFF_NOTIFIER_H_
