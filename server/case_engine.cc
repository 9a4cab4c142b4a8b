#include "server/case_engine.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "server/commands.h"
#include "server/experiment_assignment.h"
#include "server/logging.h"
#include "server/transitions.h"
#include "storage/case_batches.h"
#include "storage/peer_link.h"
#include "storage/reports.h"
#include "workflow/dates.h"
#include "workflow/money.h"
#include "workflow/plan.h"
#include "workflow/state_machine.h"

namespace collections::server {
namespace {

using workflow::DayFromProto;
using workflow::DayToProto;

// Loads the case a request names by id or loan id: NOT_FOUND naming it.
absl::StatusOr<v1::Case> LoadTarget(storage::UnitOfWork& uow, int64_t case_id,
                                    const std::string& loan_id) {
  std::optional<v1::Case> c;
  if (case_id > 0) {
    ASSIGN_OR_RETURN(c, uow.LoadCase(case_id));
    if (!c) return absl::NotFoundError(absl::StrCat("case_id ", case_id, " not found"));
  } else if (!loan_id.empty()) {
    ASSIGN_OR_RETURN(c, uow.LoadCaseByLoan(loan_id));
    if (!c) return absl::NotFoundError(absl::StrCat("loan_id ", loan_id, " has no case"));
  } else {
    return absl::InvalidArgumentError("case_id or loan_id is required");
  }
  return *std::move(c);
}

// Days past due as of the current business date; the stored figure is as of
// the case's last event.
void RefreshDaysPastDue(v1::Case& c, absl::CivilDay today) {
  if (workflow::IsOpenStage(c.stage())) {
    c.set_days_past_due(workflow::DaysPastDueOn(c, today));
  }
}

// Waits for a known number of callbacks.
class Pending {
 public:
  void Add() {
    absl::MutexLock lock(&mu_);
    ++outstanding_;
  }
  void Done(const absl::Status& status) {
    absl::MutexLock lock(&mu_);
    --outstanding_;
    if (!status.ok() && first_error_.ok()) first_error_ = status;
  }
  absl::Status Wait() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int* n) { return *n == 0; }, &outstanding_));
    return first_error_;
  }
  // Blocks while more than `limit` are outstanding (flow control).
  void WaitBelow(int limit) {
    absl::MutexLock lock(&mu_);
    auto below = [this, limit]()
                     ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return outstanding_ < limit; };
    mu_.Await(absl::Condition(&below));
  }

 private:
  absl::Mutex mu_;
  int outstanding_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status first_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

CaseEngine::CaseEngine(storage::Store* store, const Clock* clock, PolicyRegistry* policies,
                       absl::Duration idempotency_retention, const ExperimentRegistry* experiments,
                       int aging_batch)
    : store_(store),
      clock_(clock),
      policies_(policies),
      experiments_(experiments),
      idempotency_retention_(idempotency_retention),
      aging_batch_(std::max(1, aging_batch)) {}

absl::Status CaseEngine::Start(const std::string& time_zone) {
  absl::StatusOr<absl::CivilDay> stored = store_->BusinessDate();
  if (!stored.ok() && stored.status().code() != absl::StatusCode::kNotFound) {
    return stored.status();
  }
  absl::TimeZone tz;
  if (!absl::LoadTimeZone(time_zone, &tz)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown time zone ", time_zone));
  }
  zone_ = tz;
  if (!stored.ok()) {
    const absl::CivilDay today = absl::ToCivilDay(clock_->Now(), tz);
    RETURN_IF_ERROR(
        store_->Write([today](storage::UnitOfWork& uow) { return uow.SetBusinessDate(today); }));
    LogInfo("business date: first start, set to %s", workflow::FormatDay(today));
    stored = today;
  }
  {
    absl::MutexLock lock(&date_mu_);
    business_date_ = *stored;
  }
  return absl::OkStatus();
}

absl::Status CaseEngine::CatchUp() {
  const absl::CivilDay day = BusinessDate();
  storage::AuditEntry by;
  by.principal = "system:aging";
  by.action = "AdvanceBusinessDate";
  auto resumed = AdvanceTo(day, by);  // the same day: no move, no audit row
  if (!resumed.ok()) return resumed.status();
  if (resumed->cases_aged() + resumed->timers_fired() > 0) {
    LogInfo("business date %s: resumed an interrupted run (%d cases aged, %d timers fired)",
            workflow::FormatDay(day), resumed->cases_aged(), resumed->timers_fired());
  }
  return absl::OkStatus();
}

absl::CivilDay CaseEngine::BusinessDate() const {
  absl::MutexLock lock(&date_mu_);
  return business_date_;
}

