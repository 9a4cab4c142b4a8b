#include "storage/experiment_facts.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "storage/codec.h"
#include "storage/report_facts.h"
#include "storage/sql.h"
#include "storage/sql_enums.h"

namespace collections::storage {

ExperimentFactWriter::ExperimentFactWriter(soci::session& sql, Backend backend)
    // One statement, each value bound once. The task's cost is the tasks
    // row's, read by its key once the command has marked it completed (a
    // task id of 0 reads nothing); recoveries count from the assignment day
    // on, as the report documents.
    : update_((sql.prepare << WriterSql(
                   absl::StrCat(
                       "UPDATE case_arms SET rolls_on_day = COALESCE(NULLIF(CAST(:open_due_day AS "
                       "BIGINT), 0) + ",
                       kRollOffsetSql, ", ", kNever,
                       "), cured_day = ", backend == Backend::kSqlite ? "MIN" : "LEAST",
                       "(cured_day, :cured_day), recovered_fen = recovered_fen + CASE WHEN "
                       "assigned_day <= :day THEN CAST(:recovered AS BIGINT) ELSE 0 END, "
                       "cost_fen = cost_fen + COALESCE((SELECT t.cost_fen FROM tasks t WHERE "
                       "t.task_id = :task_id AND t.state = ",
                       kSqlTaskCompleted,
                       "), 0), handoff = ", backend == Backend::kSqlite ? "MAX" : "GREATEST",
                       "(handoff, :handoff), dispute = ",
                       backend == Backend::kSqlite ? "MAX" : "GREATEST",
                       "(dispute, :dispute) WHERE case_id = :case_id"),
                   backend),
               soci::use(open_due_day_), soci::use(cured_day_), soci::use(day_),
               soci::use(recovered_fen_), soci::use(task_id_), soci::use(handoff_),
               soci::use(dispute_), soci::use(case_id_))) {}

void ExperimentFactWriter::Append(const workflow::Transition& t, long long oldest_due_day) {
  const v1::Case& c = t.next;
  if (c.experiment_id() == 0) return;
  const v1::CaseEvent& e = t.event;
  case_id_ = c.case_id();
  day_ = DayColumn(e.business_date());
  // The bucket's days count only while the case is open.
  open_due_day_ = workflow::IsOpenStage(c.stage()) ? oldest_due_day : 0;
  // Cured: the event leaves a report_events row in RESOLVED.
  cured_day_ = LeavesReportEvent(e) && e.stage_after() == v1::STAGE_RESOLVED ? day_ : kNever;
  recovered_fen_ = RecoveredFen(e);
  task_id_ = e.has_task_completed() ? e.task_completed().task_id() : 0;
  handoff_ = t.handoff.has_value() ? 1 : 0;
  dispute_ = e.has_signal() && e.signal().has_dispute_opened() ? 1 : 0;
  update_.execute(true);
}

}  // namespace collections::storage
