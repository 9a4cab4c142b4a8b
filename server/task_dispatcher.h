// TaskDispatcher: wakes the claims that wait for work (ClaimTasks
// long-polls, StreamTasks streams) and returns expired leases to their
// queues. No polling loop: a waiting claim wakes when
//  - a commit made tasks of its queues (and types) ready (created, failed
//    or released back, lease expired): the store calls OnTasksReady after
//    the commit, which wakes as many waits as tasks became ready, oldest
//    first;
//  - its recheck time comes: what its claim found would become ready by
//    time passing alone (the next not_before in its queues, which is also
//    when a compliance hold lifts);
//  - its deadline passes (real time: how long the RPC is held), or the
//    dispatcher stops.
// A wait carries the epoch read before its claim ran; when any of its
// queues got ready tasks since, it does not wait at all, so a task that
// became ready between the claim and the registration is never missed.
//
// The thread also reaps expired leases every `reap_interval` of real time,
// reading the injectable clock; tests move a FakeClock and call Tick().
//
// Thread-safe. Wake callbacks run on the store's writer thread or the
// dispatcher's thread, never under the dispatcher's lock and never inside
// Wait(); they must not block.
#ifndef COLLECTIONS_SERVER_TASK_DISPATCHER_H_
#define COLLECTIONS_SERVER_TASK_DISPATCHER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/clock.h"
#include "storage/store.h"

namespace collections::server {

class TaskDispatcher {
 public:
  enum class Wake {
    kReady,     // claim again: tasks may be ready
    kTimeout,   // the deadline passed
    kStopping,  // the server is shutting down
  };
  using WakeFn = std::function<void(Wake)>;

  struct WaitSpec {
    std::vector<std::string> queues;
    std::vector<v1::TaskType> types;               // empty: any
    uint64_t epoch = 0;                            // epoch() before the claim
    absl::Time recheck = absl::InfiniteFuture();   // clock time
    absl::Time deadline = absl::InfiniteFuture();  // real time (absl::Now)
  };

  explicit TaskDispatcher(const Clock* clock);
  ~TaskDispatcher();  // Stop()
  TaskDispatcher(const TaskDispatcher&) = delete;
  TaskDispatcher& operator=(const TaskDispatcher&) = delete;

  // Starts the thread (timers and the lease reaper). Before Tick() and
  // ReapExpiredLeases().
  // `leads` says whether this replica runs the lease reaper (with several
  // replicas, only their leader does); unset: always.
  void Start(storage::Store* store, absl::Duration reap_interval,
             std::function<bool()> leads = nullptr);
  // Wakes every wait with kStopping (later ones get it at once) and joins
  // the thread. Idempotent.
  void Stop();

  // The store's hook (StoreOptions::on_tasks_ready), on the writer thread.
  void OnTasksReady(const std::vector<storage::ReadyTask>& ready);

  uint64_t epoch() const;
  uint64_t NewWaitId();
  // Registers wait `id` (from NewWaitId). False when it does not wait: then
  // *now says why (kReady: tasks came since spec.epoch; kTimeout; kStopping)
  // and `wake` is never called. Otherwise `wake` is called exactly once,
  // unless Cancel(id) returns true first.
  bool Wait(uint64_t id, WaitSpec spec, WakeFn wake, Wake* now);
  bool Cancel(uint64_t id);
  // A wake-up that reached a claim that can no longer use it goes to the
  // oldest other wait on those queues.
  void PassOn(const std::vector<std::string>& queues);

  // Returns expired leases to their queues (which wakes their waits);
  // blocks on the writer. The number returned.
  absl::StatusOr<int> ReapExpiredLeases();
  // ReapExpiredLeases, then wakes the waits whose recheck time has come.
  // What the thread does on its own; tests call it after moving the clock.
  absl::StatusOr<int> Tick();

  size_t waiting() const;  // for tests and logs

 private:
  struct Waiter {
    std::vector<std::string> queues;
    std::vector<v1::TaskType> types;
    absl::Time recheck;
    absl::Time deadline;
    WakeFn wake;
  };
  using Fired = std::vector<std::pair<WakeFn, Wake>>;

  void Loop();
  // Wait() without the log line; *waiting: the waits registered now.
  bool RegisterWait(uint64_t id, WaitSpec spec, WakeFn wake, Wake* now, size_t* waiting)
      ABSL_LOCKS_EXCLUDED(mu_);
  void RemoveLocked(uint64_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Wakes the `n` oldest waits of `queue` that take `type`, with kReady.
  void WakeQueueLocked(const std::string& queue, v1::TaskType type, int n, Fired& fired)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FireDueLocked(Fired& fired) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static void Run(Fired& fired);

  const Clock* const clock_;
  storage::Store* store_ = nullptr;  // set by Start

  mutable absl::Mutex mu_;
  uint64_t epoch_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool kick_ ABSL_GUARDED_BY(mu_) = false;  // the thread recomputes its wait
  absl::CondVar kicked_;                    // signalled with kick_ or stopping_
  void Kick() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    kick_ = true;
    kicked_.Signal();
  }
  bool reaping_ ABSL_GUARDED_BY(mu_) = false;  // a reap is in flight
  absl::Time next_reap_ ABSL_GUARDED_BY(mu_);
  // Ids grow, so map order is arrival order.
  std::map<uint64_t, Waiter> waiters_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<std::string, std::set<uint64_t>> by_queue_ ABSL_GUARDED_BY(mu_);
  // The epoch at which each queue last got a task ready now.
  std::unordered_map<std::string, uint64_t> queue_epoch_ ABSL_GUARDED_BY(mu_);

  absl::Duration reap_interval_;
  std::function<bool()> leads_;  // set by Start
  std::thread thread_;
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_TASK_DISPATCHER_H_