absl::StatusOr<absl::CivilDay> CaseEngine::ImportDay(const v1::DelinquencyRecord& record) const {
  RETURN_IF_ERROR(
      workflow::ValidateDelinquencyRecord(record, policies_->Current(), BusinessDate()));
  if (!record.borrower().time_zone().empty()) {
    absl::TimeZone tz;
    if (!absl::LoadTimeZone(record.borrower().time_zone(), &tz)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "borrower.time_zone ", record.borrower().time_zone(), " is not a known zone"));
    }
  }
  // A row as of an earlier day than the business date is aged to the
  // business date as it lands; a later one (a feed ahead of the aging run)
  // counts from its own as-of date.
  return std::max(BusinessDate(), *DayFromProto(record.as_of(), "as_of"));
}

absl::StatusOr<ImportKind> CaseEngine::ImportRow(storage::UnitOfWork& uow,
                                                 const v1::DelinquencyRecord& record,
                                                 const std::string& actor, absl::CivilDay today,
                                                 const std::optional<v1::Case>& current,
                                                 std::vector<workflow::Transition>* openings) {
  v1::CaseEvent event;
  *event.mutable_business_date() = DayToProto(today);
  event.set_actor(actor);
  if (current) {
    // Idempotent per (loan, as-of): a row already seen changes nothing.
    auto last = DayFromProto(current->as_of(), "as_of");
    auto as_of = DayFromProto(record.as_of(), "as_of");
    if (last.ok() && as_of.ok() && *as_of <= *last) return ImportKind::kUnchanged;
    *event.mutable_imported() = record;
    RETURN_IF_ERROR(DecideAndApply(uow, *policies_, *clock_, &*current, event).status());
    return ImportKind::kUpdated;
  }
  ASSIGN_OR_RETURN(int64_t id, uow.AllocateIds("case", 1));
  event.set_case_id(id);
  *event.mutable_imported() = record;
  std::optional<v1::Experiment> live;
  if (experiments_ != nullptr) live = experiments_->Live();
  if (openings != nullptr && (!live || live->state() != v1::EXPERIMENT_STATE_RUNNING)) {
    // What DecideAndApply does for a new case, with the write left to
    // OpenCases.
    ASSIGN_OR_RETURN(workflow::Transition opened,
                     workflow::Decide(v1::Case(), event, policies_->Current(), clock_->Now()));
    openings->push_back(std::move(opened));
  } else {
    RETURN_IF_ERROR(OpenCase(uow, *policies_, experiments_, *clock_, event, today));
  }
  return ImportKind::kOpened;
}

void CaseEngine::Import(v1::DelinquencyRecord record, const std::string& actor,
                        std::function<void(absl::StatusOr<ImportKind>)> done, CallAlive alive) {
  absl::StatusOr<absl::CivilDay> today = ImportDay(record);
  if (!today.ok()) {
    done(today.status());
    return;
  }
  SubmitFor<ImportKind>(
      store_,
      [this, record = std::move(record), actor, today = *today](storage::UnitOfWork& uow,
                                                                ImportKind& kind) -> absl::Status {
        ASSIGN_OR_RETURN(std::optional<v1::Case> current, uow.LoadCaseByLoan(record.loan_id()));
        ASSIGN_OR_RETURN(kind, ImportRow(uow, record, actor, today, current, nullptr));
        return absl::OkStatus();
      },
      std::move(done), std::move(alive), storage::WriteLane::kBulk);
}

