// ExperimentFactWriter: the writer-side half of the experiment report. An
// assigned case's `case_arms` row (migration 14) carries the figures the
// report sums per arm: the case's oldest unpaid due day while it is open
// (open_due_day, 0 once it is closed: its roll), the first day it was
// cured (cured_day, kNeverCured until then), what it recovered since its
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

// case_arms.cured_day of a case never cured (later than any day a report
// can ask for).
inline constexpr long long kNeverCured = 1000000000;

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
  long long case_id_ = 0, day_ = 0, open_due_day_ = 0, cured_day_ = kNeverCured;
  long long recovered_fen_ = 0, task_id_ = 0;
  int handoff_ = 0, dispute_ = 0;

  soci::statement update_;
};

}  // namespace collections::storage

#endif  // COLLECTIONS_STORAGE_EXPERIMENT_FACTS_H_
