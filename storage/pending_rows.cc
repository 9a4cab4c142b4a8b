#include "storage/pending_rows.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "storage/multi_row_insert.h"
#include "storage/sql_enums.h"

namespace collections::storage {

bool PendingRows::HasTasksOf(int64_t case_id) const {
  return std::any_of(tasks_.begin(), tasks_.end(),
                     [case_id](const NewTaskRow& t) { return t.case_id == case_id; });
}

void PendingRows::AddCancel(int64_t case_id, int64_t at_us) {
  for (const Cancel& c : cancels_) {
    if (c.case_id == case_id) return;
  }
  cancels_.push_back({case_id, at_us});
}

void PendingRows::Write(InsertSession& to) {
  if (events_.size() == 1) {
    *event_ = std::move(events_.front());
    insert_event_.execute(true);
  } else if (!events_.empty()) {
    MultiRowInsert rows(absl::StrCat("INSERT INTO case_events (", kEventColumns, ") VALUES"),
                        "(?, ?, ?, ?, ?, ?, ?, ?)");
    for (EventRow& e : events_) {
      rows << e.case_id << e.seq << std::move(e.type) << std::move(e.actor) << e.occurred_at_us
           << e.business_day << e.policy_version << std::move(e.body);
    }
    rows.Flush(to);
  }
  events_.clear();
  if (cancels_.size() == 1) {
    *cancel_case_id_ = cancels_.front().case_id;
    *cancel_at_us_ = cancels_.front().at_us;
    cancel_tasks_.execute(true);
  } else if (!cancels_.empty()) {
    ArrayLiteral ids, ats;
    for (const Cancel& c : cancels_) {
      ids.Add(c.case_id);
      ats.Add(c.at_us);
    }
    to.RunWithArrays(absl::StrCat("UPDATE tasks SET state = ", kSqlTaskCancelled,
                                  ", lease_expires_us = 0, hold_reason = '', completed_at_us = "
                                  "u.at_us FROM unnest(CAST(:ids AS bigint[]), CAST(:ats AS "
                                  "bigint[])) AS u(case_id, at_us) WHERE tasks.case_id = "
                                  "u.case_id AND tasks.state IN ",
                                  kSqlOpenTaskStates),
                     {ids.Take(), ats.Take()});
  }
  cancels_.clear();
  if (tasks_.size() == 1) {
    *task_ = std::move(tasks_.front());
    insert_task_.execute(true);
  } else if (!tasks_.empty()) {
    MultiRowInsert rows(absl::StrCat("INSERT INTO tasks (", kNewTaskColumns, ") VALUES"),
                        absl::StrCat("(?, ?, ?, ?, ", kSqlTaskReady,
                                     ", ?, ?, ?, 0, '', 0, 0, ?, ?, '', '', ?, 0)"));
    for (NewTaskRow& t : tasks_) {
      rows << t.task_id << t.case_id << static_cast<long long>(t.task_type) << std::move(t.queue)
           << t.priority << t.not_before_us << t.deadline_us << t.cost_fen << std::move(t.payload)
           << t.created_at_us;
    }
    rows.Flush(to);
  }
  tasks_.clear();
}

}  // namespace collections::storage
