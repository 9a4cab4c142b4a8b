// Every report of ReportService against a brute-force recount, on a
// randomized book driven through the real write path (imports, payments,
// promises, task outcomes, date moves) for 60 business days, on SQLite and
// PostgreSQL. The recount reads what a report is about from the sources,
// never from the report tables: each case's file (its events, replayed
// through workflow::Decide to know the case after each event), the tasks and
// contacts rows, and the book recorded after each day's run. Whatever the
// report queries do to be fast (indexes, aggregates kept as the book moves),
// they must say what this recount says, for any filter and any period.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "collections/v1/policy_service.grpc.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "soci/soci.h"
#include "storage/reports.h"
#include "storage/sql.h"
#include "tests/service/report_service_fixture.h"
#include "workflow/dates.h"
#include "workflow/state_machine.h"

namespace collections::report_test {
namespace {

using google::protobuf::util::MessageDifferencer;
using workflow::DayNumber;
using workflow::DayToProto;

constexpr int kCases = 2000;
constexpr int kDays = 60;
const std::vector<std::string> kRegions = {"SH", "BJ", "GZ"};
const std::vector<std::string> kProducts = {"mortgage-30y", "consumer"};
const std::vector<std::string> kAgents = {"agent-li", "agent-wu", "agent-ma"};

// One event that matters to a report, with the case as the event left it.
struct Fact {
  int64_t case_id = 0, seq = 0, day = 0;
  int stage_before = 0, stage_after = 0, case_class = 0;
  int64_t task_id = 0;
  int task_type = 0, contact = 0, right_party = 0, reason = 0;
  int64_t promise_fen = 0, recovered = 0, waived = 0, unallocated = 0;
  int64_t policy_version = 0;
  std::string product, region, queue;
};

struct TaskRow {
  int64_t case_id = 0;
  std::string queue, lease_owner, hold_reason;
  int state = 0;
  int64_t cost_fen = 0, completed_at_us = 0, deadline_us = 0, not_before_us = 0, lease_token = 0;
};

// A case as the book holds it (the cases row).
struct BookRow {
  int64_t case_id = 0;
  int stage = 0, case_class = 0;
  int64_t overdue = 0, principal = 0, policy_version = 0, oldest_due_day = 0;
  std::string product, region, queue;
};

// What a report covers (ReportRequest, resolved).
struct Filter {
  absl::CivilDay from, to;
  std::string product, region, queue;
  int64_t policy_version = 0;
  int window = 30;

  bool CaseMatches(const std::string& p, const std::string& r, int64_t pv) const {
    return (product.empty() || p == product) && (region.empty() || r == region) &&
           (policy_version == 0 || pv == policy_version);
  }
  bool FactMatches(const Fact& f) const {
    return f.day >= DayNumber(from) && f.day <= DayNumber(to) &&
           CaseMatches(f.product, f.region, f.policy_version);
  }
  bool QueueMatches(const std::string& q) const { return queue.empty() || q == queue; }
  v1::ReportRequest Request() const {
    v1::ReportRequest r;
    *r.mutable_from() = DayToProto(from);
    *r.mutable_to() = DayToProto(to);
    r.set_product(product);
    r.set_region(region);
    r.set_queue(queue);
    r.set_policy_version(policy_version);
    r.set_cure_window_days(window);
    return r;
  }
  std::string Describe() const {
    return absl::StrCat(workflow::FormatDay(from), "..", workflow::FormatDay(to),
                        " product=", product, " region=", region, " queue=", queue,
                        " pv=", policy_version, " window=", window);
  }
};

int Bucket(int64_t d, int64_t oldest) {
  if (oldest == 0 || oldest >= d) return 0;
  if (oldest >= d - 30) return 1;
  if (oldest >= d - 60) return 2;
  if (oldest >= d - 90) return 3;
  if (oldest >= d - 180) return 4;
  return 5;
}
bool IsOpen(int stage) { return stage >= 1 && stage <= 4; }

// The trend's steps, as ReportService documents them: one day up to 62 days.
struct Steps {
  int64_t step = 1;
  int count = 0;
};
Steps StepsOf(const Filter& f) {
  const int64_t days = (f.to - f.from) + 1;
  Steps s;
  s.step = std::max<int64_t>(1, (days + 61) / 62);
  s.count = static_cast<int>((days + s.step - 1) / s.step);
  return s;
}

class ReportRecountTest : public ReportServiceTest {
 protected:
  void SetUp() override {
    ReportServiceTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    storage::RegisterBackends();
    raw_ = std::make_unique<soci::session>(db_);
    auto policies = v1::PolicyService::NewStub(channel_);
    v1::GetPolicyResponse got;
    grpc::Status s = policies->GetPolicy(Context().get(), v1::GetPolicyRequest(), &got);
    ASSERT_TRUE(s.ok()) << s.error_message();
    policy_ = got.policy();
  }
  void TearDown() override {
    raw_.reset();
    ReportServiceTest::TearDown();
  }

  // --- Driving the book ----------------------------------------------------------

