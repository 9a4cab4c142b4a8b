// ExperimentFactWriter: the writer-side half of the experiment report. An
// assigned case's `case_arms` row (migration 14) carries the figures the
// report sums per arm: the first business day on which the case counts as
// rolled if it stays as it is (rolls_on_day: the day its oldest unpaid due
// day puts it past the days-past-due bucket it started in; kNever while it
// is closed or nothing is overdue), the first day it was cured (cured_day,
// kNever until then), what it recovered since its
// assignment, the cost of its completed tasks, and whether it was handed to
// a legal firm or disputed. Each transition of an assigned case brings the
// row up to date in the transition's own transaction, so the report is one
// pass over `case_arms`; a case in no experiment costs nothing (the case
// carries its experiment id).
//
// The row itself is inserted by RecordCaseArm (experiments.h) once the
// case's assignment is applied; migration 14 fills these columns for the
// rows written before it, from the same sources.
//
// Internal to storage/. Thread-safety: none; owned by the writer's
// statements and used only on the writer thread.
#ifndef COLLECTIONS_STORAGE_EXPERIMENT_FACTS_H_
#define COLLECTIONS_STORAGE_EXPERIMENT_FACTS_H_

#include "soci/soci.h"
#include "storage/store.h"
#include "workflow/state_machine.h"

namespace collections::storage {

// case_arms.cured_day of a case never cured, rolls_on_day of one that does
// not roll (later than any day a report can ask for).
inline constexpr long long kNever = 1000000000;

// rolls_on_day of a case_arms row whose case has oldest unpaid due day O
// (0: none) is O + this (SQL, on the row's start_bucket), or kNever when it
// is NULL: a case rolls once the bucket of its days past due is past
// start_bucket (1-30 days from O + 1, 31-60 from O + 31, 61-90 from O + 61,
// 91-180 from O + 91, 180+ from O + 181; none past 180+).
inline constexpr char kRollOffsetSql[] =
    "CASE start_bucket WHEN 0 THEN 1 WHEN 1 THEN 31 WHEN 2 THEN 61 WHEN 3 THEN 91 WHEN 4 "
    "THEN 181 END";

class ExperimentFactWriter {
 public:
  // Prepares the statement on the writer's session. Throws soci_error.
  ExperimentFactWriter(soci::session& sql, Backend backend);

  // Records what `t` changes in its case's experiment figures;
  // `oldest_due_day` is the cases row's column as `t` leaves it. Nothing
  // for a case in no experiment. Throws soci_error.
  void Append(const workflow::Transition& t, long long oldest_due_day);

 private:
  // Bound values (the statement points at them).
  long long case_id_ = 0, day_ = 0, open_due_day_ = 0, cured_day_ = kNever;
  long long recovered_fen_ = 0, task_id_ = 0;
  int handoff_ = 0, dispute_ = 0;

  soci::statement update_;
};

}  // namespace collections::storage

#endif  // COLLECTIONS_STORAGE_EXPERIMENT_FACTS_H_