void CaseEngine::ImportMany(std::vector<v1::DelinquencyRecord> records, const std::string& actor,
                            std::function<void(size_t, absl::StatusOr<ImportKind>)> done,
                            CallAlive alive) {
  // A few rows (a feed that trickles) go one command each: prepared
  // one-row statements beat building multi-row ones for them.
  if (records.size() < kFewRows) {
    for (size_t i = 0; i < records.size(); ++i) {
      Import(
          std::move(records[i]), actor,
          [done, i](absl::StatusOr<ImportKind> kind) { done(i, std::move(kind)); }, alive);
    }
    return;
  }
  // Rows that fail their checks are answered now; the rest go together.
  struct Row {
    size_t index;
    absl::CivilDay today;
  };
  auto rows = std::make_shared<std::vector<Row>>();
  auto valid = std::make_shared<std::vector<v1::DelinquencyRecord>>();
  for (size_t i = 0; i < records.size(); ++i) {
    absl::StatusOr<absl::CivilDay> today = ImportDay(records[i]);
    if (!today.ok()) {
      done(i, today.status());
      continue;
    }
    rows->push_back({i, *today});
    valid->push_back(std::move(records[i]));
  }
  if (rows->empty()) return;
  using Kinds = std::vector<ImportKind>;
  SubmitFor<Kinds>(
      store_,
      [this, rows, valid, actor](storage::UnitOfWork& uow, Kinds& kinds) -> absl::Status {
        std::vector<std::string> loans;
        for (const v1::DelinquencyRecord& r : *valid) loans.push_back(r.loan_id());
        ASSIGN_OR_RETURN(std::vector<std::optional<v1::Case>> cases, uow.LoadCasesByLoans(loans));
        std::vector<workflow::Transition> openings;
        absl::flat_hash_set<std::string> seen;
        for (size_t i = 0; i < valid->size(); ++i) {
          const v1::DelinquencyRecord& record = (*valid)[i];
          std::optional<v1::Case> current = std::move(cases[i]);
          if (!seen.insert(record.loan_id()).second) {
            // The loan again (a feed may carry a later as-of of it): read
            // the case as the rows before left it.
            RETURN_IF_ERROR(uow.OpenCases(openings));
            openings.clear();
            ASSIGN_OR_RETURN(current, uow.LoadCaseByLoan(record.loan_id()));
          }
          // Any error fails the whole batch (its rows then go one by one,
          // each with its own outcome, below): a row's error may come after
          // some of its writes.
          ASSIGN_OR_RETURN(ImportKind kind,
                           ImportRow(uow, record, actor, (*rows)[i].today, current, &openings));
          kinds.push_back(kind);
        }
        return uow.OpenCases(openings);
      },
      [this, rows, valid, actor, done, alive](absl::StatusOr<Kinds> kinds) {
        if (kinds.ok()) {
          for (size_t i = 0; i < rows->size(); ++i) done((*rows)[i].index, (*kinds)[i]);
          return;
        }
        // One row's trouble is not the others': each on its own, as
        // Import would have taken it.
        for (size_t i = 0; i < rows->size(); ++i) {
          const size_t index = (*rows)[i].index;
          Import(
              std::move((*valid)[i]), actor,
              [done, index](absl::StatusOr<ImportKind> kind) { done(index, std::move(kind)); },
              alive);
        }
      },
      alive, storage::WriteLane::kBulk);
}

void CaseEngine::RecordPayment(v1::RecordPaymentRequest request, const std::string& actor,
                               std::function<void(absl::StatusOr<v1::RecordPaymentResponse>)> done,
                               CallAlive alive) {
  const v1::Payment& p = request.payment();
  absl::Status invalid;
  if (p.payment_id().empty()) {
    invalid = absl::InvalidArgumentError("payment.payment_id is required");
  } else if (p.payment_id().size() > workflow::kMaxIdLength) {
    invalid = absl::InvalidArgumentError("payment.payment_id is too long (at most 64 bytes)");
  } else if (p.amount_fen() <= 0) {
    invalid = absl::InvalidArgumentError("payment.amount_fen must be positive");
  } else if (p.channel().size() > workflow::kMaxIdLength) {
    invalid = absl::InvalidArgumentError("payment.channel is too long (at most 64 bytes)");
  } else if (request.target_case() == v1::RecordPaymentRequest::TARGET_NOT_SET) {
    invalid = absl::InvalidArgumentError("case_id or loan_id is required");
  } else {
    invalid = workflow::ValidateFen(p.amount_fen(), "payment.amount_fen");
    if (invalid.ok() && !workflow::IsUnset(p.paid_on())) {
      invalid = DayFromProto(p.paid_on(), "payment.paid_on").status();
    }
  }
  if (!invalid.ok()) {
    done(invalid);
    return;
  }
  const absl::CivilDay today = BusinessDate();
  SubmitFor<v1::RecordPaymentResponse>(
      store_,
      [this, request = std::move(request), actor, today](
          storage::UnitOfWork& uow, v1::RecordPaymentResponse& response) -> absl::Status {
        ASSIGN_OR_RETURN(auto seen, uow.FindPayment(request.payment().payment_id()));
        if (seen) {
          // The first answer again; nothing changes.
          ASSIGN_OR_RETURN(auto c, uow.LoadCase(seen->case_id));
          if (c) *response.mutable_case_() = *c;
          *response.mutable_payment() = seen->payment;
          response.set_duplicate(true);
          return absl::OkStatus();
        }
        ASSIGN_OR_RETURN(v1::Case current, LoadTarget(uow, request.case_id(), request.loan_id()));
        v1::CaseEvent event;
        *event.mutable_business_date() = DayToProto(today);
        event.set_actor(actor);
        *event.mutable_payment() = request.payment();
        if (workflow::IsUnset(event.payment().paid_on())) {
          *event.mutable_payment()->mutable_paid_on() = DayToProto(today);
        }
        // A running plan: the payment pays its instalments in order (as much
        // as the state machine puts into the plan, Payment.plan_fen: both stop
        // at what the plan still owes), and an instalment paid in full no
        // longer needs its timer.
        std::optional<v1::Plan> plan;
        std::vector<workflow::TimerRef> paid_instalments;
        if (current.active_plan_id() != 0) {
          ASSIGN_OR_RETURN(plan, uow.LoadPlan(current.active_plan_id()));
          if (plan) {
            for (int n : workflow::ApplyToInstalments(*plan, request.payment().amount_fen())) {
              paid_instalments.push_back({workflow::TimerKind::kInstalmentDue,
                                          workflow::InstalmentTimerRef(plan->plan_id(), n)});
            }
          }
        }
        ASSIGN_OR_RETURN(
            workflow::Transition t,
            DecideAndApply(uow, *policies_, *clock_, &current, event, std::move(paid_instalments)));
        *response.mutable_payment() = t.event.payment();
        if (plan) {
          if (!workflow::IsOpenStage(t.next.stage())) {
            // A plan approved before plans tracked their balance ends when
            // the arrears are paid off.
            plan->set_state(v1::PLAN_STATE_COMPLETED);
          } else if (workflow::FullyPaid(*plan)) {
            // Every instalment paid: only now does the case leave
            // REPAYMENT_PLAN (cured, or closed as restructured).
            v1::CaseEvent done;
            *done.mutable_business_date() = DayToProto(today);
            done.set_actor("system:plans");
            done.mutable_plan_completed()->set_plan_id(plan->plan_id());
            done.mutable_plan_completed()->set_kind(plan->kind());
            ASSIGN_OR_RETURN(t, DecideAndApply(uow, *policies_, *clock_, &t.next, done));
            plan->set_state(v1::PLAN_STATE_COMPLETED);
          }
          RETURN_IF_ERROR(uow.SavePlan(*plan));
        }
        *response.mutable_case_() = t.next;
        return absl::OkStatus();
      },
      std::move(done), std::move(alive));
}

