// Executor: a fixed pool of threads for blocking work (database reads,
// aging runs) so that gRPC's callback threads only ever react.
//
// Thread-safe. The destructor runs every task already scheduled, then joins.
#ifndef COLLECTIONS_SERVER_EXECUTOR_H_
#define COLLECTIONS_SERVER_EXECUTOR_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace collections::server {

class Executor {
 public:
  explicit Executor(int threads) {
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

  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_EXECUTOR_H_
