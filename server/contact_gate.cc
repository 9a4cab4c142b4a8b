#include "server/contact_gate.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "workflow/state_machine.h"

namespace collections::server {

void ContactGate::NewRound() {
  calls_.clear();
  defer_.clear();
}

workflow::ContactDecision ContactGate::Look(const v1::Task& task) {
  workflow::ContactDecision allowed;
  allowed.recheck = absl::InfiniteFuture();
  if (!workflow::IsContactTask(task.type())) return allowed;
  workflow::ContactDecision failed;
  failed.hold = "compliance check failed";
  failed.recheck = now_ + kCaseHoldRecheck;
  const CaseInfo* c = Load(task.case_id());
  if (c == nullptr) return failed;
  workflow::CallCounts counts;
  if (workflow::IsCallTask(task.type())) {
    Calls* calls = CallsOf(*c);
    if (calls == nullptr) return failed;
    counts = calls->with_round;
  }
  return workflow::CheckContact(*c->rules, c->holds, task.type(), now_, c->zone, counts);
}

absl::Time ContactGate::RecheckAt(const workflow::ContactDecision& d) const {
  return d.recheck == absl::InfiniteFuture() ? now_ + kCaseHoldRecheck : d.recheck;
}

std::string ContactGate::Hold(const v1::Task& task) {
  const workflow::ContactDecision d = Look(task);
  const bool call = workflow::IsCallTask(task.type());
  const CaseInfo* c = call ? Load(task.case_id()) : nullptr;
  Calls* calls = c != nullptr ? CallsOf(*c) : nullptr;
  if (d.hold.empty()) {
    if (calls != nullptr) {
      workflow::ReserveCall(calls->with_round);
      ++calls->reserved;
    }
    return "";
  }
  // Held only because of calls let through in this round: those may not
  // all be leased (max_tasks, another replica), so look again at the next
  // claim instead of tomorrow.
  const bool this_round_only =
      calls != nullptr && calls->reserved > 0 &&
      workflow::CheckContact(*c->rules, c->holds, task.type(), now_, c->zone, calls->stored)
          .hold.empty();
  if (!this_round_only) defer_.emplace_back(task.task_id(), RecheckAt(d));
  return d.hold;
}

absl::Status ContactGate::Record(const std::vector<v1::Task>& leased) {
  for (const v1::Task& t : leased) {
    if (!workflow::IsCallTask(t.type())) continue;
    const CaseInfo* c = Load(t.case_id());
    if (c == nullptr) return status_;
    storage::ContactRecord r;
    r.task_id = t.task_id();
    r.lease_token = t.lease_token();
    r.case_id = t.case_id();
    r.borrower_id = c->borrower_id;
    r.task_type = t.type();
    r.at = now_;
    RETURN_IF_ERROR(uow_.RecordContact(r));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> ContactGate::Defer() {
  for (const auto& [task_id, until] : defer_) {
    RETURN_IF_ERROR(uow_.DeferTask(task_id, until));
  }
  return static_cast<int>(defer_.size());
}

const ContactGate::CaseInfo* ContactGate::Load(int64_t case_id) {
  auto it = cases_.find(case_id);
  if (it != cases_.end()) return &it->second;
  absl::StatusOr<std::optional<v1::Case>> c = uow_.ReadCase(case_id);
  if (!c.ok() || !c->has_value()) {
    Fail(c.ok() ? absl::InternalError(absl::StrCat("case ", case_id, " of a task is missing"))
                : c.status());
    return nullptr;
  }
  absl::StatusOr<const v1::Policy*> policy = policies_.Get((*c)->policy_version());
  if (!policy.ok()) {
    Fail(policy.status());
    return nullptr;
  }
  CaseInfo info;
  info.borrower_id = (*c)->borrower().borrower_id();
  info.holds = (*c)->holds();
  info.rules = &(*policy)->contact();
  // Import checks the zone; a stored one that no longer loads (tzdata
  // changed) falls back to the policy's default, then UTC.
  const std::string& tz = (*c)->borrower().time_zone();
  if (!absl::LoadTimeZone(tz.empty() ? info.rules->default_time_zone() : tz, &info.zone) &&
      !absl::LoadTimeZone(info.rules->default_time_zone(), &info.zone)) {
    info.zone = absl::UTCTimeZone();
  }
  return &cases_.emplace(case_id, std::move(info)).first->second;
}

ContactGate::Calls* ContactGate::CallsOf(const CaseInfo& c) {
  auto it = calls_.find(c.borrower_id);
  if (it != calls_.end()) return &it->second;
  // Takes the borrower's lock row first (see UnitOfWork::CountCalls): with
  // writers in parallel, a second claim for this borrower waits here until
  // this command's transaction ends, then counts the calls it recorded.
  absl::StatusOr<workflow::CallCounts> counts =
      uow_.CountCalls(c.borrower_id, workflow::LocalDayStart(now_, c.zone),
                      workflow::LocalDayStart(now_, c.zone, -6), now_);
  if (!counts.ok()) {
    Fail(counts.status());
    return nullptr;
  }
  Calls calls;
  calls.stored = calls.with_round = *counts;
  return &calls_.emplace(c.borrower_id, calls).first->second;
}

void ContactGate::Fail(absl::Status s) {
  if (status_.ok()) status_ = std::move(s);
}

absl::Status RecheckLiftedHolds(storage::UnitOfWork& uow, PolicyRegistry& policies, absl::Time now,
                                int64_t case_id) {
  ASSIGN_OR_RETURN(std::vector<v1::Task> held, uow.HeldTasks(case_id));
  ContactGate gate(uow, policies, now);
  for (const v1::Task& task : held) {
    // Windows, caps and failures' retry waits do not depend on case holds.
    if (!workflow::IsCaseHoldReason(task.hold_reason())) continue;
    const workflow::ContactDecision d = gate.Look(task);
    RETURN_IF_ERROR(gate.status());
    if (d.hold.empty()) {
      RETURN_IF_ERROR(uow.RecheckHold(task, "", now));
    } else {
      RETURN_IF_ERROR(uow.RecheckHold(task, d.hold, gate.RecheckAt(d)));
    }
  }
  return absl::OkStatus();
}

}  // namespace collections::server