void CaseEngine::Signal(v1::SignalCaseRequest request, const std::string& actor,
                        std::function<void(absl::StatusOr<v1::SignalCaseResponse>)> done,
                        CallAlive alive) {
  absl::Status invalid = CheckRequiredRequestId(request.request_id());
  if (invalid.ok() && request.case_id() <= 0) {
    invalid = absl::InvalidArgumentError("case_id is required");
  }
  if (invalid.ok() && request.signal().signal_case() == v1::Signal::SIGNAL_NOT_SET) {
    invalid = absl::InvalidArgumentError("signal: one kind of signal is required");
  }
  if (invalid.ok()) {
    // Free text is bounded like every other string.
    const v1::Signal& s = request.signal();
    for (const std::string* text :
         {&s.note().text(), &s.hardship_declared().reason(), &s.dispute_opened().reason(),
          &s.dispute_resolved().resolution(), &s.cease_contact().reason(),
          &s.bankruptcy().court_reference()}) {
      if (text->size() > 4096) {
        invalid = absl::InvalidArgumentError("signal text is too long (at most 4096 bytes)");
      }
    }
  }
  if (!invalid.ok()) {
    done(invalid);
    return;
  }
  const absl::CivilDay today = BusinessDate();
  SubmitFor<v1::SignalCaseResponse>(
      store_,
      [this, request = std::move(request), actor, today](
          storage::UnitOfWork& uow, v1::SignalCaseResponse& response) -> absl::Status {
        // Scoped to the caller and the case: another case's request_id is a
        // separate request, never a replay of that case's answer.
        const IdempotencyKey key =
            IdempotencyKeyFor("/collections.v1.CaseService/SignalCase", actor, request.case_id(),
                              request.request_id(), request);
        ASSIGN_OR_RETURN(bool seen, FindStoredAnswer(uow, key, &response));
        if (seen) return absl::OkStatus();
        ASSIGN_OR_RETURN(v1::Case current, LoadTarget(uow, request.case_id(), ""));
        v1::CaseEvent event;
        *event.mutable_business_date() = DayToProto(today);
        event.set_actor(actor);
        *event.mutable_signal() = request.signal();
        ASSIGN_OR_RETURN(workflow::Transition t,
                         DecideAndApply(uow, *policies_, *clock_, &current, event));
        *response.mutable_case_() = t.next;
        return SaveAnswer(uow, key, response);
      },
      std::move(done), std::move(alive));
}

