// Executor: a fixed pool of threads for blocking work (database reads,
// aging runs) so that gRPC's callback threads only ever react. Work for an
// RPC is admitted by TrySchedule, which refuses it at once past
// `max_queued` waiting tasks (admission control); the server's own work
// (Schedule) is never refused.
//
// Thread-safe. The destructor runs every task already scheduled, then joins.
#ifndef COLLECTIONS_SERVER_EXECUTOR_H_
#define COLLECTIONS_SERVER_EXECUTOR_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/commands.h"

namespace collections::server {

class Executor {
 public:
  // max_queued: 0 for no bound.
  explicit Executor(int threads, int max_queued = 0) : max_queued_(max_queued) {
    for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { Loop(); });
  }
  ~Executor() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    for (std::thread& t : workers_) t.join();
  }
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  void Schedule(std::function<void()> task) {
    absl::MutexLock lock(&mu_);
    queue_.push_back(std::move(task));
  }

  // Schedule, unless `max_queued` tasks are waiting already: then
  // RESOURCE_EXHAUSTED (with the back-off hint) and `task` is dropped.
  absl::Status TrySchedule(std::function<void()> task) {
    {
      absl::MutexLock lock(&mu_);
      if (max_queued_ <= 0 || queue_.size() < static_cast<size_t>(max_queued_)) {
        queue_.push_back(std::move(task));
        return absl::OkStatus();
      }
    }
    return WithRetryHint(absl::ResourceExhaustedError(
        absl::StrCat("the server has ", max_queued_, " requests queued for its worker threads")));
  }

  // Tasks waiting for a thread now.
  int queued() const {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(queue_.size());
  }

 private:
  void Loop() {
    while (true) {
      std::function<void()> task;
      {
        absl::MutexLock lock(&mu_);
        // Await evaluates the condition with mu_ held; the analysis cannot
        // see that through the function pointer.
        mu_.Await(absl::Condition(
            +[](Executor* e)
                 ABSL_NO_THREAD_SAFETY_ANALYSIS { return e->stopping_ || !e->queue_.empty(); },
            this));
        if (queue_.empty()) return;  // stopping and drained
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }

  const int max_queued_;
  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_EXECUTOR_H_