  v1::DelinquencyRecord RandomRow(int i, absl::CivilDay as_of) {
    const int dpd = std::uniform_int_distribution<int>(1, 220)(rng_);
    const int64_t overdue = std::uniform_int_distribution<int64_t>(500, 40'000)(rng_) * CNY;
    v1::DelinquencyRecord r = testing::FeedRecord(absl::StrCat("L", i), dpd, overdue, as_of);
    r.set_product(kProducts[i % kProducts.size()]);
    r.mutable_borrower()->set_region(kRegions[(i / 2) % kRegions.size()]);
    r.set_principal_outstanding_fen(std::uniform_int_distribution<int64_t>(1, 9)(rng_) * 100'000 *
                                    CNY);
    return r;
  }

  v1::TaskOutcome RandomOutcome(v1::TaskType type, absl::CivilDay today) {
    std::uniform_int_distribution<int> pct(0, 99);
    auto reason = [&] {
      return static_cast<v1::OverdueReason>(std::uniform_int_distribution<int>(1, 8)(rng_));
    };
    v1::PromiseToPay promise;
    promise.set_amount_fen(std::uniform_int_distribution<int64_t>(100, 5'000)(rng_) * CNY);
    *promise.mutable_due_date() =
        DayToProto(today + std::uniform_int_distribution<int>(1, 5)(rng_));
    v1::TaskOutcome o;
    switch (type) {
      case v1::TASK_TYPE_SMS_REMINDER:
        o.mutable_sms()->set_delivered(pct(rng_) < 90);
        o.mutable_sms()->set_gateway_reference("gw");
        break;
      case v1::TASK_TYPE_REMINDER_CALL:
      case v1::TASK_TYPE_COUNSELLING_CALL:
      case v1::TASK_TYPE_PLAN_FOLLOW_UP_CALL: {
        v1::CallOutcome& call = *o.mutable_call();
        if (pct(rng_) < 60) {
          call.set_result(v1::CALL_RESULT_REACHED);
          call.set_right_party_contact(pct(rng_) < 80);
          call.set_overdue_reason(reason());
          if (pct(rng_) < 50) *call.mutable_promise() = promise;
        } else {
          call.set_result(v1::CALL_RESULT_NO_ANSWER);
        }
        break;
      }
      case v1::TASK_TYPE_HOME_VISIT: {
        v1::VisitOutcome& visit = *o.mutable_visit();
        if (pct(rng_) < 60) {
          visit.set_result(v1::VISIT_RESULT_MET);
          visit.set_overdue_reason(reason());
          if (pct(rng_) < 40) *visit.mutable_promise() = promise;
        } else {
          visit.set_result(v1::VISIT_RESULT_NOT_HOME);
        }
        break;
      }
      case v1::TASK_TYPE_LEGAL_LETTER:
        o.mutable_letter()->set_sent(true);
        o.mutable_letter()->set_reference("EMS");
        break;
      case v1::TASK_TYPE_HARDSHIP_ASSESSMENT:
        o.mutable_hardship_assessment()->set_genuine(pct(rng_) < 50);
        o.mutable_hardship_assessment()->set_assessment("checked");
        break;
      default:
        o.mutable_review()->set_decision("carry on");
        break;
    }
    return o;
  }

  // Claims up to `n` tasks of `queue` as a random agent and completes each.
  // What fails (a task the rules hold back, an outcome a rule refuses) is
  // simply not done: the recount reads whatever the book says happened.
  void WorkQueue(const std::string& queue, int n, absl::CivilDay today) {
    const std::string agent = kAgents[std::uniform_int_distribution<size_t>(0, 2)(rng_)];
    v1::ClaimTasksRequest request;
    request.set_worker_id(agent);
    request.add_queues(queue);
    request.set_max_tasks(n);
    v1::ClaimTasksResponse claimed;
    if (!tasks_->ClaimTasks(ContextAs(agent, "agent").get(), request, &claimed).ok()) return;
    for (const v1::Task& t : claimed.tasks()) {
      clock_->Advance(absl::Seconds(std::uniform_int_distribution<int>(3, 20)(rng_)));
      if (std::uniform_int_distribution<int>(0, 9)(rng_) == 0) continue;  // left leased
      v1::CompleteTaskResponse out;
      (void)testing::CompleteTask(*tasks_, t, RandomOutcome(t.type(), today),
                                  testing::FreshRequestId(), &out);
    }
  }

  // A day's activity: work in every queue, payments (some in full),
  // promises by other channels, a few new cases.
  void RandomDay(absl::CivilDay today, int day_index) {
    std::vector<std::string> queues;
    soci::rowset<std::string> rs =
        (raw_->prepare << "SELECT DISTINCT queue FROM tasks WHERE state = 1 ORDER BY queue");
    for (const std::string& q : rs) queues.push_back(q);
    for (const std::string& q : queues) {
      WorkQueue(q, std::uniform_int_distribution<int>(3, 10)(rng_), today);
    }
    std::uniform_int_distribution<int> any_case(0, next_loan_ - 1);
    for (int i = 0; i < 12; ++i) {
      const std::string loan = absl::StrCat("L", any_case(rng_));
      long long overdue = 0;
      *raw_ << "SELECT overdue_total_fen FROM cases WHERE loan_id = :l", soci::use(loan),
          soci::into(overdue);
      if (overdue <= 0) overdue = 1'000 * CNY;
      const int64_t amount = i % 3 == 0 ? overdue : std::max<int64_t>(CNY, overdue / (2 + i % 4));
      v1::RecordPaymentResponse paid;
      (void)testing::RecordPayment(*cases_, loan, absl::StrCat("P", day_index, "-", i), amount,
                                   &paid);
    }
    for (int i = 0; i < 4; ++i) {
      long long case_id = 0;
      const std::string loan = absl::StrCat("L", any_case(rng_));
      *raw_ << "SELECT case_id FROM cases WHERE loan_id = :l", soci::use(loan), soci::into(case_id);
      v1::Signal promise;
      promise.mutable_promise_to_pay()->set_amount_fen(500 * CNY);
      *promise.mutable_promise_to_pay()->mutable_due_date() = DayToProto(today + 2);
      v1::SignalCaseResponse out;
      (void)testing::SignalCase(*cases_, case_id, promise, &out);
    }
    // A plan (proposed and approved by two agents) and a borrower who asks
    // not to be called (their contact tasks are then held back).
    {
      const std::string loan = absl::StrCat("L", any_case(rng_));
      long long case_id = 0;
      *raw_ << "SELECT case_id FROM cases WHERE loan_id = :l", soci::use(loan), soci::into(case_id);
      v1::ProposePlanRequest propose;
      propose.set_case_id(case_id);
      propose.set_kind(v1::PLAN_KIND_CATCH_UP);
      propose.set_periods(3);
      propose.set_waiver_fen(day_index % 2 == 0 ? 100 * CNY : 0);
      *propose.mutable_first_due_date() = DayToProto(today + 10);
      propose.set_request_id(absl::StrCat("plan-", day_index));
      v1::ProposePlanResponse proposed;
      if (plans_->ProposePlan(ContextAs("alice", "agent").get(), propose, &proposed).ok()) {
        v1::ApprovePlanRequest approve;
        approve.set_plan_id(proposed.plan().plan_id());
        v1::ApprovePlanResponse approved;
        (void)plans_->ApprovePlan(ContextAs("bob", "agent").get(), approve, &approved);
      }
      v1::Signal cease;
      cease.mutable_cease_contact()->set_reason("asked");
      v1::SignalCaseResponse out;
      (void)testing::SignalCase(*cases_, case_id + 1, cease, &out);
    }
    std::vector<v1::DelinquencyRecord> fresh;
    for (int i = 0; i < 10; ++i) fresh.push_back(RandomRow(next_loan_++, today));
    ASSERT_NO_FATAL_FAILURE(Import(fresh));
  }

  // The book as the day's run leaves it (what its snapshot holds): the day
  // is run again first, so that the recorded book and the snapshot agree.
  void RecordBook(absl::CivilDay day) {
    ASSERT_NO_FATAL_FAILURE(AdvanceTo(day));
    books_[DayNumber(day)] = ReadBook();
  }

  std::vector<BookRow> ReadBook() {
    std::vector<BookRow> out;
    soci::rowset<soci::row> rs =
        (raw_->prepare << "SELECT case_id, stage, case_class, overdue_total_fen, "
                          "principal_outstanding_fen, policy_version, oldest_due_day, product, "
                          "region, assigned_queue FROM cases");
    for (const soci::row& r : rs) {
      BookRow b;
      b.case_id = Int(r, 0);
      b.stage = static_cast<int>(Int(r, 1));
      b.case_class = static_cast<int>(Int(r, 2));
      b.overdue = Int(r, 3);
      b.principal = Int(r, 4);
      b.policy_version = Int(r, 5);
      b.oldest_due_day = Int(r, 6);
      b.product = r.get<std::string>(7);
      b.region = r.get<std::string>(8);
      b.queue = r.get<std::string>(9);
      out.push_back(std::move(b));
    }
    return out;
  }

  // Integers as either backend returns them (SQLite: int or long long;
  // PostgreSQL: int, long long or NUMERIC as double).
  static int64_t Int(const soci::row& r, size_t i) {
    switch (r.get_properties(i).get_data_type()) {
      case soci::dt_integer:
        return r.get<int>(i);
      case soci::dt_long_long:
        return r.get<long long>(i);
      case soci::dt_unsigned_long_long:
        return static_cast<int64_t>(r.get<unsigned long long>(i));
      case soci::dt_double:
        return static_cast<int64_t>(r.get<double>(i));
      default:
        return std::stoll(r.get<std::string>(i));
    }
  }

  void BuildBook() {
    today_ = kDay0 + (kDays - 1);
    // The past days whose book a report reads: each period's ends.
    std::set<absl::CivilDay> book_days;
    for (const Filter& q : Filters()) {
      book_days.insert(std::max(q.from, kDay0));
      book_days.insert(q.to);
    }
    std::vector<v1::DelinquencyRecord> rows;
    for (; next_loan_ < kCases; ++next_loan_) rows.push_back(RandomRow(next_loan_, kDay0));
    ASSERT_NO_FATAL_FAILURE(Import(rows));
    for (int i = 0; i < kDays; ++i) {
      const absl::CivilDay today = kDay0 + i;
      if (i > 0) {
        ASSERT_NO_FATAL_FAILURE(AdvanceTo(today));
      }
      ASSERT_NO_FATAL_FAILURE(RandomDay(today, i));
      if (i + 1 < kDays && book_days.count(today) > 0) {
        ASSERT_NO_FATAL_FAILURE(RecordBook(today));
      }
    }
  }

  // --- The sources of the recount -------------------------------------------------

  // Every case file, replayed event by event: the facts, and each promise's
  // state as the case holds it now.
  void ReadCaseFiles() {
    std::vector<std::string> loans;
    soci::rowset<std::string> rs = (raw_->prepare << "SELECT loan_id FROM cases ORDER BY case_id");
    for (const std::string& l : rs) loans.push_back(l);
    for (const std::string& loan : loans) {
      std::vector<v1::CaseEvent> events;
      v1::GetCaseRequest request;
      request.set_loan_id(loan);
      for (;;) {
        v1::GetCaseResponse page;
        grpc::Status s = cases_->GetCase(Context().get(), request, &page);
        ASSERT_TRUE(s.ok()) << s.error_message();
        for (const v1::CaseEvent& e : page.events()) events.push_back(e);
        if (page.next_events_page_token().empty()) break;
        request.set_events_page_token(page.next_events_page_token());
      }
      v1::Case c;
      for (const v1::CaseEvent& e : events) {
        ASSERT_EQ(e.policy_version(), policy_.version());
        absl::StatusOr<workflow::Transition> t =
            workflow::Decide(c, e, policy_, workflow::TimeFromProto(e.occurred_at()));
        ASSERT_TRUE(t.ok()) << t.status();
        c = t->next;
        if (std::optional<Fact> f = FactOf(e, c)) facts_.push_back(*f);
      }
      for (const v1::Promise& p : c.promises()) {
        promise_state_[{c.case_id(), p.promise_id()}] = p.state();
      }
    }
    std::sort(facts_.begin(), facts_.end(), [](const Fact& a, const Fact& b) {
      return std::tie(a.case_id, a.seq) < std::tie(b.case_id, b.seq);
    });
    soci::rowset<soci::row> ts =
        (raw_->prepare << "SELECT task_id, case_id, queue, lease_owner, hold_reason, state, "
                          "cost_fen, completed_at_us, deadline_us, not_before_us, lease_token "
                          "FROM tasks");
    for (const soci::row& r : ts) {
      TaskRow t;
      t.case_id = Int(r, 1);
      t.queue = r.get<std::string>(2);
      t.lease_owner = r.get<std::string>(3);
      t.hold_reason = r.get<std::string>(4);
      t.state = static_cast<int>(Int(r, 5));
      t.cost_fen = Int(r, 6);
      t.completed_at_us = Int(r, 7);
      t.deadline_us = Int(r, 8);
      t.not_before_us = Int(r, 9);
      t.lease_token = Int(r, 10);
      tasks_by_id_[Int(r, 0)] = std::move(t);
    }
    soci::rowset<soci::row> cs =
        (raw_->prepare << "SELECT task_id, lease_token, at_us FROM contacts");
    for (const soci::row& r : cs) contact_at_[{Int(r, 0), Int(r, 1)}] = Int(r, 2);
  }

  // What a report sees of an event; nullopt when it sees nothing (aging
  // that changes no stage, plain imports, notes, most plan events).
  static std::optional<Fact> FactOf(const v1::CaseEvent& e, const v1::Case& c) {
    using K = v1::CaseEvent::KindCase;
    Fact f;
    f.case_id = c.case_id();
    f.seq = e.sequence();
    f.day = DayNumber(*workflow::DayFromProto(e.business_date(), "business_date"));
    f.stage_before = e.stage_before();
    f.stage_after = e.stage_after();
    f.case_class = c.classification().case_class();
    f.policy_version = e.policy_version();
    f.product = c.product();
    f.region = c.borrower().region();
    f.queue = c.assigned_queue();
    bool matters = e.stage_before() != e.stage_after();
    switch (e.kind_case()) {
      case K::kTaskCompleted: {
        matters = true;
        const v1::TaskCompleted& done = e.task_completed();
        f.task_id = done.task_id();
        f.task_type = done.task_type();
        if (done.outcome().has_call()) {
          const v1::CallOutcome& call = done.outcome().call();
          const bool reached = call.result() == v1::CALL_RESULT_REACHED;
          f.contact = 1;
          f.right_party = reached && call.right_party_contact();
          if (reached) {
            f.reason = call.overdue_reason();
            if (call.has_promise()) f.promise_fen = call.promise().amount_fen();
          }
        } else if (done.outcome().has_visit()) {
          const v1::VisitOutcome& visit = done.outcome().visit();
          f.contact = 1;
          f.right_party = visit.result() == v1::VISIT_RESULT_MET;
          f.reason = visit.overdue_reason();
          if (visit.has_promise()) f.promise_fen = visit.promise().amount_fen();
        }
        break;
      }
      case K::kPayment:
        matters = true;
        f.recovered = e.payment().amount_fen() - e.payment().unallocated_fen();
        f.unallocated = e.payment().unallocated_fen();
        break;
      case K::kPenaltyWaived:
        matters = true;
        f.waived = e.penalty_waived().amount_fen();
        break;
      case K::kPromiseBroken:
        matters = true;
        break;
      case K::kSignal:
        if (e.signal().has_promise_to_pay()) {
          matters = true;
          f.promise_fen = e.signal().promise_to_pay().amount_fen();
        }
        break;
      case K::kLegalMilestone:
        if (e.legal_milestone().kind() == v1::LEGAL_MILESTONE_KIND_AMOUNT_RECOVERED) {
          matters = true;
          f.recovered = e.legal_milestone().amount_fen() - e.legal_milestone().unallocated_fen();
          f.unallocated = e.legal_milestone().unallocated_fen();
        }
        break;
      default:
        break;
    }
    if (!matters) return std::nullopt;
    return f;
  }

  int PromiseState(const Fact& f) const {
    auto it = promise_state_.find({f.case_id, f.seq});
    return it == promise_state_.end() ? 0 : it->second;
  }
  const TaskRow* TaskOf(const Fact& f) const {
    auto it = tasks_by_id_.find(f.task_id);
    return it == tasks_by_id_.end() ? nullptr : &it->second;
  }
  // The completed tasks a report counts: task facts in the period whose
  // case and task pass the filters.
  bool CountsAsTask(const Fact& f, const Filter& q) const {
    if (f.task_id <= 0 || !q.FactMatches(f)) return false;
    const TaskRow* t = TaskOf(f);
    return t != nullptr && q.QueueMatches(t->queue);
  }
  // The task a money fact is attributed to (last touch within the window),
  // or null.
  const Fact* AttributedTask(const Fact& m, int window) const {
    const Fact* best = nullptr;
    for (const Fact& b : facts_) {
      if (b.case_id != m.case_id || b.seq >= m.seq) continue;
      if (b.task_id > 0 && b.day >= m.day - window) best = &b;
    }
    return best;
  }

  // --- The recount, report by report ------------------------------------------

  v1::PortfolioReport ExpectedPortfolio(const Filter& q, absl::CivilDay day, bool live) const {
    const std::vector<BookRow>& book = live ? live_book_ : books_.at(DayNumber(day));
    std::map<std::tuple<int, int, int>, v1::PortfolioCell> cells;
    v1::PortfolioReport out;
    for (const BookRow& b : book) {
      if (!IsOpen(b.stage) || !q.CaseMatches(b.product, b.region, b.policy_version) ||
          !q.QueueMatches(b.queue)) {
        continue;
      }
      const int bucket = Bucket(DayNumber(day), b.oldest_due_day);
      v1::PortfolioCell& c = cells[{b.case_class, b.stage, bucket}];
      c.set_case_class(static_cast<v1::CaseClass>(b.case_class));
      c.set_stage(static_cast<v1::Stage>(b.stage));
      c.set_dpd_bucket(storage::DpdBuckets().at(bucket));
      c.set_cases(c.cases() + 1);
      c.set_overdue_fen(c.overdue_fen() + b.overdue);
      c.set_principal_outstanding_fen(c.principal_outstanding_fen() + b.principal);
      out.set_cases(out.cases() + 1);
      out.set_overdue_fen(out.overdue_fen() + b.overdue);
      out.set_principal_outstanding_fen(out.principal_outstanding_fen() + b.principal);
    }
    for (auto& [key, c] : cells) *out.add_cells() = c;
    return out;
  }

  v1::StageFunnelReport ExpectedFunnel(const Filter& q) const {
    std::map<int, v1::FunnelRow> rows;
    for (int s = 1; s <= 4; ++s) rows[s].set_stage(static_cast<v1::Stage>(s));
    for (size_t i = 0; i < facts_.size();) {
      size_t j = i;
      std::vector<const Fact*> changes;
      for (; j < facts_.size() && facts_[j].case_id == facts_[i].case_id; ++j) {
        const Fact& f = facts_[j];
        if (f.stage_after != f.stage_before && f.day >= DayNumber(q.from) &&
            f.day <= DayNumber(q.to)) {
          changes.push_back(&f);
        }
      }
      i = j;
      if (changes.empty()) continue;
      const int end = changes.back()->stage_after;
      std::set<int> seen;
      for (const Fact* f : changes) {
        if (!seen.insert(f->stage_after).second || !IsOpen(f->stage_after)) continue;
        if (!q.CaseMatches(f->product, f->region, f->policy_version) || !q.QueueMatches(f->queue)) {
          continue;
        }
        v1::FunnelRow& r = rows[f->stage_after];
        r.set_entered(r.entered() + 1);
        if (end == v1::STAGE_RESOLVED) r.set_resolved(r.resolved() + 1);
        if (IsOpen(end) && end != f->stage_after) r.set_moved_on(r.moved_on() + 1);
        if (end == f->stage_after) r.set_still_there(r.still_there() + 1);
        if (end == v1::STAGE_CLOSED) r.set_closed(r.closed() + 1);
      }
    }
    v1::StageFunnelReport out;
    for (auto& [stage, r] : rows) *out.add_rows() = r;
    return out;
  }

  // `start` and `end` days of the recorded books (end may be today, live).
  v1::RollRateReport ExpectedRollRates(const Filter& q, absl::CivilDay start, absl::CivilDay end,
                                       bool live) const {
    const std::vector<BookRow>& at_start = books_.at(DayNumber(start));
    std::map<int64_t, const BookRow*> at_end;
    for (const BookRow& b : live ? live_book_ : books_.at(DayNumber(end))) {
      if (IsOpen(b.stage)) at_end[b.case_id] = &b;
    }
    std::set<int64_t> closed;
    for (const Fact& f : facts_) {
      if (f.stage_after == v1::STAGE_CLOSED && f.stage_before != v1::STAGE_CLOSED &&
          f.day >= DayNumber(start) && f.day <= DayNumber(end)) {
        closed.insert(f.case_id);
      }
    }
    struct Cell {
      int64_t cases = 0, fen = 0, fen_end = 0;
    };
    std::map<std::pair<int, int>, Cell> cells;
    std::map<int, std::pair<int64_t, int64_t>> from_totals;
    for (const BookRow& s : at_start) {
      if (!IsOpen(s.stage) || !q.CaseMatches(s.product, s.region, s.policy_version) ||
          !q.QueueMatches(s.queue)) {
        continue;
      }
      const int from = Bucket(DayNumber(start), s.oldest_due_day);
      int to = 6;  // resolved
      int64_t fen_end = 0;
      auto e = at_end.find(s.case_id);
      if (e != at_end.end()) {
        to = Bucket(DayNumber(end), e->second->oldest_due_day);
        fen_end = e->second->overdue;
      } else if (closed.count(s.case_id)) {
        to = 7;
      }
      Cell& c = cells[{from, to}];
      c.cases += 1;
      c.fen += s.overdue;
      c.fen_end += fen_end;
      from_totals[from].first += 1;
      from_totals[from].second += s.overdue;
    }
    v1::RollRateReport out;
    for (const std::string& b : storage::DpdBuckets()) out.add_buckets(b);
    out.add_buckets("resolved");
    out.add_buckets("closed");
    for (const auto& [key, c] : cells) {
      v1::RollRateCell* cell = out.add_cells();
      cell->set_from_bucket(out.buckets(key.first));
      cell->set_to_bucket(out.buckets(key.second));
      cell->set_cases(c.cases);
      cell->set_cases_at_start(from_totals[key.first].first);
      cell->set_overdue_fen(c.fen);
      cell->set_overdue_fen_at_start(from_totals[key.first].second);
      cell->set_overdue_fen_at_end(c.fen_end);
    }
    return out;
  }

  v1::EffectivenessReport ExpectedEffectiveness(const Filter& q) const {
    using Key = std::tuple<int, int, int>;
    std::map<Key, v1::EffectivenessRow> rows;
    auto row = [&](int c, int s, int a) -> v1::EffectivenessRow& {
      v1::EffectivenessRow& r = rows[{c, s, a}];
      r.set_case_class(static_cast<v1::CaseClass>(c));
      r.set_stage(static_cast<v1::Stage>(s));
      r.set_action(static_cast<v1::TaskType>(a));
      return r;
    };
    const Steps steps = StepsOf(q);
    std::vector<v1::TrendPoint> trend(steps.count);
    for (int i = 0; i < steps.count; ++i) {
      const absl::CivilDay start = q.from + i * steps.step;
      *trend[i].mutable_start() = DayToProto(start);
      trend[i].set_days(static_cast<int>(std::min<int64_t>(steps.step, (q.to - start) + 1)));
    }
    auto step_of = [&](int64_t day) { return (day - DayNumber(q.from)) / steps.step; };
    v1::EffectivenessReport out;
    v1::EffectivenessTotals& totals = *out.mutable_totals();
    // Tasks, and each (class, stage, action, case)'s first task for cures.
    std::map<Key, std::set<int64_t>> cases;
    std::map<std::tuple<int, int, int, int64_t>, const Fact*> first;
    for (const Fact& f : facts_) {
      if (!CountsAsTask(f, q)) continue;
      const Key key{f.case_class, f.stage_before, f.task_type};
      v1::EffectivenessRow& e = row(f.case_class, f.stage_before, f.task_type);
      const int64_t cost = TaskOf(f)->cost_fen;
      const int state = PromiseState(f);
      e.set_tasks(e.tasks() + 1);
      cases[key].insert(f.case_id);
      e.set_cases(cases[key].size());
      e.set_cost_fen(e.cost_fen() + cost);
      e.set_contacts(e.contacts() + f.contact);
      e.set_right_party_contacts(e.right_party_contacts() + f.right_party);
      e.set_promises(e.promises() + (f.promise_fen > 0));
      e.set_promises_kept(e.promises_kept() + (state == v1::PROMISE_STATE_KEPT));
      e.set_promises_broken(e.promises_broken() + (state == v1::PROMISE_STATE_BROKEN));
      totals.set_tasks(totals.tasks() + 1);
      totals.set_cost_fen(totals.cost_fen() + cost);
      trend[step_of(f.day)].set_cost_fen(trend[step_of(f.day)].cost_fen() + cost);
      auto [it, fresh] = first.insert({{f.case_class, f.stage_before, f.task_type, f.case_id}, &f});
      (void)it;
      (void)fresh;  // facts are in seq order: the first one stays
    }
    if (q.queue.empty()) {
      for (const Fact& f : facts_) {
        if (f.task_id != 0 || f.promise_fen <= 0 || !q.FactMatches(f)) continue;
        v1::EffectivenessRow& e = row(f.case_class, f.stage_before, 0);
        const int state = PromiseState(f);
        e.set_promises(e.promises() + 1);
        e.set_promises_kept(e.promises_kept() + (state == v1::PROMISE_STATE_KEPT));
        e.set_promises_broken(e.promises_broken() + (state == v1::PROMISE_STATE_BROKEN));
      }
    }
    for (const auto& [key, x] : first) {
      for (const Fact& c : facts_) {
        if (c.case_id == x->case_id && c.seq > x->seq && c.stage_after == v1::STAGE_RESOLVED &&
            c.stage_before != v1::STAGE_RESOLVED && c.day <= x->day + q.window &&
            c.day <= DayNumber(q.to)) {
          v1::EffectivenessRow& e = row(std::get<0>(key), std::get<1>(key), std::get<2>(key));
          e.set_cured(e.cured() + 1);
          break;
        }
      }
    }
    for (const Fact& m : facts_) {
      if ((m.recovered <= 0 && m.waived <= 0 && m.unallocated <= 0) || !q.FactMatches(m)) continue;
      const Fact* a = AttributedTask(m, q.window);
      const TaskRow* ta = a ? TaskOf(*a) : nullptr;
      if (!q.queue.empty() && (ta == nullptr || ta->queue != q.queue)) continue;
      v1::EffectivenessRow& e = a ? row(a->case_class, a->stage_before, a->task_type)
                                  : row(m.case_class, m.stage_before, 0);
      e.set_recovered_fen(e.recovered_fen() + m.recovered);
      e.set_concessions_fen(e.concessions_fen() + m.waived);
      e.set_unallocated_fen(e.unallocated_fen() + m.unallocated);
      totals.set_recovered_fen(totals.recovered_fen() + m.recovered);
      totals.set_concessions_fen(totals.concessions_fen() + m.waived);
      totals.set_unallocated_fen(totals.unallocated_fen() + m.unallocated);
      v1::TrendPoint& p = trend[step_of(m.day)];
      p.set_recovered_fen(p.recovered_fen() + m.recovered);
      p.set_unallocated_fen(p.unallocated_fen() + m.unallocated);
    }
    for (const Fact& f : facts_) {
      if (f.stage_after == f.stage_before || !q.FactMatches(f)) continue;
      v1::TrendPoint& p = trend[step_of(f.day)];
      if (f.stage_after == v1::STAGE_RESOLVED) {
        totals.set_cured(totals.cured() + 1);
        p.set_cured(p.cured() + 1);
      }
      if ((f.stage_before == 0 || f.stage_before == v1::STAGE_RESOLVED) && IsOpen(f.stage_after)) {
        totals.set_entered(totals.entered() + 1);
        p.set_entered(p.entered() + 1);
      }
    }
    for (auto& [key, r] : rows) *out.add_rows() = r;
    for (v1::TrendPoint& p : trend) *out.add_trend() = p;
    out.set_cure_window_days(q.window);
    return out;
  }

  v1::OverdueReasonsReport ExpectedReasons(const Filter& q) const {
    std::map<std::pair<int, int>, std::set<int64_t>> by_class;
    std::map<std::pair<int64_t, int>, std::set<int64_t>> by_step;
    const Steps steps = StepsOf(q);
    for (const Fact& f : facts_) {
      if (f.reason <= 0 || !CountsAsTask(f, q)) continue;
      by_class[{f.case_class, f.reason}].insert(f.case_id);
      by_step[{(f.day - DayNumber(q.from)) / steps.step, f.reason}].insert(f.case_id);
    }
    std::vector<std::tuple<int, int64_t, int>> sorted;  // class, -cases, reason
    for (const auto& [key, ids] : by_class) {
      sorted.push_back({key.first, -static_cast<int64_t>(ids.size()), key.second});
    }
    std::sort(sorted.begin(), sorted.end());
    v1::OverdueReasonsReport out;
    for (const auto& [c, minus_cases, reason] : sorted) {
      v1::ReasonRow* r = out.add_rows();
      r->set_case_class(static_cast<v1::CaseClass>(c));
      r->set_reason(static_cast<v1::OverdueReason>(reason));
      r->set_cases(-minus_cases);
    }
    for (const auto& [key, ids] : by_step) {
      v1::ReasonTrendPoint* p = out.add_trend();
      const absl::CivilDay start = q.from + key.first * steps.step;
      *p->mutable_start() = DayToProto(start);
      p->set_days(static_cast<int>(std::min<int64_t>(steps.step, (q.to - start) + 1)));
      p->set_reason(static_cast<v1::OverdueReason>(key.second));
      p->set_cases(ids.size());
    }
    return out;
  }

  v1::AgentProductivityReport ExpectedAgents(const Filter& q) const {
    std::map<std::pair<std::string, std::string>, v1::AgentRow> rows;
    std::map<std::pair<std::string, std::string>, int64_t> handling_us;
    for (const Fact& f : facts_) {
      if (!CountsAsTask(f, q)) continue;
      const TaskRow& t = *TaskOf(f);
      v1::AgentRow& a = rows[{t.lease_owner, t.queue}];
      const int state = PromiseState(f);
      a.set_agent(t.lease_owner);
      a.set_queue(t.queue);
      a.set_completed(a.completed() + 1);
      a.set_cost_fen(a.cost_fen() + t.cost_fen);
      a.set_contacts(a.contacts() + f.contact);
      a.set_right_party_contacts(a.right_party_contacts() + f.right_party);
      a.set_promises(a.promises() + (f.promise_fen > 0));
      a.set_promises_kept(a.promises_kept() + (state == v1::PROMISE_STATE_KEPT));
      a.set_promises_broken(a.promises_broken() + (state == v1::PROMISE_STATE_BROKEN));
      auto contact = contact_at_.find({f.task_id, t.lease_token});
      if (contact != contact_at_.end()) {
        a.set_handled(a.handled() + 1);
        handling_us[{t.lease_owner, t.queue}] += t.completed_at_us - contact->second;
      }
    }
    for (auto& [key, a] : rows) {
      a.set_avg_handling_seconds(a.handled() > 0 ? handling_us[key] / a.handled() / 1000000 : 0);
    }
    for (const Fact& m : facts_) {
      if ((m.recovered <= 0 && m.waived <= 0 && m.unallocated <= 0) || !q.FactMatches(m)) continue;
      const Fact* at = AttributedTask(m, q.window);
      const TaskRow* ta = at ? TaskOf(*at) : nullptr;
      if (ta == nullptr || !q.QueueMatches(ta->queue)) continue;
      auto it = rows.find({ta->lease_owner, ta->queue});
      if (it == rows.end()) continue;
      it->second.set_recovered_fen(it->second.recovered_fen() + m.recovered);
      it->second.set_unallocated_fen(it->second.unallocated_fen() + m.unallocated);
    }
    v1::AgentProductivityReport out;
    for (auto& [key, a] : rows) *out.add_rows() = a;
    out.set_cure_window_days(q.window);
    return out;
  }

  v1::SlaReport ExpectedSla(const Filter& q, absl::Time now_time) const {
    const int64_t now = absl::ToUnixMicros(now_time);
    std::map<int64_t, const BookRow*> case_of;
    for (const BookRow& b : live_book_) case_of[b.case_id] = &b;
    std::map<std::string, v1::SlaRow> rows;
    std::map<std::pair<std::string, std::string>, int64_t> holds;
    for (const auto& [id, t] : tasks_by_id_) {
      if (t.state != 1 && t.state != 2 && t.state != 5) continue;
      const BookRow& c = *case_of.at(t.case_id);
      if (!q.CaseMatches(c.product, c.region, c.policy_version) || !q.QueueMatches(t.queue)) {
        continue;
      }
      v1::SlaRow& r = rows[t.queue];
      r.set_queue(t.queue);
      const bool open = t.state == 1 || t.state == 2;
      const bool held = t.state == 1 && !t.hold_reason.empty() && t.not_before_us > now;
      r.set_open(r.open() + open);
      r.set_past_deadline(r.past_deadline() + (open && t.deadline_us > 0 && t.deadline_us < now));
      r.set_held_back(r.held_back() + held);
      r.set_incidents(r.incidents() + (t.state == 5));
      if (held) ++holds[{t.queue, HoldKind(t.hold_reason)}];
    }
    for (const Fact& f : facts_) {
      if (!CountsAsTask(f, q)) continue;
      const TaskRow& t = *TaskOf(f);
      v1::SlaRow& r = rows[t.queue];
      r.set_queue(t.queue);
      r.set_completed(r.completed() + 1);
      r.set_completed_late(r.completed_late() +
                           (t.deadline_us > 0 && t.completed_at_us > t.deadline_us));
    }
    v1::SlaReport out;
    for (auto& [queue, r] : rows) *out.add_rows() = r;
    for (const auto& [key, n] : holds) {
      v1::HoldRow* h = out.add_holds();
      h->set_queue(key.first);
      h->set_reason(key.second);
      h->set_tasks(n);
    }
    return out;
  }

  static std::string HoldKind(const std::string& reason) {
    const std::vector<std::pair<std::string, std::string>> kinds = {
        {"outside the contact window", "contact window"},
        {"call cap", "call cap"},
        {"cease-contact", "cease contact"},
        {"open dispute", "dispute"},
        {"bankruptcy", "bankruptcy"},
        {"borrower deceased", "deceased"},
        {"attempt ", "retry after failure"}};
    for (const auto& [prefix, kind] : kinds) {
      if (reason.rfind(prefix, 0) == 0) return kind;
    }
    return "other";
  }

  // --- Comparing ---------------------------------------------------------------------

  // Compares `got` with `want` on the fields the recount computes (the
  // dates a report covers are the service's, tested elsewhere).
  template <typename Report>
  static void ExpectSame(Report got, const Report& want, const std::string& what) {
    got.clear_as_of();
    got.clear_data_from();
    got.clear_data_to();
    MessageDifferencer diff;
    std::string report;
    diff.ReportDifferencesToString(&report);
    const google::protobuf::Descriptor* d = got.GetDescriptor();
    for (const char* meta : {"from", "to", "live", "now"}) {
      if (const google::protobuf::FieldDescriptor* field = d->FindFieldByName(meta)) {
        diff.IgnoreField(field);
      }
    }
    EXPECT_TRUE(diff.Compare(want, got)) << what << "\n" << report;
  }

  std::vector<Filter> Filters() const {
    std::vector<Filter> out;
    const absl::CivilDay first = kDay0;
    auto with = [&](absl::CivilDay from, absl::CivilDay to) {
      Filter f;
      f.from = from;
      f.to = to;
      return f;
    };
    out.push_back(with(first, today_));           // the whole history
    out.push_back(with(today_ - 6, today_));      // the last week
    out.push_back(with(first + 20, first + 20));  // one day
    out.push_back(with(first + 10, first + 40));  // a month in the middle
    out.push_back(with(first - 30, today_));      // 90 days, before the data
    Filter region = with(first + 5, today_);
    region.region = "BJ";
    out.push_back(region);
    Filter product = with(first, first + 30);
    product.product = "consumer";
    product.window = 7;
    out.push_back(product);
    Filter both = with(first + 3, today_ - 3);
    both.region = "GZ";
    both.product = "mortgage-30y";
    both.policy_version = policy_.version();
    out.push_back(both);
    Filter other_version = with(first, today_);
    other_version.policy_version = policy_.version() + 1;  // matches nothing
    out.push_back(other_version);
    for (const char* queue : {"sms", "call.counselling", "field", "no-such-queue"}) {
      Filter by_queue = with(first, today_);
      by_queue.queue = queue;
      out.push_back(by_queue);
    }
    Filter queue_region = with(first + 15, first + 45);
    queue_region.queue = "call.counselling";
    queue_region.region = "SH";
    queue_region.window = 60;
    out.push_back(queue_region);
    return out;
  }

  std::unique_ptr<soci::session> raw_;
  v1::Policy policy_;
  std::mt19937 rng_{20261201};
  int next_loan_ = 0;
  absl::CivilDay today_;
  std::map<int64_t, std::vector<BookRow>> books_;  // by day number
  std::vector<BookRow> live_book_;
  std::vector<Fact> facts_;  // in (case, seq) order
  std::map<std::pair<int64_t, int64_t>, int> promise_state_;
  std::map<int64_t, TaskRow> tasks_by_id_;
  std::map<std::pair<int64_t, int64_t>, int64_t> contact_at_;  // (task, lease) -> at_us
};

TEST_P(ReportRecountTest, EveryReportEqualsARecountOverTheCaseFiles) {
  ASSERT_NO_FATAL_FAILURE(BuildBook());
  live_book_ = ReadBook();
  ASSERT_NO_FATAL_FAILURE(ReadCaseFiles());
  ASSERT_GT(facts_.size(), static_cast<size_t>(kCases));
  const absl::Time now = clock_->Now();
  {
    // The book exercises what the reports count: every kind of figure is
    // there to get wrong.
    const Filter all = Filters().front();
    const v1::EffectivenessReport e = ExpectedEffectiveness(all);
    EXPECT_GT(e.totals().tasks(), 1000);
    EXPECT_GT(e.totals().cured(), 100);
    EXPECT_GT(e.totals().recovered_fen(), 0);
    EXPECT_GT(e.totals().unallocated_fen(), 0);
    int64_t kept = 0, broken = 0, cured_after_task = 0;
    for (const v1::EffectivenessRow& r : e.rows()) {
      kept += r.promises_kept();
      broken += r.promises_broken();
      cured_after_task += r.cured();
    }
    EXPECT_GT(kept, 0);
    EXPECT_GT(broken, 0);
    EXPECT_GT(cured_after_task, 0);
    const v1::StageFunnelReport f = ExpectedFunnel(all);
    for (const v1::FunnelRow& r : f.rows()) EXPECT_GT(r.entered(), 0) << r.DebugString();
    EXPECT_GT(ExpectedReasons(all).rows_size(), 10);
    EXPECT_GT(ExpectedAgents(all).rows_size(), 5);
    EXPECT_GT(ExpectedSla(all, now).holds_size(), 0);
    EXPECT_GT(ExpectedRollRates(all, kDay0, today_, true).cells_size(), 10);
  }

  for (const Filter& q : Filters()) {
    SCOPED_TRACE(q.Describe());
    const v1::ReportRequest request = q.Request();
    {
      v1::StageFunnelReport got;
      CALL(StageFunnel, request, &got);
      ExpectSame(got, ExpectedFunnel(q), "funnel");
    }
    {
      v1::EffectivenessReport got;
      CALL(StrategyEffectiveness, request, &got);
      ExpectSame(got, ExpectedEffectiveness(q), "effectiveness");
    }
    {
      v1::OverdueReasonsReport got;
      CALL(OverdueReasons, request, &got);
      ExpectSame(got, ExpectedReasons(q), "reasons");
    }
    {
      v1::AgentProductivityReport got;
      CALL(AgentProductivity, request, &got);
      ExpectSame(got, ExpectedAgents(q), "agents");
    }
    {
      v1::SlaReport got;
      CALL(SlaBreaches, request, &got);
      ExpectSame(got, ExpectedSla(q, now), "sla");
    }
    // The book reports: as of `to` (live when it is today), and roll rates
    // from the snapshot of `from` (the first one when the data starts
    // later).
    {
      v1::PortfolioReport got;
      CALL(Portfolio, request, &got);
      ExpectSame(got, ExpectedPortfolio(q, q.to, q.to == today_), "portfolio");
    }
    {
      v1::RollRateReport got;
      CALL(RollRates, request, &got);
      const absl::CivilDay start = std::max(q.from, kDay0);
      ExpectSame(got, ExpectedRollRates(q, start, q.to, q.to == today_), "roll rates");
    }
  }
}

COLLECTIONS_INSTANTIATE_BACKENDS(ReportRecountTest);

}  // namespace
}  // namespace collections::report_test
