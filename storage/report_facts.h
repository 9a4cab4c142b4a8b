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
// A stage-change row is also counted (StageChangeTally), by the columns
// report_stage_changes_by_day counts it by; the writer adds the counts of
// the commands that succeeded to report_stage_change_deltas in the same
// commit (WriteStageChanges, migration 23), so that the funnel and the
// effectiveness report read counts, never a period's rows.
//
// Internal to storage/. Thread-safety: none; owned by the writer's
// statements and used only on the writer thread.
#ifndef COLLECTIONS_STORAGE_REPORT_FACTS_H_
#define COLLECTIONS_STORAGE_REPORT_FACTS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
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

// A stage change as report_stage_changes_by_day and
// report_stage_change_deltas count it: prev_entry_day only for an entry
// into an open stage (-1 for the others: no report asks).
struct StageChangeKey {
  long long day = 0;
  int stage_after = 0, stage_before = 0;
  long long prev_entry_day = -1, policy_version = 0;
  std::string product, region, queue;

  auto Tied() const {
    return std::tie(day, stage_after, stage_before, prev_entry_day, policy_version, product, region,
                    queue);
  }
  bool operator==(const StageChangeKey& o) const { return Tied() == o.Tied(); }
  template <typename H>
  friend H AbslHashValue(H h, const StageChangeKey& k) {
    return H::combine(std::move(h), k.day, k.stage_after, k.stage_before, k.prev_entry_day,
                      k.policy_version, k.product, k.region, k.queue);
  }
};
// StageChangeKey's columns, in its order, in report_stage_changes_by_day
// and report_stage_change_deltas.
inline constexpr char kStageChangeKeyColumns[] =
    "day, stage_after, stage_before, prev_entry_day, policy_version, product, region, queue";
// Stage changes counted by key.
using StageChangeTally = absl::flat_hash_map<StageChangeKey, long long>;

// Adds `tally` to report_stage_change_deltas (one row per key), in the
// open transaction. Throws soci_error.
void WriteStageChanges(const StageChangeTally& tally, InsertSession& to);

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

  // The stage changes Append and AppendOpening recorded since the last
  // call, counted; the writer keeps those of the commands that succeeded
  // for their commit, and drops the others'.
  StageChangeTally TakeStageChanges() { return std::exchange(stage_changes_, {}); }

 private:
  // Counts the stage change Fill (and previous_entry_) set.
  void CountStageChange();

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

  StageChangeTally stage_changes_;

  soci::statement insert_event_;
  soci::statement upsert_promise_;
  // A stage change's row: on SQLite prev_entry_day_ read, the case's last
  // change's next_change_day and next_stage set, then insert_event_; on
  // PostgreSQL the three in one statement (one round trip instead of
  // three). Each null on the other backend.
  std::unique_ptr<soci::statement> previous_entry_, link_change_;
  std::unique_ptr<soci::statement> record_change_;
};

}  // namespace collections::storage

#endif  // COLLECTIONS_STORAGE_REPORT_FACTS_H_
