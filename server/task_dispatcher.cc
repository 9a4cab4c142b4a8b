#include "server/task_dispatcher.h"

#include <algorithm>
#include <map>
#include <memory>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "server/logging.h"

namespace collections::server {
namespace {

// Leases returned per command: bounded so that one reap never holds the
// writer for long.
constexpr int kReapBatch = 500;

// Expires up to kReapBatch leases; *count says how many.
storage::Command ReapCommand(absl::Time now, std::shared_ptr<int> count) {
  return [now, count](storage::UnitOfWork& uow) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<int64_t> ids, uow.ExpireLeases(now, kReapBatch));
    *count = static_cast<int>(ids.size());
    return absl::OkStatus();
  };
}

}  // namespace

TaskDispatcher::TaskDispatcher(const Clock* clock) : clock_(clock) {}

TaskDispatcher::~TaskDispatcher() { Stop(); }

void TaskDispatcher::Start(storage::Store* store, absl::Duration reap_interval,
                           std::function<bool()> leads) {
  store_ = store;
  reap_interval_ = reap_interval;
  leads_ = std::move(leads);
  thread_ = std::thread([this] { Loop(); });
}

void TaskDispatcher::Stop() {
  Fired fired;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    kicked_.Signal();
    for (auto& [id, w] : waiters_) fired.emplace_back(std::move(w.wake), Wake::kStopping);
    waiters_.clear();
    by_queue_.clear();
  }
  Run(fired);
  if (thread_.joinable()) thread_.join();
}

uint64_t TaskDispatcher::epoch() const {
  absl::MutexLock lock(&mu_);
  return epoch_;
}

uint64_t TaskDispatcher::NewWaitId() {
  absl::MutexLock lock(&mu_);
  return next_id_++;
}

size_t TaskDispatcher::waiting() const {
  absl::MutexLock lock(&mu_);
  return waiters_.size();
}

void TaskDispatcher::OnTasksReady(const std::vector<storage::ReadyTask>& ready) {
  const absl::Time now = clock_->Now();
  Fired fired;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    ++epoch_;
    std::map<std::pair<std::string, v1::TaskType>, int> now_ready;
    for (const storage::ReadyTask& r : ready) {
      if (r.not_before <= now) {
        ++now_ready[{r.queue, r.type}];
        queue_epoch_[r.queue] = epoch_;
        continue;
      }
      // Ready later: the waits on that queue look again then.
      auto it = by_queue_.find(r.queue);
      if (it == by_queue_.end()) continue;
      for (uint64_t id : it->second) {
        Waiter& w = waiters_.at(id);
        if (r.not_before < w.recheck) {
          w.recheck = r.not_before;
          Kick();
        }
      }
    }
    for (const auto& [key, n] : now_ready) WakeQueueLocked(key.first, key.second, n, fired);
  }
  Run(fired);
}

bool TaskDispatcher::Wait(uint64_t id, WaitSpec spec, WakeFn wake, Wake* now) {
  const std::string queues = absl::StrJoin(spec.queues, ",");
  size_t waiting = 0;
  if (!RegisterWait(id, std::move(spec), std::move(wake), now, &waiting)) return false;
  // Says that a claim is held open, for operators and for the end-to-end
  // test that proves a waiting claim is woken by work arriving.
  LogDebug("task dispatcher: claim wait %d registered on queues %s (%d waiting)", id, queues,
           waiting);
  return true;
}

bool TaskDispatcher::RegisterWait(uint64_t id, WaitSpec spec, WakeFn wake, Wake* now,
                                  size_t* waiting) {
  absl::MutexLock lock(&mu_);
  if (stopping_) {
    *now = Wake::kStopping;
    return false;
  }
  for (const std::string& q : spec.queues) {
    auto it = queue_epoch_.find(q);
    if (it != queue_epoch_.end() && it->second > spec.epoch) {
      *now = Wake::kReady;
      return false;
    }
  }
  if (spec.recheck <= clock_->Now()) {
    *now = Wake::kReady;
    return false;
  }
  if (spec.deadline <= absl::Now()) {
    *now = Wake::kTimeout;
    return false;
  }
  for (const std::string& q : spec.queues) by_queue_[q].insert(id);
  waiters_.emplace(id, Waiter{std::move(spec.queues), std::move(spec.types), spec.recheck,
                              spec.deadline, std::move(wake)});
  Kick();
  *waiting = waiters_.size();
  return true;
}

bool TaskDispatcher::Cancel(uint64_t id) {
  absl::MutexLock lock(&mu_);
  if (waiters_.count(id) == 0) return false;
  RemoveLocked(id);
  return true;
}

void TaskDispatcher::PassOn(const std::vector<std::string>& queues) {
  Fired fired;
  {
    absl::MutexLock lock(&mu_);
    uint64_t oldest = 0;
    for (const std::string& q : queues) {
      auto it = by_queue_.find(q);
      if (it != by_queue_.end() && !it->second.empty() &&
          (oldest == 0 || *it->second.begin() < oldest)) {
        oldest = *it->second.begin();
      }
    }
    if (oldest == 0) return;
    fired.emplace_back(std::move(waiters_.at(oldest).wake), Wake::kReady);
    RemoveLocked(oldest);
  }
  Run(fired);
}

