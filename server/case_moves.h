// CaseMoveTally: what the one-command-per-case moves of a batch did
// (PolicyEngine::Migrate moves cases to a newer policy version,
// ExperimentEngine::RollBack challenger cases to the champion), with flow
// control so that a large batch never floods the writer's queue.
//
// Thread-safe: Add and WaitBelow on the caller's thread, Done from the
// store's writer callbacks, Wait once at the end.
#ifndef COLLECTIONS_SERVER_CASE_MOVES_H_
#define COLLECTIONS_SERVER_CASE_MOVES_H_

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace collections::server {

class CaseMoveTally {
 public:
  // The failures listed in a Result (the rest are only counted).
  static constexpr size_t kMaxListedErrors = 100;

  struct Result {
    int64_t moved = 0;
    int64_t skipped = 0;
    int64_t failed = 0;
    std::vector<std::pair<int64_t, std::string>> errors;  // by case id
  };

  void Add() {
    absl::MutexLock lock(&mu_);
    ++outstanding_;
  }
  void Done(int64_t case_id, bool skipped, const absl::Status& status) {
    absl::MutexLock lock(&mu_);
    --outstanding_;
    if (!status.ok()) {
      ++out_.failed;
      out_.errors.emplace_back(case_id, std::string(status.message()));
    } else if (skipped) {
      ++out_.skipped;
    } else {
      ++out_.moved;
    }
  }
  // Flow control: blocks while more than `limit` commands are queued.
  void WaitBelow(int limit) {
    absl::MutexLock lock(&mu_);
    auto below = [this, limit]()
                     ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return outstanding_ < limit; };
    mu_.Await(absl::Condition(&below));
  }
  // Blocks until every command has been answered.
  Result Wait() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int* n) { return *n == 0; }, &outstanding_));
    Result result = out_;
    std::sort(result.errors.begin(), result.errors.end());
    if (result.errors.size() > kMaxListedErrors) result.errors.resize(kMaxListedErrors);
    return result;
  }

 private:
  absl::Mutex mu_;
  int outstanding_ ABSL_GUARDED_BY(mu_) = 0;
  Result out_ ABSL_GUARDED_BY(mu_);
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_CASE_MOVES_H_
