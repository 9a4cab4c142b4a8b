// PolicyRegistry: every stored policy version, loaded once and kept, and
// which one new cases get. Cases keep the version they were opened under, so
// commands look policies up by the case's version.
//
// Thread-safe. Policies are immutable once stored; pointers stay valid for
// the registry's lifetime.
#ifndef COLLECTIONS_SERVER_POLICY_REGISTRY_H_
#define COLLECTIONS_SERVER_POLICY_REGISTRY_H_

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "collections/v1/policy.pb.h"
#include "storage/store.h"

namespace collections::server {

class PolicyRegistry {
 public:
  PolicyRegistry(storage::Store* store, v1::Policy current) : store_(store) {
    current_version_ = current.version();
    policies_[current_version_] = std::make_unique<v1::Policy>(std::move(current));
  }

  // The policy new cases are opened under.
  const v1::Policy& Current() const {
    absl::MutexLock lock(&mu_);
    return *policies_.at(current_version_);
  }

  // The stored policy of `version`; NOT_FOUND when there is none. Safe to
  // call from a command on the writer thread: it reads through Store's pool.
  absl::StatusOr<const v1::Policy*> Get(int64_t version) {
    {
      absl::MutexLock lock(&mu_);
      auto it = policies_.find(version);
      if (it != policies_.end()) return it->second.get();
    }
    absl::StatusOr<v1::Policy> loaded = store_->GetPolicy(version);
    if (!loaded.ok()) return loaded.status();
    absl::MutexLock lock(&mu_);
    auto& slot = policies_[version];
    if (slot == nullptr) slot = std::make_unique<v1::Policy>(*std::move(loaded));
    return slot.get();
  }

  // Makes the newest stored version current (another replica stored it).
  absl::Status RefreshCurrent() {
    absl::StatusOr<int64_t> newest = store_->CurrentPolicyVersion();
    if (!newest.ok()) return newest.status();
    {
      absl::MutexLock lock(&mu_);
      if (*newest <= current_version_) return absl::OkStatus();
    }
    absl::StatusOr<const v1::Policy*> policy = Get(*newest);
    if (!policy.ok()) return policy.status();
    absl::MutexLock lock(&mu_);
    current_version_ = std::max(current_version_, *newest);
    return absl::OkStatus();
  }

  // After PutPolicy stored a new version.
  void SetCurrent(v1::Policy policy) {
    absl::MutexLock lock(&mu_);
    current_version_ = policy.version();
    auto& slot = policies_[current_version_];
    if (slot == nullptr) slot = std::make_unique<v1::Policy>(std::move(policy));
  }

 private:
  storage::Store* const store_;
  mutable absl::Mutex mu_;
  std::map<int64_t, std::unique_ptr<v1::Policy>> policies_ ABSL_GUARDED_BY(mu_);
  int64_t current_version_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_POLICY_REGISTRY_H_
