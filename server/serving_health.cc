#include "server/serving_health.h"

#include <utility>

#include "server/logging.h"

namespace collections::server {
namespace {

constexpr char kProbeScope[] = "collectionsd/health-probe";
constexpr size_t kProbeBytes = 192 * 1024;  // 256 KiB once base64-encoded

// Pseudo-random bytes (xorshift64), so that no backend compresses them.
const std::string& ProbePayload() {
  static const std::string* const payload = [] {
    auto* bytes = new std::string(kProbeBytes, '\0');
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    for (char& c : *bytes) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      c = static_cast<char>(x >> 56);
    }
    return bytes;
  }();
  return *payload;
}

}  // namespace

ServingHealth::ServingHealth(const Clock* clock, std::vector<std::string> services,
                             std::string report_service)
    : clock_(clock), services_(std::move(services)), report_service_(std::move(report_service)) {}

ServingHealth::~ServingHealth() { Stop(); }

void ServingHealth::Start(grpc::HealthCheckServiceInterface* health, storage::Store* store,
                          absl::Duration probe_interval) {
  absl::MutexLock lock(&mu_);
  health_ = health;
  store_ = store;
  probe_interval_ = probe_interval;
  PublishLocked();
  prober_ = std::thread([this] { ProbeLoop(); });
}

void ServingHealth::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    health_ = nullptr;
  }
  if (prober_.joinable()) prober_.join();
}

void ServingHealth::SetCatchingUp(bool catching_up) {
  absl::MutexLock lock(&mu_);
  catching_up_ = catching_up;
  PublishLocked();
}

bool ServingHealth::writable() const {
  absl::MutexLock lock(&mu_);
  return writable_;
}

void ServingHealth::OnWriteOutcome(const absl::Status& outcome) {
  // A commit that succeeded may have written nothing (a lease reap that
  // found no expired lease, a replayed answer): only the probe, which
  // always writes, proves that the database can be written again.
  absl::MutexLock lock(&mu_);
  if (outcome.ok()) {
    consecutive_conflicts_ = 0;
    if (writable_) failures_while_unwritable_ = 0;
    return;
  }
  ++failures_while_unwritable_;
  LogFailureLocked(outcome);
  if (!writable_) return;
  // A conflict (a busy SQLite file, a serialization failure at COMMIT on
  // PostgreSQL) is the database working as designed; only a run of them
  // says that nothing gets through.
  if (outcome.code() == absl::StatusCode::kAborted &&
      ++consecutive_conflicts_ < kConflictsBeforeNotServing) {
    return;
  }
  consecutive_conflicts_ = 0;
  writable_ = false;
  PublishLocked();
}

void ServingHealth::LogFailureLocked(const absl::Status& outcome) {
  const absl::Time now = clock_->Now();
  // Causes not seen for a minute are forgotten, so that the map stays as
  // small as the set of current causes.
  for (auto it = causes_.begin(); it != causes_.end();) {
    if (it->second.unlogged == 0 && now - it->second.last_logged >= kLogInterval) {
      it = causes_.erase(it);
    } else {
      ++it;
    }
  }
  const std::string cause = outcome.ToString();
  auto [it, first] = causes_.try_emplace(cause);
  Cause& c = it->second;
  ++c.unlogged;
  if (!first && now - c.last_logged < kLogInterval) return;
  LogError(
      "database write failed: %s (%d failed commits with this cause since the last line about "
      "it); health is NOT_SERVING until a probe write succeeds",
      cause, c.unlogged);
  c.last_logged = now;
  c.unlogged = 0;
}

void ServingHealth::PublishLocked() {
  if (health_ == nullptr || stopping_) return;
  health_->SetServingStatus(writable_);
  for (const std::string& service : services_) {
    health_->SetServingStatus(service, writable_ && !(catching_up_ && service == report_service_));
  }
}

void ServingHealth::ProbeLoop() {
  absl::MutexLock lock(&mu_);
  for (;;) {
    mu_.Await(absl::Condition(
        +[](ServingHealth* h) ABSL_NO_THREAD_SAFETY_ANALYSIS {
          // Await evaluates this with mu_ held; the analysis cannot see it.
          return h->stopping_ || !h->writable_;
        },
        this));
    if (stopping_) return;
    if (!probe_in_flight_ && store_ != nullptr) {
      probe_in_flight_ = true;
      storage::Store* store = store_;
      mu_.Unlock();
      // Stores kProbeBytes of incompressible bytes under one idempotency
      // key that only the probe uses, replacing the last probe's: a write
      // larger than a typical commit, so that it cannot slip into the few
      // pages a failed commit left allocated (SQLite reuses its WAL's space
      // after a failed commit: a one-page probe succeeds on a full disk
      // while the users' writes still fail).
      store->Submit(
          [payload = &ProbePayload()](storage::UnitOfWork& uow) {
            return uow.SaveResponse(kProbeScope, "probe", *payload, "");
          },
          [this](absl::Status written) {
            absl::MutexLock done_lock(&mu_);
            probe_in_flight_ = false;
            if (written.ok() && !writable_) {
              writable_ = true;
              LogInfo("health: SERVING again: a database write succeeded after %d failed commits",
                      failures_while_unwritable_);
              failures_while_unwritable_ = 0;
              PublishLocked();
            }
          });
      mu_.Lock();
    }
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), probe_interval_);
  }
}

}  // namespace collections::server