absl::StatusOr<v1::GetCaseResponse> CaseEngine::GetCase(const v1::GetCaseRequest& request) {
  if (request.events_page_size() < 0 || request.events_page_size() > kMaxEventsPage) {
    return absl::InvalidArgumentError(absl::StrCat("events_page_size must be 0..", kMaxEventsPage,
                                                   " (0: ", kDefaultEventsPage, ")"));
  }
  absl::StatusOr<v1::Case> c;
  switch (request.target_case()) {
    case v1::GetCaseRequest::kCaseId:
      if (request.case_id() <= 0) return absl::InvalidArgumentError("case_id must be positive");
      c = store_->GetCase(request.case_id());
      break;
    case v1::GetCaseRequest::kLoanId:
      if (request.loan_id().empty() || request.loan_id().size() > workflow::kMaxIdLength) {
        return absl::InvalidArgumentError("loan_id must be 1..64 bytes");
      }
      c = store_->GetCaseByLoan(request.loan_id());
      break;
    default:
      return absl::InvalidArgumentError("case_id or loan_id is required");
  }
  if (!c.ok()) return c.status();
  // The token is "<case id>:<last sequence given>", so that it cannot page
  // another case by mistake.
  int64_t after = 0;
  const bool first_page = request.events_page_token().empty();
  if (!first_page) {
    std::pair<std::string, std::string> parts =
        absl::StrSplit(request.events_page_token(), absl::MaxSplits(':', 1));
    int64_t token_case = 0;
    if (!absl::SimpleAtoi(parts.first, &token_case) || token_case != c->case_id() ||
        !absl::SimpleAtoi(parts.second, &after) || after <= 0) {
      return absl::InvalidArgumentError(
          "events_page_token is not one this server gave out for this case");
    }
  }
  const int page =
      request.events_page_size() == 0 ? kDefaultEventsPage : request.events_page_size();
  v1::GetCaseResponse out;
  ASSIGN_OR_RETURN(std::vector<v1::CaseEvent> events,
                   store_->ListEventsPage(c->case_id(), after, 0, page + 1, /*newest=*/false));
  if (static_cast<int>(events.size()) > page) {
    events.resize(page);
    out.set_next_events_page_token(absl::StrCat(c->case_id(), ":", events.back().sequence()));
  }
  if (first_page) {
    ASSIGN_OR_RETURN(std::vector<v1::Task> tasks, store_->ListTasks(c->case_id()));
    for (v1::Task& t : tasks) *out.add_tasks() = std::move(t);
    ASSIGN_OR_RETURN(std::vector<v1::Payment> payments, store_->ListCasePayments(c->case_id()));
    for (v1::Payment& p : payments) *out.add_payments() = std::move(p);
    ASSIGN_OR_RETURN(std::vector<v1::Plan> plans, store_->ListPlans(c->case_id()));
    for (v1::Plan& p : plans) *out.add_plans() = std::move(p);
    ASSIGN_OR_RETURN(std::vector<v1::Handoff> handoffs, store_->ListCaseHandoffs(c->case_id()));
    for (v1::Handoff& h : handoffs) *out.add_handoffs() = std::move(h);
  }
  RefreshDaysPastDue(*c, BusinessDate());
  *out.mutable_case_() = *std::move(c);
  for (v1::CaseEvent& e : events) *out.add_events() = std::move(e);
  return out;
}

absl::StatusOr<v1::ListCasesResponse> CaseEngine::ListCases(const v1::ListCasesRequest& request) {
  storage::CaseFilter filter;
  for (int s : request.stages()) {
    if (s == v1::STAGE_UNSPECIFIED || !v1::Stage_IsValid(s)) {
      return absl::InvalidArgumentError(absl::StrCat("stages: unknown stage ", s));
    }
    filter.stages.push_back(static_cast<v1::Stage>(s));
  }
  for (int c : request.classes()) {
    if (c == v1::CASE_CLASS_UNSPECIFIED || !v1::CaseClass_IsValid(c)) {
      return absl::InvalidArgumentError(absl::StrCat("classes: unknown class ", c));
    }
    filter.classes.push_back(static_cast<v1::CaseClass>(c));
  }
  if (request.min_days_past_due() < 0 || request.max_days_past_due() < 0) {
    return absl::InvalidArgumentError(
        "min_days_past_due and max_days_past_due must not be negative");
  }
  if (request.max_days_past_due() > 0 &&
      request.max_days_past_due() < request.min_days_past_due()) {
    return absl::InvalidArgumentError("max_days_past_due is below min_days_past_due");
  }
  if (request.page_size() < 0 || request.page_size() > storage::kMaxPageSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size must be 0..", storage::kMaxPageSize, " (0: 100)"));
  }
  if (request.assigned_queue().size() > workflow::kMaxIdLength) {
    return absl::InvalidArgumentError("assigned_queue is too long");
  }
  if (request.policy_version() < 0) {
    return absl::InvalidArgumentError("policy_version must not be negative");
  }
  int64_t after = 0;
  if (!request.page_token().empty() &&
      (!absl::SimpleAtoi(request.page_token(), &after) || after <= 0)) {
    return absl::InvalidArgumentError("page_token is not one this server gave out");
  }
  filter.min_days_past_due = request.min_days_past_due();
  filter.max_days_past_due = request.max_days_past_due();
  filter.assigned_queue = request.assigned_queue();
  filter.policy_version = request.policy_version();
  if (request.has_updated_since()) {
    filter.updated_since = workflow::TimeFromProto(request.updated_since());
  }
  const absl::CivilDay today = BusinessDate();
  filter.today = today;
  filter.after_case_id = after;
  const int page = request.page_size() == 0 ? 100 : request.page_size();
  filter.limit = page + 1;  // one more tells whether another page exists
  ASSIGN_OR_RETURN(std::vector<v1::Case> cases, store_->ListCases(filter));
  v1::ListCasesResponse out;
  for (size_t i = 0; i < cases.size() && static_cast<int>(i) < page; ++i) {
    v1::Case& c = cases[i];
    RefreshDaysPastDue(c, today);
    v1::CaseSummary* s = out.add_cases();
    s->set_case_id(c.case_id());
    s->set_loan_id(c.loan_id());
    s->set_stage(c.stage());
    s->set_case_class(c.classification().case_class());
    s->set_days_past_due(c.days_past_due());
    s->set_overdue_total_fen(workflow::OverdueTotal(c.overdue()));
    s->set_assigned_queue(c.assigned_queue());
    s->set_policy_version(c.policy_version());
    *s->mutable_updated_at() = c.updated_at();
  }
  if (static_cast<int>(cases.size()) > page) {
    out.set_next_page_token(absl::StrCat(cases[page - 1].case_id()));
  }
  return out;
}

