// The case state machine: a pure function from (case, event, policy, now)
// to a Transition — the next case state and its effects as data. Storage
// applies a Transition atomically; nothing here does I/O. Thread-safe.
//
// Stages: REMINDER, COUNSELLING, REPAYMENT_PLAN, LEGAL_ACTION (open);
// RESOLVED, CLOSED (terminal). A case that does not exist yet has stage
// UNSPECIFIED and accepts only an `imported` event, which opens it. A
// terminal case still takes payments (held as unallocated; money is never
// refused) and notes; a RESOLVED one also a new delinquency.
#ifndef COLLECTIONS_WORKFLOW_STATE_MACHINE_H_
#define COLLECTIONS_WORKFLOW_STATE_MACHINE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "collections/v1/case.pb.h"
#include "collections/v1/legal_service.pb.h"
#include "collections/v1/policy.pb.h"
#include "collections/v1/task.pb.h"

namespace collections::workflow {

// A task the transition asks storage to create.
struct TaskSpec {
  v1::TaskType type = v1::TASK_TYPE_UNSPECIFIED;
  std::string queue;
  absl::Time not_before;
  absl::Time deadline;
  int64_t priority = 0;  // higher is more urgent
  int64_t cost_fen = 0;
  v1::TaskPayload payload;
};

// Durable timers. They fire when the business date reaches `due`; the
// scheduler turns a fired timer into an event with EventForTimer().
enum class TimerKind : int32_t {
  kPromiseDue = 1,     // ref: promise id
  kInstalmentDue = 2,  // ref: plan id * 1000 + instalment number
};

struct TimerRef {
  TimerKind kind;
  int64_t ref = 0;
  bool operator==(const TimerRef& o) const { return kind == o.kind && ref == o.ref; }
};

struct TimerSpec {
  TimerRef timer;
  absl::CivilDay due;
};

// A message for legal counsel, emitted in the same transaction.
struct HandoffSpec {
  v1::HandoffKind kind = v1::HANDOFF_KIND_UNSPECIFIED;
  std::string reason;
  std::string firm_id;  // the firm that gets it
};

struct Transition {
  v1::Case next;        // the new state; version = old version + 1
  v1::CaseEvent event;  // the event as recorded (sequence = next.version)
  std::vector<TaskSpec> create_tasks;
  bool cancel_open_tasks = false;  // before create_tasks are added
  std::vector<TimerSpec> set_timers;
  std::vector<TimerRef> clear_timers;
  bool clear_all_timers = false;
  std::optional<HandoffSpec> handoff;
  // The next business date on which aging can change this case (a day band
  // edge, the legal day, the end of a letter's waiting period); empty when
  // only events can. Aging visits only the cases whose day has come, so a
  // day's run touches the cases that change, not the whole book.
  std::optional<absl::CivilDay> next_aging_day;
};

// Decides what `event` does to `current` under `policy` at `now`.
// The event must carry its kind, business_date and actor; case_id too when
// it opens a case (storage assigns the id first).
// Errors: INVALID_ARGUMENT for a malformed event (naming the field),
// FAILED_PRECONDITION when the event is not allowed in the case's stage.
absl::StatusOr<Transition> Decide(const v1::Case& current, const v1::CaseEvent& event,
                                  const v1::Policy& policy, absl::Time now);

// See Transition::next_aging_day.
std::optional<absl::CivilDay> NextAgingDay(const v1::Case& c, const v1::Policy& policy);

// Days past due of `c` on `today` (the stored figure is as of the case's
// own business_date).
int32_t DaysPastDueOn(const v1::Case& c, absl::CivilDay today);

// The event a fired timer produces for its case.
v1::CaseEvent EventForTimer(const TimerRef& timer);

// "imported", "payment", "signal.hardship_declared", ...: stable names used
// in logs, reports and the database's event_type column.
std::string EventKindName(const v1::CaseEvent& event);

// Rebuilds a case from its history: each event through Decide with the
// policy version it was decided under and its own occurred_at.
using PolicyLookup = std::function<const v1::Policy*(int64_t version)>;
absl::StatusOr<v1::Case> Replay(const std::vector<v1::CaseEvent>& events,
                                const PolicyLookup& policies);

// The firm a new legal case goes to under the policy's rules.
std::string AssignFirm(const v1::Case& c, const v1::Policy& policy);

// What a worker needs for a task on this case, trimmed by task type.
v1::TaskPayload BuildTaskPayload(const v1::Case& c, v1::TaskType type,
                                 const std::string& script_key);

// Urgency of work on this case: class, then days past due, then amount.
int64_t TaskPriority(const v1::Case& c);

// Checks one row of the overdue feed on its own: ids present, strings within
// bounds, dates that exist with the due date on or before as_of, money in
// range, enums known, and dates plausible under `policy`'s intake bounds:
// as_of at most MaxAsOfDaysAhead days after `business_date`, the due date
// at most MaxYearsOverdue years before the day the row lands (the later of
// as_of and `business_date`). INVALID_ARGUMENT with a message that starts
// with the field's name.
inline constexpr size_t kMaxIdLength = 64;
inline constexpr size_t kMaxTextLength = 512;
absl::Status ValidateDelinquencyRecord(const v1::DelinquencyRecord& record,
                                       const v1::Policy& policy, absl::CivilDay business_date);

bool IsOpenStage(v1::Stage stage);
// Whether a task of this type contacts the borrower (and so is subject to
// contact windows, caps and holds).
bool IsContactTask(v1::TaskType type);

}  // namespace collections::workflow

#endif  // COLLECTIONS_WORKFLOW_STATE_MACHINE_H_
