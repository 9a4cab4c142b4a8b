// The proto enum numbers that storage's SQL spells out (in WHERE clauses,
// VALUES and partial-index predicates), as SQL text, each checked at compile
// time against the collections.v1 enum value it stands for. Columns hold
// the proto enum number (see the schema's conventions), so a renumbered
// enum would silently change what a query finds; here it stops the build
// instead. A migration's text is history and must stay byte-identical, so
// the constants are the literal text the migrations were written with, not
// computed from the enums. Internal to storage/.
//
// Thread-safety: constants only.
#ifndef COLLECTIONS_STORAGE_SQL_ENUMS_H_
#define COLLECTIONS_STORAGE_SQL_ENUMS_H_

#include <initializer_list>

#include "collections/v1/common.pb.h"
#include "collections/v1/task.pb.h"

namespace collections::storage {
namespace sql_enums_internal {

// Whether `text` is exactly the decimal number `value` ("4" and 4).
constexpr bool Spells(const char* text, int value) {
  if (value < 0 || *text == '\0') return false;
  int n = 0;
  for (; *text != '\0'; ++text) {
    if (*text < '0' || *text > '9') return false;
    n = n * 10 + (*text - '0');
  }
  return n == value;
}

// Whether `text` is exactly the SQL list of `values`, in order:
// "(2, 3, 6)" and {2, 3, 6}.
constexpr bool SpellsList(const char* text, std::initializer_list<int> values) {
  if (*text++ != '(') return false;
  bool first = true;
  for (int value : values) {
    if (!first) {
      if (*text++ != ',' || *text++ != ' ') return false;
    }
    first = false;
    int n = 0;
    if (*text < '0' || *text > '9') return false;
    for (; *text >= '0' && *text <= '9'; ++text) n = n * 10 + (*text - '0');
    if (n != value) return false;
  }
  return *text++ == ')' && *text == '\0';
}

}  // namespace sql_enums_internal

// --- collections.v1.TaskState (the tasks.state column) ----------------------

inline constexpr char kSqlTaskReady[] = "1";
inline constexpr char kSqlTaskLeased[] = "2";
inline constexpr char kSqlTaskCompleted[] = "3";
inline constexpr char kSqlTaskCancelled[] = "4";
inline constexpr char kSqlTaskIncident[] = "5";
// The states of a task not yet done: READY and LEASED.
inline constexpr char kSqlOpenTaskStates[] = "(1, 2)";

static_assert(sql_enums_internal::Spells(kSqlTaskReady, v1::TASK_STATE_READY));
static_assert(sql_enums_internal::Spells(kSqlTaskLeased, v1::TASK_STATE_LEASED));
static_assert(sql_enums_internal::Spells(kSqlTaskCompleted, v1::TASK_STATE_COMPLETED));
static_assert(sql_enums_internal::Spells(kSqlTaskCancelled, v1::TASK_STATE_CANCELLED));
static_assert(sql_enums_internal::Spells(kSqlTaskIncident, v1::TASK_STATE_INCIDENT));
static_assert(sql_enums_internal::SpellsList(kSqlOpenTaskStates,
                                             {v1::TASK_STATE_READY, v1::TASK_STATE_LEASED}));

// --- collections.v1.TaskType (tasks.task_type, contacts.task_type) ----------

// The calls, which the contact caps count: reminder, counselling and plan
// follow-up calls (workflow::IsCallTask; the storage suite checks that the
// two agree).
inline constexpr char kSqlCallTaskTypes[] = "(2, 3, 6)";
static_assert(sql_enums_internal::SpellsList(kSqlCallTaskTypes,
                                             {v1::TASK_TYPE_REMINDER_CALL,
                                              v1::TASK_TYPE_COUNSELLING_CALL,
                                              v1::TASK_TYPE_PLAN_FOLLOW_UP_CALL}));

// --- collections.v1.Stage (cases.stage, report_events.stage_after) ----------

// CLOSED, the final stage.
inline constexpr char kSqlStageClosed[] = "6";
static_assert(sql_enums_internal::Spells(kSqlStageClosed, v1::STAGE_CLOSED));

// RESOLVED: cured, nothing overdue any more.
inline constexpr char kSqlStageResolved[] = "5";
static_assert(sql_enums_internal::Spells(kSqlStageResolved, v1::STAGE_RESOLVED));

// The open stages: REMINDER, COUNSELLING, REPAYMENT_PLAN, LEGAL_ACTION.
inline constexpr char kSqlOpenStages[] = "(1, 2, 3, 4)";
static_assert(sql_enums_internal::SpellsList(kSqlOpenStages,
                                             {v1::STAGE_REMINDER, v1::STAGE_COUNSELLING,
                                              v1::STAGE_REPAYMENT_PLAN, v1::STAGE_LEGAL_ACTION}));

}  // namespace collections::storage

#endif  // COLLECTIONS_STORAGE_SQL_ENUMS_H_
