#include "storage/pending_rows.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "storage/multi_row_insert.h"
#include "storage/sql_enums.h"

namespace collections::storage {

void PendingRows::AddTask(NewTaskRow row) {
  task_cases_.insert(row.case_id);
  tasks_.push_back(std::move(row));
}

void PendingRows::Write(soci::session& sql, bool multi_row) {
  if (!multi_row || events_.size() == 1) {
    for (EventRow& e : events_) {
      *event_ = std::move(e);
      insert_event_.execute(true);
    }
  } else if (!events_.empty()) {
    MultiRowInsert rows(absl::StrCat("INSERT INTO case_events (", kEventColumns, ") VALUES"),
                        "(?, ?, ?, ?, ?, ?, ?, ?)");
    for (EventRow& e : events_) {
      rows << e.case_id << e.seq << std::move(e.type) << std::move(e.actor) << e.occurred_at_us
           << e.business_day << e.policy_version << std::move(e.body);
    }
    rows.Flush(sql);
  }
  events_.clear();
  if (!multi_row || tasks_.size() == 1) {
    for (NewTaskRow& t : tasks_) {
      *task_ = std::move(t);
      insert_task_.execute(true);
    }
  } else if (!tasks_.empty()) {
    MultiRowInsert rows(absl::StrCat("INSERT INTO tasks (", kNewTaskColumns, ") VALUES"),
                        absl::StrCat("(?, ?, ?, ?, ", kSqlTaskReady,
                                     ", ?, ?, ?, 0, '', 0, 0, ?, ?, '', '', ?, 0)"));
    for (NewTaskRow& t : tasks_) {
      rows << t.task_id << t.case_id << static_cast<long long>(t.task_type) << std::move(t.queue)
           << t.priority << t.not_before_us << t.deadline_us << t.cost_fen << std::move(t.payload)
           << t.created_at_us;
    }
    rows.Flush(sql);
  }
  tasks_.clear();
  task_cases_.clear();
}

}  // namespace collections::storage