absl::Status CaseEngine::RefreshBusinessDate() {
  absl::StatusOr<absl::CivilDay> stored = store_->BusinessDate();
  if (!stored.ok()) return stored.status();
  absl::MutexLock lock(&date_mu_);
  business_date_ = *stored;
  return absl::OkStatus();
}

absl::StatusOr<v1::AdvanceBusinessDateResponse> CaseEngine::AdvanceTo(absl::CivilDay to,
                                                                      const storage::AuditEntry& by,
                                                                      int64_t leader_epoch) {
  const std::string& actor = by.principal;
  absl::MutexLock lock(&aging_mu_);
  RETURN_IF_ERROR(RefreshBusinessDate());
  // Real time, not the clock: how long the run took is a cost, not a date.
  const absl::Time started = absl::Now();
  const absl::CivilDay current = BusinessDate();
  if (to < current) {
    return absl::InvalidArgumentError(absl::StrCat("to: ", workflow::FormatDay(to),
                                                   " is before the business date ",
                                                   workflow::FormatDay(current)));
  }
  if (to - current > 366) {
    return absl::InvalidArgumentError("to: at most 366 days at a time");
  }
  DayCounts counts;
  // The current day first: it finishes a run that a crash interrupted.
  for (absl::CivilDay day = current; day <= to; ++day) {
    if (stopping_.load()) {
      return absl::UnavailableError(absl::StrCat(
          "the server is shutting down: the business date is ", workflow::FormatDay(BusinessDate()),
          ", not yet ", workflow::FormatDay(to), "; ask again once it is back"));
    }
    if (day > current) {
      storage::AuditEntry audit = by;
      audit.detail = absl::StrCat("business date ", workflow::FormatDay(day - 1), " -> ",
                                  workflow::FormatDay(day));
      RETURN_IF_ERROR(store_->Write([day, &audit, leader_epoch](storage::UnitOfWork& uow) {
        RETURN_IF_ERROR(uow.CheckLeaderEpoch(storage::kJobsRole, leader_epoch));
        RETURN_IF_ERROR(uow.SetBusinessDate(day));
        return uow.AppendAudit(audit);
      }));
      absl::MutexLock date_lock(&date_mu_);
      business_date_ = day;
    }
    RETURN_IF_ERROR(RunDay(day, actor, counts));
  }
  ASSIGN_OR_RETURN(int64_t purged, PurgeExpiredAnswers());
  if (purged > 0) {
    LogInfo("business date %s: purged %d idempotent answers older than %s", workflow::FormatDay(to),
            purged, absl::FormatDuration(idempotency_retention_));
  }
  v1::AdvanceBusinessDateResponse out;
  *out.mutable_business_date() = DayToProto(to);
  out.set_cases_aged(counts.aged);
  out.set_stage_changes(counts.stage_changes);
  out.set_timers_fired(counts.timers_fired);
  {
    absl::MutexLock date_lock(&date_mu_);
    ++last_aging_run_.runs;
    last_aging_run_.days = to - current;
    last_aging_run_.took = absl::Now() - started;
  }
  return out;
}

CaseEngine::AgingRun CaseEngine::LastAgingRun() const {
  absl::MutexLock lock(&date_mu_);
  return last_aging_run_;
}

