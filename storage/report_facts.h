// ReportFactWriter: the writer-side half of the reports. Every transition
// that matters to a report (a stage change, a payment, a task outcome, a
// waiver, a promise) leaves one row in `report_events`, and every promise
// that is taken or settled one row in `report_promises`, in the same
// transaction as the transition itself. The rows carry in columns what the
// event's binary body hides from SQL (stages, class, outcome, amounts), so
// that the report queries of reports.cc aggregate in the database.
//
// Aging events that change no stage, plain imports, notes and most plan
// events leave nothing: the daily snapshots cover the book.
//
// A stage-change row also links the case's changes (migration 11): it
// records the day of the case's previous entry into the same stage
// (prev_entry_day, -1 when none), and sets next_change_day on the case's
// previous change (kNoLaterChange until then), and next_stage on it, the
// stage that next change moved the case to (migration 17). The stage funnel
// reads these instead of ordering a period's changes by case, or looking
// up where each case that changed again ended.
//
// Internal to storage/. Thread-safety: none; owned by the writer's
// statements and used only on the writer thread.
#ifndef COLLECTIONS_STORAGE_REPORT_FACTS_H_
#define COLLECTIONS_STORAGE_REPORT_FACTS_H_

#include <cstdint>
#include <string>

#include "soci/soci.h"
#include "storage/multi_row_insert.h"
#include "storage/store.h"
#include "workflow/state_machine.h"

namespace collections::storage {

// next_change_day of a case's latest stage change (the day number of no
// day a report can ask for).
inline constexpr long long kNoLaterChange = 1000000000;

// Whether `e` leaves a report_events row.
bool LeavesReportEvent(const v1::CaseEvent& e);
// The report_events.recovered_fen of `e`: what a payment or a legal
// recovery paid of what was owed; 0 for other events.
int64_t RecoveredFen(const v1::CaseEvent& e);

class ReportFactWriter {
 public:
  // Prepares the statements on the writer's session. Throws soci_error.
  ReportFactWriter(soci::session& sql, Backend backend);

  // Records what `t` means to the reports. Throws soci_error.
  void Append(const workflow::Transition& t);

  // The same for a transition that opens a case (no promise, no earlier
  // stage change to link), as a row of `rows` (from OpeningRows) instead
  // of a statement of its own.
  void AppendOpening(const workflow::Transition& t, MultiRowInsert& rows);
  static MultiRowInsert OpeningRows();

 private:
  // Sets the report_events row's values for `t`; false when `t` leaves none.
  bool Fill(const workflow::Transition& t);

  // Bound values (the statements point at them).
  long long case_id_ = 0, seq_ = 0, day_ = 0;
  std::string event_type_, actor_;
  int stage_before_ = 0, stage_after_ = 0, case_class_ = 0, close_reason_ = 0;
  long long task_id_ = 0;
  int task_type_ = 0, contact_ = 0, right_party_ = 0, reason_ = 0;
  long long promise_fen_ = 0, recovered_fen_ = 0, waived_fen_ = 0, unallocated_fen_ = 0;
  long long policy_version_ = 0;
  std::string product_, region_, queue_;
  long long promise_id_ = 0, resolved_day_ = 0;
  int promise_state_ = 0;
  long long prev_entry_day_ = -1;

  soci::statement insert_event_;
  soci::statement upsert_promise_;
  soci::statement previous_entry_;  // prev_entry_day_ of a stage change
  soci::statement link_change_;     // next_change_day, next_stage of the case's last change
};

}  // namespace collections::storage

#endif  // COLLECTIONS_STORAGE_REPORT_FACTS_H_
