// ContactGate: contact compliance (workflow/compliance.h) for the tasks a
// claim is about to lease, with the database's view of each borrower's
// calls. Lives inside one command on the store's writer (its UnitOfWork);
// not thread-safe.
//
// The call caps count per borrower across all their loans. Every call a
// claim lets through reserves an attempt and a connection
// (workflow::ReserveCall) in the gate for the rest of the round and, once
// leased, in the contacts table (Record), where it stays reserved until
// the call is reported (UnitOfWork::EndContact) or released. Counting
// first takes the borrower's lock row (UnitOfWork::CountCalls), so that
// claims in parallel transactions (replicas on PostgreSQL; one writer per
// server today) cannot both count the same free places.
#ifndef COLLECTIONS_SERVER_CONTACT_GATE_H_
#define COLLECTIONS_SERVER_CONTACT_GATE_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collections/v1/task.pb.h"
#include "server/policy_registry.h"
#include "storage/store.h"
#include "workflow/compliance.h"

namespace collections::server {

// Held by a case hold (cease-contact, dispute, ...), which only an event
// lifts (and the event looks at the task again at once, see
// RecheckLiftedHolds): how often such a task is looked at anyway.
inline constexpr absl::Duration kCaseHoldRecheck = absl::Minutes(15);

class ContactGate {
 public:
  ContactGate(storage::UnitOfWork& uow, PolicyRegistry& policies, absl::Time now)
      : uow_(uow), policies_(policies), now_(now) {}

  // A claim's next round: counts come from the database again (they
  // include the last round's leases, recorded by Record).
  void NewRound();

  // As ClaimSpec::hold: empty when `task` may be handed out now (a call is
  // then reserved for the rest of the round), else why not. A held task is
  // queued for Defer.
  std::string Hold(const v1::Task& task);

  // The decision for `task` now, reserving nothing. An error (case or
  // policy missing, database) is in status().
  workflow::ContactDecision Look(const v1::Task& task);

  // When a held task should be looked at again: the decision's recheck, or
  // kCaseHoldRecheck from now for a case hold.
  absl::Time RecheckAt(const workflow::ContactDecision& d) const;

  // The first error Hold or Look met (they cannot return one).
  const absl::Status& status() const { return status_; }

  // The calls just leased: the caps count them from now on.
  absl::Status Record(const std::vector<v1::Task>& leased);

  // Moves this round's held tasks to when their hold may lift; how many.
  absl::StatusOr<int> Defer();

 private:
  struct CaseInfo {
    std::string borrower_id;
    v1::Holds holds;
    absl::TimeZone zone;
    const v1::ContactRules* rules = nullptr;
  };
  // A borrower's calls: as stored, and with this round's reservations.
  struct Calls {
    workflow::CallCounts stored;
    workflow::CallCounts with_round;
    int reserved = 0;
  };

  const CaseInfo* Load(int64_t case_id);
  Calls* CallsOf(const CaseInfo& c);
  void Fail(absl::Status s);

  storage::UnitOfWork& uow_;
  PolicyRegistry& policies_;
  const absl::Time now_;
  absl::Status status_;
  std::map<int64_t, CaseInfo> cases_;
  std::map<std::string, Calls> calls_;
  std::vector<std::pair<int64_t, absl::Time>> defer_;
};

// After a transition that lifted a case hold on contact (dispute resolved,
// ...; workflow::ContactHoldLifted): the case's READY tasks held by a case
// hold are looked at again at once, in the same command. A task with no
// hold left loses its hold_reason and is claimable now (waiting claims
// wake once the command commits); one still held gets the reason that now
// applies and its recheck time.
absl::Status RecheckLiftedHolds(storage::UnitOfWork& uow, PolicyRegistry& policies, absl::Time now,
                                int64_t case_id);

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_CONTACT_GATE_H_