absl::StatusOr<int64_t> CaseEngine::PurgeExpiredAnswers() {
  constexpr int kBatch = 1000;
  const absl::Time cutoff = clock_->Now() - idempotency_retention_;
  int64_t total = 0;
  for (;;) {
    int purged = 0;
    RETURN_IF_ERROR(store_->Write([&](storage::UnitOfWork& uow) -> absl::Status {
      ASSIGN_OR_RETURN(purged, uow.PurgeResponses(cutoff, kBatch));
      return absl::OkStatus();
    }));
    total += purged;
    if (purged < kBatch) return total;
  }
}

absl::Time CaseEngine::TimeOfBusinessDay(absl::CivilDay day) const {
  const absl::Time now = clock_->Now();
  const absl::CivilDay wall_day = absl::ToCivilDay(now, zone_);
  if (day >= wall_day) return now;
  return workflow::TimeOnBusinessDay(day, now, wall_day, zone_);
}

absl::Status CaseEngine::RunDay(absl::CivilDay day, const std::string& actor, DayCounts& counts) {
  const absl::Time started = absl::Now();
  RETURN_IF_ERROR(AgeCases(day, actor, counts));
  RETURN_IF_ERROR(FireTimers(day, counts));
  const absl::Time aged = absl::Now();
  // The book as the day's run left it, for the portfolio and roll rates.
  RETURN_IF_ERROR(storage::TakeReportSnapshot(*store_, day));
  // Operators see where a day's run spends its time (issue 17).
  LogInfo("business date %s: aging and timers took %s, the report book %s",
          workflow::FormatDay(day), absl::FormatDuration(aged - started),
          absl::FormatDuration(absl::Now() - aged));
  return absl::OkStatus();
}

absl::Status CaseEngine::AgeCase(storage::UnitOfWork& uow, const std::optional<v1::Case>& c,
                                 absl::CivilDay day, absl::Time at, const std::string& actor,
                                 DayCounts& counts) {
  // Moved on since it was listed (an event already aged it).
  if (!c || !workflow::IsOpenStage(c->stage())) return absl::OkStatus();
  auto last = DayFromProto(c->business_date(), "business_date");
  if (last.ok() && *last >= day) return absl::OkStatus();
  v1::CaseEvent event;
  *event.mutable_business_date() = DayToProto(day);
  event.set_actor(actor);
  event.mutable_aged();
  ASSIGN_OR_RETURN(workflow::Transition t, DecideAndApply(uow, *policies_, at, &*c, event));
  ++counts.aged;
  if (t.next.stage() != c->stage()) ++counts.stage_changes;
  return absl::OkStatus();
}

absl::Status CaseEngine::AgeCases(absl::CivilDay day, const std::string& actor, DayCounts& counts) {
  // Pages through the due cases in (next aging day, case id) order, reading
  // only the index, and ages them `aging_batch_` to a command: their cases
  // read with one statement, the writer grouping the commands into commits.
  // A batch that fails goes again one case per command, so that one bad
  // case cannot stop the others. A case aged here moves its next aging day
  // past `day`, out of the listing, and events on it meanwhile do the same,
  // so the cursor never misses one.
  //
  // The commands go in the writer's bulk lane with up to kInFlight cases
  // queued, as an import's rows do: an aged case rewrites entries at
  // random places in several indexes, and a commit writes each page it
  // dirtied once however many cases touched it, so a day's run writes less
  // the more cases a commit holds (at 4,000 cases a commit rewrote every
  // page of those indexes, 38 KB per aged case when every case moves). But
  // a commit's dirty pages should fit in the writer's page cache: at
  // 1,000,000 cases, 32,768 made a typical day slower (6.4 s against 4.5 s
  // for the same day), likely from pages spilled and read again. A claim or
  // payment meanwhile waits only for the commit in progress, which the bulk
  // lane keeps short while such commands come.
  constexpr int kPage = 1000;
  constexpr int kInFlight = 8192;
  const absl::Time at = TimeOfBusinessDay(day);
  Pending pending;
  absl::Mutex mu;
  DayCounts done_counts;  // guarded by mu
  auto add = [&mu, &done_counts](const DayCounts& n) {
    absl::MutexLock lock(&mu);
    done_counts.aged += n.aged;
    done_counts.stage_changes += n.stage_changes;
  };
  // One case on its own command.
  auto age_alone = [&, day, at](int64_t id) {
    pending.Add();
    SubmitFor<DayCounts>(
        store_,
        [this, id, day, at, &actor](storage::UnitOfWork& uow, DayCounts& n) -> absl::Status {
          ASSIGN_OR_RETURN(std::optional<v1::Case> c, uow.LoadCase(id));
          return AgeCase(uow, c, day, at, actor, n);
        },
        [&pending, &add](absl::StatusOr<DayCounts> n) {
          if (n.ok()) add(*n);
          pending.Done(n.status());
        },
        nullptr, storage::WriteLane::kBulk);
  };
  auto age_batch = [&, day, at](std::vector<int64_t> ids) {
    if (ids.size() == 1) return age_alone(ids[0]);
    pending.Add();
    auto batch = std::make_shared<std::vector<int64_t>>(std::move(ids));
    SubmitFor<DayCounts>(
        store_,
        [this, batch, day, at, &actor](storage::UnitOfWork& uow, DayCounts& n) -> absl::Status {
          ASSIGN_OR_RETURN(std::vector<std::optional<v1::Case>> cases,
                           storage::LoadCases(uow, *batch));
          for (const std::optional<v1::Case>& c : cases) {
            RETURN_IF_ERROR(AgeCase(uow, c, day, at, actor, n));
          }
          return absl::OkStatus();
        },
        [&pending, &add, &age_alone, batch](absl::StatusOr<DayCounts> n) {
          if (n.ok()) {
            add(*n);
          } else {
            // One case's trouble is not the others': each on its own
            // (added before this batch is done, so Wait still waits).
            for (int64_t id : *batch) age_alone(id);
          }
          pending.Done(absl::OkStatus());
        },
        nullptr, storage::WriteLane::kBulk);
  };
  storage::AgingCursor after;
  std::vector<int64_t> ids;
  while (true) {
    ASSIGN_OR_RETURN(std::vector<storage::AgingCursor> page,
                     store_->ListAgingDue(day, after, kPage));
    for (const storage::AgingCursor& listed : page) {
      after = listed;
      ids.push_back(listed.case_id);
      if (static_cast<int>(ids.size()) < aging_batch_) continue;
      // Flow control: kInFlight cases' worth of commands at most.
      pending.WaitBelow(std::max(2, kInFlight / aging_batch_));
      age_batch(std::move(ids));
      ids.clear();
    }
    if (static_cast<int>(page.size()) < kPage) break;
  }
  if (!ids.empty()) age_batch(std::move(ids));
  absl::Status status = pending.Wait();
  {
    absl::MutexLock lock(&mu);
    counts.aged += done_counts.aged;
    counts.stage_changes += done_counts.stage_changes;
  }
  if (!status.ok()) {
    LogError("aging %s: %s (the run can be resumed)", workflow::FormatDay(day), status.ToString());
  }
  return status;
}

