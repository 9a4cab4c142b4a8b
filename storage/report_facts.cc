#include "storage/report_facts.h"

#include "absl/strings/str_cat.h"
#include "storage/codec.h"
#include "storage/sql.h"

namespace collections::storage {
namespace {
using K = v1::CaseEvent::KindCase;

// report_events' columns in the order every insert binds them.
constexpr char kColumns[] =
    "case_id, seq, day, event_type, actor, stage_before, stage_after, case_class, close_reason, "
    "task_id, task_type, contact, right_party, reason, promise_fen, recovered_fen, waived_fen, "
    "policy_version, product, region, queue, unallocated_fen, prev_entry_day";
}  // namespace

bool LeavesReportEvent(const v1::CaseEvent& e) {
  if (e.stage_before() != e.stage_after()) return true;
  switch (e.kind_case()) {
    case K::kPayment:
    case K::kTaskCompleted:
    case K::kPenaltyWaived:
    case K::kPromiseBroken:
      return true;
    case K::kSignal:
      return e.signal().has_promise_to_pay();
    case K::kLegalMilestone:
      return e.legal_milestone().kind() == v1::LEGAL_MILESTONE_KIND_AMOUNT_RECOVERED;
    default:
      return false;
  }
}

int64_t RecoveredFen(const v1::CaseEvent& e) {
  // What paid something owed: the plan's instalments (their interest too)
  // and the arrears. What paid nothing owed (an overpayment, money after
  // the case ended) is not recovery: it has its own column. A legal
  // recovery likewise (its unallocated part is 0 in events recorded before
  // it was held).
  if (e.has_payment()) return e.payment().amount_fen() - e.payment().unallocated_fen();
  if (e.has_legal_milestone() &&
      e.legal_milestone().kind() == v1::LEGAL_MILESTONE_KIND_AMOUNT_RECOVERED) {
    return e.legal_milestone().amount_fen() - e.legal_milestone().unallocated_fen();
  }
  return 0;
}

ReportFactWriter::ReportFactWriter(soci::session& sql, Backend backend)
    : insert_event_((sql.prepare << WriterSql(
                         absl::StrCat("INSERT INTO report_events (", kColumns,
                                      ") VALUES (:case_id, :seq, :day, :type, :actor, :sb, "
                                      ":sa, :class, :close, :task_id, :task_type, :contact, "
                                      ":rpc, :reason, :promise, :recovered, :waived, :pv, "
                                      ":product, :region, :queue, :unallocated, :prev_entry)"),
                         backend),
                     soci::use(case_id_), soci::use(seq_), soci::use(day_), soci::use(event_type_),
                     soci::use(actor_), soci::use(stage_before_), soci::use(stage_after_),
                     soci::use(case_class_), soci::use(close_reason_), soci::use(task_id_),
                     soci::use(task_type_), soci::use(contact_), soci::use(right_party_),
                     soci::use(reason_), soci::use(promise_fen_), soci::use(recovered_fen_),
                     soci::use(waived_fen_), soci::use(policy_version_), soci::use(product_),
                     soci::use(region_), soci::use(queue_), soci::use(unallocated_fen_),
                     soci::use(prev_entry_day_))),
      // A promise is inserted when taken and updated when its state moves
      // on; an unchanged one is left alone.
      upsert_promise_(
          (sql.prepare << WriterSql("INSERT INTO report_promises (case_id, promise_id, state, "
                                    "resolved_day) VALUES (:case_id, :promise_id, :state, "
                                    ":day) ON CONFLICT (case_id, promise_id) DO UPDATE SET "
                                    "state = excluded.state, resolved_day = "
                                    "excluded.resolved_day WHERE report_promises.state <> "
                                    "excluded.state",
                                    backend),
           soci::use(case_id_), soci::use(promise_id_), soci::use(promise_state_),
           soci::use(resolved_day_))) {
  if (backend == Backend::kSqlite) {
    // Both read the case's rows by the primary key's prefix: a handful.
    // "+stage_after": compared as it was, SQLite weighs ":sa" against
    // partial indexes' constants (report_events_closed: stage_after = 6)
    // and so prepares the statement again whenever :sa is bound, i.e.
    // on every run (25 µs against 6 µs, 9 % of a typical day's writer).
    previous_entry_ = std::make_unique<soci::statement>(
        (sql.prepare << "SELECT COALESCE(MAX(day), -1) FROM report_events WHERE "
                        "case_id = :case_id AND +stage_after = :sa AND "
                        "stage_after <> stage_before",
         soci::use(case_id_), soci::use(stage_after_), soci::into(prev_entry_day_)));
    link_change_ = std::make_unique<soci::statement>(
        (sql.prepare << WriterSql(absl::StrCat("UPDATE report_events SET next_change_day = "
                                               ":day, next_stage = :sa WHERE case_id = "
                                               ":case_id AND stage_after <> stage_before "
                                               "AND next_change_day = ",
                                               kNoLaterChange),
                                  backend),
         soci::use(day_), soci::use(stage_after_), soci::use(case_id_)));
    return;
  }
  // The earlier entry's day read and the last change linked before the new
  // row goes in, as the three statements do (the statement's parts share
  // one snapshot: neither sees the row inserted). Each placeholder bound
  // once, in the text's order; the VALUES list types them by column.
  record_change_ = std::make_unique<soci::statement>(
      (sql.prepare << absl::StrCat(
           "WITH prev AS (SELECT COALESCE(MAX(day), -1) AS day FROM report_events WHERE "
           "case_id = :p_case_id AND stage_after = :p_sa AND stage_after <> stage_before), "
           "link AS (UPDATE report_events SET next_change_day = :l_day, next_stage = :l_sa "
           "WHERE case_id = :l_case_id AND stage_after <> stage_before AND next_change_day = ",
           kNoLaterChange, ") INSERT INTO report_events (", kColumns,
           ") VALUES (:case_id, :seq, :day, :type, :actor, :sb, :sa, :class, :close, :task_id, "
           ":task_type, :contact, :rpc, :reason, :promise, :recovered, :waived, :pv, :product, "
           ":region, :queue, :unallocated, (SELECT day FROM prev)) RETURNING prev_entry_day"),
       soci::use(case_id_), soci::use(stage_after_), soci::use(day_), soci::use(stage_after_),
       soci::use(case_id_), soci::use(case_id_), soci::use(seq_), soci::use(day_),
       soci::use(event_type_), soci::use(actor_), soci::use(stage_before_), soci::use(stage_after_),
       soci::use(case_class_), soci::use(close_reason_), soci::use(task_id_), soci::use(task_type_),
       soci::use(contact_), soci::use(right_party_), soci::use(reason_), soci::use(promise_fen_),
       soci::use(recovered_fen_), soci::use(waived_fen_), soci::use(policy_version_),
       soci::use(product_), soci::use(region_), soci::use(queue_), soci::use(unallocated_fen_),
       soci::into(prev_entry_day_)));
}

void ReportFactWriter::Append(const workflow::Transition& t) {
  const v1::CaseEvent& e = t.event;
  const v1::Case& c = t.next;
  case_id_ = c.case_id();
  day_ = DayColumn(e.business_date());

  // Promises: every event but aging may take, keep, break or supersede one.
  if (e.kind_case() != K::kAged) {
    for (const v1::Promise& p : c.promises()) {
      const bool taken_now = p.promise_id() == c.version();
      if (!taken_now && p.state() == v1::PROMISE_STATE_PENDING) continue;
      promise_id_ = p.promise_id();
      promise_state_ = p.state();
      resolved_day_ = p.state() == v1::PROMISE_STATE_PENDING ? 0 : day_;
      upsert_promise_.execute(true);
    }
  }

  if (!Fill(t)) return;
  if (stage_before_ == stage_after_) {
    insert_event_.execute(true);
    return;
  }
  if (record_change_ != nullptr) {
    record_change_->execute(true);
  } else {
    FetchOne(*previous_entry_);  // steps to the end: no read snapshot kept open
    link_change_->execute(true);
    insert_event_.execute(true);
  }
  CountStageChange();
}

void ReportFactWriter::CountStageChange() {
  StageChangeKey key;
  key.day = day_;
  key.stage_after = stage_after_;
  key.stage_before = stage_before_;
  key.prev_entry_day =
      workflow::IsOpenStage(static_cast<v1::Stage>(stage_after_)) ? prev_entry_day_ : -1;
  key.policy_version = policy_version_;
  key.product = product_;
  key.region = region_;
  key.queue = queue_;
  ++stage_changes_[std::move(key)];
}

void WriteStageChanges(const StageChangeTally& tally, InsertSession& to) {
  if (tally.empty()) return;
  MultiRowInsert rows(absl::StrCat("INSERT INTO report_stage_change_deltas (",
                                   kStageChangeKeyColumns, ", changes) VALUES"),
                      "(?, ?, ?, ?, ?, ?, ?, ?, ?)");
  for (const auto& [k, n] : tally) {
    rows << k.day << static_cast<long long>(k.stage_after) << static_cast<long long>(k.stage_before)
         << k.prev_entry_day << k.policy_version << k.product << k.region << k.queue << n;
  }
  rows.Flush(to);
}

MultiRowInsert ReportFactWriter::OpeningRows() {
  return MultiRowInsert(absl::StrCat("INSERT INTO report_events (", kColumns, ") VALUES"),
                        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
}

void ReportFactWriter::AppendOpening(const workflow::Transition& t, MultiRowInsert& rows) {
  if (!Fill(t)) return;
  rows << case_id_ << seq_ << day_ << event_type_ << actor_ << stage_before_ << stage_after_
       << case_class_ << close_reason_ << task_id_ << task_type_ << contact_ << right_party_
       << reason_ << promise_fen_ << recovered_fen_ << waived_fen_ << policy_version_ << product_
       << region_ << queue_ << unallocated_fen_ << -1LL;  // no earlier entry: a new case
  if (stage_before_ != stage_after_) CountStageChange();  // prev_entry_day_ is -1 (Fill)
}

bool ReportFactWriter::Fill(const workflow::Transition& t) {
  const v1::CaseEvent& e = t.event;
  const v1::Case& c = t.next;
  case_id_ = c.case_id();
  day_ = DayColumn(e.business_date());
  if (!LeavesReportEvent(e)) return false;
  seq_ = e.sequence();
  event_type_ = workflow::EventKindName(e);
  actor_ = e.actor();
  stage_before_ = e.stage_before();
  stage_after_ = e.stage_after();
  case_class_ = c.classification().case_class();
  close_reason_ = workflow::IsOpenStage(c.stage()) ? 0 : c.close_reason();
  task_id_ = 0;
  task_type_ = contact_ = right_party_ = reason_ = 0;
  promise_fen_ = recovered_fen_ = waived_fen_ = unallocated_fen_ = 0;
  switch (e.kind_case()) {
    case K::kTaskCompleted: {
      const v1::TaskCompleted& done = e.task_completed();
      task_id_ = done.task_id();
      task_type_ = done.task_type();
      // Mirrors what the state machine takes from an outcome.
      if (done.outcome().has_call()) {
        const v1::CallOutcome& call = done.outcome().call();
        const bool reached = call.result() == v1::CALL_RESULT_REACHED;
        contact_ = 1;
        right_party_ = reached && call.right_party_contact();
        if (reached) {
          reason_ = call.overdue_reason();
          if (call.has_promise()) promise_fen_ = call.promise().amount_fen();
        }
      } else if (done.outcome().has_visit()) {
        const v1::VisitOutcome& visit = done.outcome().visit();
        contact_ = 1;
        right_party_ = visit.result() == v1::VISIT_RESULT_MET;
        reason_ = visit.overdue_reason();
        if (visit.has_promise()) promise_fen_ = visit.promise().amount_fen();
      }
      break;
    }
    case K::kSignal:
      if (e.signal().has_promise_to_pay()) {
        promise_fen_ = e.signal().promise_to_pay().amount_fen();
      }
      break;
    case K::kPayment:
      recovered_fen_ = RecoveredFen(e);
      unallocated_fen_ = e.payment().unallocated_fen();
      break;
    case K::kLegalMilestone:
      if (e.legal_milestone().kind() == v1::LEGAL_MILESTONE_KIND_AMOUNT_RECOVERED) {
        recovered_fen_ = RecoveredFen(e);
        unallocated_fen_ = e.legal_milestone().unallocated_fen();
      }
      break;
    case K::kPenaltyWaived:
      waived_fen_ = e.penalty_waived().amount_fen();
      break;
    default:
      break;
  }
  policy_version_ = e.policy_version();
  product_ = c.product();
  region_ = c.borrower().region();
  queue_ = c.assigned_queue();
  prev_entry_day_ = -1;
  return true;
}

}  // namespace collections::storage