absl::StatusOr<int> TaskDispatcher::ReapExpiredLeases() {
  int total = 0;
  while (true) {
    auto count = std::make_shared<int>(0);
    RETURN_IF_ERROR(store_->Write(ReapCommand(clock_->Now(), count)));
    total += *count;
    if (*count < kReapBatch) return total;
  }
}

absl::StatusOr<int> TaskDispatcher::Tick() {
  absl::StatusOr<int> reaped = ReapExpiredLeases();
  Fired fired;
  {
    absl::MutexLock lock(&mu_);
    FireDueLocked(fired);
  }
  Run(fired);
  return reaped;
}

void TaskDispatcher::RemoveLocked(uint64_t id) {
  auto it = waiters_.find(id);
  for (const std::string& q : it->second.queues) {
    auto qt = by_queue_.find(q);
    if (qt == by_queue_.end()) continue;
    qt->second.erase(id);
    if (qt->second.empty()) by_queue_.erase(qt);
  }
  waiters_.erase(it);
}

void TaskDispatcher::WakeQueueLocked(const std::string& queue, v1::TaskType type, int n,
                                     Fired& fired) {
  auto it = by_queue_.find(queue);
  if (it == by_queue_.end()) return;
  std::vector<uint64_t> chosen;
  for (uint64_t id : it->second) {  // oldest first
    if (static_cast<int>(chosen.size()) == n) break;
    const std::vector<v1::TaskType>& types = waiters_.at(id).types;
    if (types.empty() || std::find(types.begin(), types.end(), type) != types.end()) {
      chosen.push_back(id);
    }
  }
  for (uint64_t id : chosen) {
    fired.emplace_back(std::move(waiters_.at(id).wake), Wake::kReady);
    RemoveLocked(id);
  }
}

void TaskDispatcher::FireDueLocked(Fired& fired) {
  const absl::Time now = clock_->Now();
  const absl::Time real_now = absl::Now();
  std::vector<uint64_t> due;
  for (auto& [id, w] : waiters_) {
    if (w.recheck <= now) {
      fired.emplace_back(std::move(w.wake), Wake::kReady);
      due.push_back(id);
    } else if (w.deadline <= real_now) {
      fired.emplace_back(std::move(w.wake), Wake::kTimeout);
      due.push_back(id);
    }
  }
  for (uint64_t id : due) RemoveLocked(id);
}

void TaskDispatcher::Run(Fired& fired) {
  for (auto& [wake, why] : fired) wake(why);
  fired.clear();
}

void TaskDispatcher::Loop() {
  Fired fired;
  absl::MutexLock lock(&mu_);
  next_reap_ = absl::Now() + reap_interval_;
  while (!stopping_) {
    // Sleep until the earliest deadline, recheck (clock time mapped onto
    // real time) or reap, or until a new wait or stop kicks us.
    const absl::Time clock_now = clock_->Now();
    const absl::Time real_now = absl::Now();
    // While a reap is in flight next_reap_ may be past (the reap waits
    // behind other commands, e.g. a day's aging): waiting for it would not
    // wait at all, and the thread would spin until the reap is done. Its
    // answer kicks the thread instead.
    absl::Time wake_at = reaping_ ? absl::InfiniteFuture() : next_reap_;
    for (const auto& [id, w] : waiters_) {
      wake_at = std::min({wake_at, w.deadline, real_now + (w.recheck - clock_now)});
    }
    // A condition variable, not Await with a condition: every release of
    // mu_ (each commit that makes tasks ready takes it) would have this
    // thread's condition looked at, and the thread woken to do it.
    kick_ = false;
    while (!kick_ && !stopping_ && absl::Now() < wake_at) {
      kicked_.WaitWithDeadline(&mu_, wake_at);
    }
    if (stopping_) break;
    FireDueLocked(fired);
    bool reap = absl::Now() >= next_reap_ && !reaping_;
    if (reap) {
      next_reap_ = absl::Now() + reap_interval_;
      reap = leads_ == nullptr || leads_();  // with replicas, only the leader reaps
      reaping_ = reap;
    }
    mu_.Unlock();
    Run(fired);
    if (reap) {
      // Asynchronous: the thread keeps serving deadlines meanwhile. Expired
      // leases wake their queues' waits through OnTasksReady. In the bulk
      // lane: nobody waits for it, and a reap each second must not keep an
      // import's commits as short as those beside a caller's commands
      // (storage::WriteLane).
      auto count = std::make_shared<int>(0);
      store_->Submit(
          ReapCommand(clock_->Now(), count),
          [this, count](absl::Status s) {
            // Database failures are logged, rate-limited, by ServingHealth.
            if (!s.ok() && s.code() != absl::StatusCode::kInternal &&
                s.code() != absl::StatusCode::kUnavailable &&
                s.code() != absl::StatusCode::kResourceExhausted) {
              LogWarning("lease reaper: %s", s.ToString());
            }
            if (*count > 0) LogDebug("lease reaper: %d leases expired", *count);
            absl::MutexLock lock(&mu_);
            reaping_ = false;
            // A full batch: more are waiting.
            if (*count == kReapBatch) next_reap_ = absl::Now();
            Kick();  // the thread waits for the next reap again
          },
          storage::WriteLane::kBulk);
    }
    mu_.Lock();
  }
}

}  // namespace collections::server