absl::Status CaseEngine::FireTimers(absl::CivilDay day, DayCounts& counts) {
  constexpr int kBatch = 256;
  const absl::Time at = TimeOfBusinessDay(day);
  while (true) {
    auto fired = std::make_shared<int64_t>(0);
    auto more = std::make_shared<bool>(false);
    RETURN_IF_ERROR(
        store_->Write([this, day, at, fired, more](storage::UnitOfWork& uow) -> absl::Status {
          *fired = 0;  // a run that lost a race runs again from scratch
          ASSIGN_OR_RETURN(std::vector<storage::DueTimer> due, uow.DueTimers(day, kBatch));
          *more = static_cast<int>(due.size()) == kBatch;
          for (const storage::DueTimer& d : due) {
            ASSIGN_OR_RETURN(std::optional<v1::Case> c, uow.LoadCase(d.case_id));
            if (c && workflow::IsOpenStage(c->stage())) {
              v1::CaseEvent event = workflow::EventForTimer(d.timer.timer);
              *event.mutable_business_date() = DayToProto(day);
              // A missed instalment breaks the plan it belongs to, if it is the
              // one running.
              std::optional<v1::Plan> plan;
              if (event.has_plan_broken()) {
                ASSIGN_OR_RETURN(plan, uow.LoadPlan(event.plan_broken().plan_id()));
                if (plan && plan->plan_id() == c->active_plan_id()) {
                  event.mutable_plan_broken()->set_instalment_count(plan->instalments_size());
                } else {
                  plan.reset();
                }
              }
              auto t = (event.has_plan_broken() && !plan)
                           ? absl::StatusOr<workflow::Transition>(
                                 absl::FailedPreconditionError("plan is not running"))
                           : DecideAndApply(uow, *policies_, at, &*c, event, {d.timer.timer});
              if (t.ok()) {
                if (plan) {
                  plan->set_state(v1::PLAN_STATE_BROKEN);
                  RETURN_IF_ERROR(uow.SavePlan(*plan));
                }
                ++*fired;
                continue;
              }
              // A timer the case no longer needs (promise kept meanwhile) is
              // dropped; anything else is a real failure.
              if (t.status().code() != absl::StatusCode::kFailedPrecondition) return t.status();
            }
            RETURN_IF_ERROR(uow.DeleteTimer(d.case_id, d.timer.timer));
          }
          return absl::OkStatus();
        }));
    counts.timers_fired += *fired;
    if (!*more) return absl::OkStatus();
  }
}

}  // namespace collections::server
