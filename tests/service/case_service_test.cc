// CaseService through real gRPC on SQLite and PostgreSQL: intake of a
// portfolio covering every class edge, idempotent re-import, bad rows,
// payments, signals, aging across 30 and 90 days, promises kept and broken,
// the case file and case lists.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "collections/v1/case_service.grpc.pb.h"
#include "server/daily_aging.h"
#include "tests/service/server_fixture.h"
#include "tests/service/service_helpers.h"
#include "workflow/dates.h"

namespace collections {
namespace {

using testing::CNY;
using ::testing::HasSubstr;
using testing::kToday;
using workflow::DayToProto;

// A feed row (testing::FeedRecord: 800,000 CNY outstanding, overdue split
// 1:2:7 into penalty, interest and principal).
v1::DelinquencyRecord Record(const std::string& loan, int dpd, int64_t overdue_fen,
                             absl::CivilDay as_of = kToday) {
  return testing::FeedRecord(loan, dpd, overdue_fen, as_of);
}

class CaseServiceTest : public testing::ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    stub_ = v1::CaseService::NewStub(channel_);
  }

  void Restart() {
    StartServer();
    stub_ = v1::CaseService::NewStub(channel_);
  }

  v1::ImportDelinquenciesResponse Import(const std::vector<v1::DelinquencyRecord>& rows) {
    v1::ImportDelinquenciesResponse response;
    grpc::Status status = testing::ImportRecords(*stub_, rows, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  grpc::Status GetCase(const std::string& loan, v1::GetCaseResponse* out) {
    return testing::GetCaseFile(*stub_, loan, out);
  }

  v1::GetCaseResponse MustGet(const std::string& loan) {
    v1::GetCaseResponse out;
    grpc::Status s = GetCase(loan, &out);
    EXPECT_TRUE(s.ok()) << loan << ": " << s.error_message();
    return out;
  }

  grpc::Status Pay(const std::string& loan, const std::string& id, int64_t fen,
                   v1::RecordPaymentResponse* out) {
    return testing::RecordPayment(*stub_, loan, id, fen, out);
  }

  grpc::Status Signal(int64_t case_id, const v1::Signal& signal, v1::SignalCaseResponse* out,
                      const std::string& request_id = "") {
    return testing::SignalCase(*stub_, case_id, signal, out, request_id);
  }

  v1::AdvanceBusinessDateResponse Advance(absl::CivilDay to) {
    v1::AdvanceBusinessDateResponse response;
    grpc::Status s = testing::AdvanceBusinessDate(*stub_, to, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  }

  static std::multiset<v1::TaskType> OpenTaskTypes(const v1::GetCaseResponse& file) {
    std::multiset<v1::TaskType> out;
    for (const auto& t : file.tasks()) {
      if (t.state() == v1::TASK_STATE_READY || t.state() == v1::TASK_STATE_LEASED) {
        out.insert(t.type());
      }
    }
    return out;
  }

  std::unique_ptr<v1::CaseService::Stub> stub_;
};

struct Expect {
  v1::CaseClass case_class;
  v1::Stage stage;
  std::multiset<v1::TaskType> tasks;
};

const std::multiset<v1::TaskType> kReminderTasks = {v1::TASK_TYPE_SMS_REMINDER,
                                                    v1::TASK_TYPE_REMINDER_CALL};
const std::multiset<v1::TaskType> kCounsellingTasks = {v1::TASK_TYPE_COUNSELLING_CALL};
const std::multiset<v1::TaskType> kSevereTasks = {v1::TASK_TYPE_HOME_VISIT,
                                                  v1::TASK_TYPE_LEGAL_LETTER};

std::vector<v1::DelinquencyRecord> EdgePortfolio() {
  std::vector<v1::DelinquencyRecord> rows = {
      Record("D30", 30, 1000 * CNY),  Record("D31", 31, 1000 * CNY),
      Record("D90", 90, 1000 * CNY),  Record("D91", 91, 1000 * CNY),
      Record("A4999", 5, 499'999),    Record("A5000", 5, 500'000),
      Record("A20000", 5, 2'000'000), Record("A20000_01", 5, 2'000'001),
      Record("POOR", 5, 1000 * CNY),
  };
  rows.back().mutable_credit()->set_score_band(v1::CREDIT_BAND_POOR);
  return rows;
}

TEST_P(CaseServiceTest, ImportOpensEveryClassAtItsStageWithItsFirstTasks) {
  v1::ImportDelinquenciesResponse r = Import(EdgePortfolio());
  EXPECT_EQ(r.opened(), 9);
  EXPECT_EQ(r.updated() + r.unchanged() + r.rejected(), 0);

  const std::map<std::string, Expect> want = {
      {"D30", {v1::CASE_CLASS_MILD, v1::STAGE_REMINDER, kReminderTasks}},
      {"D31", {v1::CASE_CLASS_MODERATE, v1::STAGE_COUNSELLING, kCounsellingTasks}},
      {"D90", {v1::CASE_CLASS_MODERATE, v1::STAGE_COUNSELLING, kCounsellingTasks}},
      {"D91", {v1::CASE_CLASS_SEVERE, v1::STAGE_LEGAL_ACTION, kSevereTasks}},
      {"A4999", {v1::CASE_CLASS_MILD, v1::STAGE_REMINDER, kReminderTasks}},
      {"A5000", {v1::CASE_CLASS_MODERATE, v1::STAGE_COUNSELLING, kCounsellingTasks}},
      {"A20000", {v1::CASE_CLASS_MODERATE, v1::STAGE_COUNSELLING, kCounsellingTasks}},
      {"A20000_01", {v1::CASE_CLASS_SEVERE, v1::STAGE_LEGAL_ACTION, kSevereTasks}},
      {"POOR", {v1::CASE_CLASS_MODERATE, v1::STAGE_COUNSELLING, kCounsellingTasks}},
  };
  for (const auto& [loan, e] : want) {
    v1::GetCaseResponse file = MustGet(loan);
    const v1::Case& c = file.case_();
    EXPECT_EQ(c.classification().case_class(), e.case_class) << loan;
    EXPECT_EQ(c.stage(), e.stage) << loan;
    EXPECT_EQ(OpenTaskTypes(file), e.tasks) << loan;
    EXPECT_FALSE(c.classification().explanation().empty()) << loan;
    EXPECT_EQ(c.version(), 1) << loan;
    ASSERT_EQ(file.events_size(), 1) << loan;
    EXPECT_TRUE(file.events(0).has_imported()) << loan;
    EXPECT_EQ(file.events(0).actor(), testing::kTester) << loan;
  }
  EXPECT_TRUE(MustGet("POOR").case_().classification().credit_raised());
  // 4,999.99 vs 5,000.00 CNY.
  EXPECT_EQ(MustGet("A4999").case_().classification().amount_class(), v1::CASE_CLASS_MILD);
  EXPECT_EQ(MustGet("A5000").case_().classification().amount_class(), v1::CASE_CLASS_MODERATE);
}

TEST_P(CaseServiceTest, ReimportingTheSameFileChangesNothing) {
  ASSERT_EQ(Import(EdgePortfolio()).opened(), 9);
  const v1::GetCaseResponse before = MustGet("D91");
  v1::ImportDelinquenciesResponse again = Import(EdgePortfolio());
  EXPECT_EQ(again.unchanged(), 9);
  EXPECT_EQ(again.opened() + again.updated() + again.rejected(), 0);
  const v1::GetCaseResponse after = MustGet("D91");
  EXPECT_EQ(after.case_().version(), before.case_().version());
  EXPECT_EQ(after.events_size(), before.events_size());
  EXPECT_EQ(after.tasks_size(), before.tasks_size());

  // A later as-of date updates; a class that rises escalates.
  v1::DelinquencyRecord later = Record("D30", 31, 30'000 * CNY, kToday + 1);
  v1::ImportDelinquenciesResponse update = Import({later});
  EXPECT_EQ(update.updated(), 1);
  v1::GetCaseResponse file = MustGet("D30");
  EXPECT_EQ(file.case_().stage(), v1::STAGE_LEGAL_ACTION);
  EXPECT_EQ(OpenTaskTypes(file), kSevereTasks);
}

TEST_P(CaseServiceTest, BadRowsAreRejectedOneByOneAndGoodRowsLand) {
  std::vector<v1::DelinquencyRecord> rows;
  rows.push_back(Record("GOOD1", 3, 100 * CNY));
  rows.push_back(Record("", 3, 100 * CNY));     // 1: no loan id
  rows.push_back(Record("NEG", 3, 100 * CNY));  // 2: negative
  rows.back().mutable_overdue()->set_penalty_fen(-1);
  rows.push_back(Record("DATE", 3, 100 * CNY));  // 3: 2026-02-30
  rows.back().mutable_as_of()->set_month(2);
  rows.back().mutable_as_of()->set_day(30);
  rows.push_back(Record("LATE", 3, 100 * CNY));  // 4: due after as_of
  *rows.back().mutable_oldest_unpaid_due_date() = DayToProto(kToday + 3);
  rows.push_back(Record("LONG", 3, 100 * CNY));  // 5: oversized
  rows.back().mutable_borrower()->set_name(std::string(5000, 'x'));
  rows.push_back(Record("TZ", 3, 100 * CNY));  // 6: bad zone
  rows.back().mutable_borrower()->set_time_zone("Mars/Olympus");
  rows.push_back(Record("ENUM", 3, 100 * CNY));  // 7: unknown enum
  rows.back().mutable_credit()->set_score_band(static_cast<v1::CreditBand>(42));
  rows.push_back(Record("ZERO", 3, 0));  // 8: nothing overdue
  rows.push_back(Record("GOOD2", 40, 100 * CNY));

  v1::ImportDelinquenciesResponse r = Import(rows);
  EXPECT_EQ(r.opened(), 2);
  EXPECT_EQ(r.rejected(), 8);
  ASSERT_EQ(r.errors_size(), 8);
  const std::vector<std::pair<int, std::string>> want = {{1, "loan_id"},
                                                         {2, "overdue.penalty_fen"},
                                                         {3, "as_of"},
                                                         {4, "oldest_unpaid_due_date"},
                                                         {5, "borrower.name"},
                                                         {6, "borrower.time_zone"},
                                                         {7, "credit.score_band"},
                                                         {8, "nothing overdue"}};
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(r.errors(i).index(), want[i].first);
    EXPECT_THAT(r.errors(i).message(), HasSubstr(want[i].second)) << i;
  }
  EXPECT_EQ(r.errors(1).field(), "overdue.penalty_fen");
  v1::GetCaseResponse ignored;
  EXPECT_EQ(GetCase("NEG", &ignored).error_code(), grpc::StatusCode::NOT_FOUND);
  MustGet("GOOD1");
  MustGet("GOOD2");
}

TEST_P(CaseServiceTest, FullPaymentCuresFromEveryStage) {
  Import({Record("R", 5, 1000 * CNY), Record("C", 45, 1000 * CNY), Record("L", 120, 1000 * CNY)});
  for (const char* loan : {"R", "C", "L"}) {
    const v1::Case c = MustGet(loan).case_();
    const int64_t total =
        c.overdue().principal_fen() + c.overdue().interest_fen() + c.overdue().penalty_fen();
    v1::RecordPaymentResponse paid;
    ASSERT_TRUE(Pay(loan, std::string("PAY-") + loan, total, &paid).ok()) << loan;
    EXPECT_EQ(paid.case_().stage(), v1::STAGE_RESOLVED) << loan;
    EXPECT_EQ(paid.case_().close_reason(), v1::CLOSE_REASON_CURED);
    EXPECT_FALSE(paid.duplicate());
    v1::GetCaseResponse file = MustGet(loan);
    EXPECT_TRUE(OpenTaskTypes(file).empty()) << loan;  // work cancelled
    ASSERT_EQ(file.payments_size(), 1);
    EXPECT_EQ(file.payments(0).allocated().penalty_fen(), c.overdue().penalty_fen());
  }
}

TEST_P(CaseServiceTest, PartialAndDuplicatePaymentsAndBadPayments) {
  Import({Record("P", 5, 6000 * CNY)});  // moderate by amount
  v1::RecordPaymentResponse first;
  ASSERT_TRUE(Pay("P", "PAY-1", 2000 * CNY, &first).ok());
  EXPECT_EQ(first.case_().stage(), v1::STAGE_COUNSELLING);  // never de-escalates
  EXPECT_EQ(first.case_().classification().case_class(), v1::CASE_CLASS_MILD);
  // Penalty 600 then interest 1,200 then principal 200 CNY.
  EXPECT_EQ(first.payment().allocated().penalty_fen(), 600 * CNY);
  EXPECT_EQ(first.payment().allocated().interest_fen(), 1200 * CNY);
  EXPECT_EQ(first.payment().allocated().principal_fen(), 200 * CNY);

  v1::RecordPaymentResponse again;
  ASSERT_TRUE(Pay("P", "PAY-1", 2000 * CNY, &again).ok());
  EXPECT_TRUE(again.duplicate());
  EXPECT_EQ(again.case_().version(), first.case_().version());
  EXPECT_EQ(MustGet("P").payments_size(), 1);

  v1::RecordPaymentResponse bad;
  EXPECT_EQ(Pay("P", "PAY-2", -5, &bad).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Pay("P", "", 5, &bad).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Pay("NOPE", "PAY-3", 5, &bad).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(MustGet("P").case_().version(), first.case_().version());
}

// Issue 10: money that came in is never refused. An overpayment, and a
// payment after the case was resolved, are recorded (idempotently), held as
// unallocated and shown in the case file; the case keeps its stage.
TEST_P(CaseServiceTest, OverpaymentsAndLatePaymentsAreHeldAsUnallocated) {
  Import({Record("LATE", 5, 1000 * CNY)});
  v1::RecordPaymentResponse cure;
  ASSERT_TRUE(Pay("LATE", "L-1", 1200 * CNY, &cure).ok());
  EXPECT_EQ(cure.case_().stage(), v1::STAGE_RESOLVED);
  EXPECT_EQ(cure.payment().unallocated_fen(), 200 * CNY);
  EXPECT_EQ(cure.case_().paid_total_fen(), 1200 * CNY);
  EXPECT_EQ(cure.case_().unallocated_fen(), 200 * CNY);

  v1::RecordPaymentResponse late;
  grpc::Status s = Pay("LATE", "L-2", 300 * CNY, &late);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_FALSE(late.duplicate());
  EXPECT_EQ(late.case_().stage(), v1::STAGE_RESOLVED);
  EXPECT_EQ(late.case_().close_reason(), v1::CLOSE_REASON_CURED);
  EXPECT_EQ(late.payment().unallocated_fen(), 300 * CNY);
  EXPECT_EQ(late.payment().allocated().principal_fen() + late.payment().allocated().interest_fen() +
                late.payment().allocated().penalty_fen(),
            0);
  EXPECT_EQ(late.case_().paid_total_fen(), 1500 * CNY);
  EXPECT_EQ(late.case_().unallocated_fen(), 500 * CNY);

  // A repeat is the first answer again and changes nothing.
  v1::RecordPaymentResponse again;
  ASSERT_TRUE(Pay("LATE", "L-2", 300 * CNY, &again).ok());
  EXPECT_TRUE(again.duplicate());
  EXPECT_EQ(again.case_().version(), late.case_().version());
  EXPECT_EQ(again.payment().unallocated_fen(), 300 * CNY);

  v1::GetCaseResponse file = MustGet("LATE");
  EXPECT_EQ(file.case_().stage(), v1::STAGE_RESOLVED);
  EXPECT_EQ(file.case_().paid_total_fen(), 1500 * CNY);
  EXPECT_EQ(file.case_().unallocated_fen(), 500 * CNY);
  ASSERT_EQ(file.payments_size(), 2);
  EXPECT_EQ(file.payments(1).payment_id(), "L-2");
  EXPECT_EQ(file.payments(1).unallocated_fen(), 300 * CNY);
  const v1::CaseEvent& last = file.events(file.events_size() - 1);
  ASSERT_TRUE(last.has_payment());
  EXPECT_EQ(last.stage_before(), v1::STAGE_RESOLVED);
  EXPECT_EQ(last.stage_after(), v1::STAGE_RESOLVED);
  EXPECT_THAT(last.summary(), HasSubstr("received after the case was resolved"));
  EXPECT_THAT(last.summary(), HasSubstr("held as unallocated for core banking to refund or apply"));
  EXPECT_TRUE(OpenTaskTypes(file).empty());  // no work re-opened

  // Bad input is still refused and changes nothing.
  v1::RecordPaymentResponse bad;
  EXPECT_EQ(Pay("LATE", "L-3", 0, &bad).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(MustGet("LATE").case_().version(), late.case_().version());
}

TEST_P(CaseServiceTest, EverySignalIsAnEventAndRequestIdsAreIdempotent) {
  Import({Record("S", 120, 30'000 * CNY)});
  const int64_t id = MustGet("S").case_().case_id();
  std::vector<v1::Signal> signals(8);
  signals[0].mutable_note()->set_text("borrower called the branch");
  signals[1].mutable_promise_to_pay()->set_amount_fen(500 * CNY);
  *signals[1].mutable_promise_to_pay()->mutable_due_date() = DayToProto(kToday + 5);
  signals[2].mutable_hardship_declared()->set_reason("lost job");
  signals[3].mutable_dispute_opened()->set_reason("amount disputed");
  signals[4].mutable_dispute_resolved()->set_resolution("amount confirmed");
  signals[5].mutable_cease_contact()->set_reason("written request");
  signals[6].mutable_bankruptcy()->set_court_reference("(2026) Hu 01 Po 1");
  signals[7].mutable_deceased();
  int64_t version = 1;
  for (size_t i = 0; i < signals.size(); ++i) {
    v1::SignalCaseResponse r;
    grpc::Status s = Signal(id, signals[i], &r, absl::StrCat("sig-", i));
    ASSERT_TRUE(s.ok()) << i << ": " << s.error_message();
    EXPECT_EQ(r.case_().version(), ++version);
  }
  const v1::Case c = MustGet("S").case_();
  EXPECT_TRUE(c.holds().hardship());
  EXPECT_FALSE(c.holds().dispute_open());
  EXPECT_TRUE(c.holds().cease_contact());
  EXPECT_TRUE(c.holds().bankruptcy());
  EXPECT_TRUE(c.holds().deceased());
  EXPECT_EQ(c.promises_size(), 1);
  EXPECT_EQ(c.legal().phase(), v1::LEGAL_PHASE_ON_HOLD);

  // A repeated request id returns the first answer and writes nothing.
  v1::SignalCaseResponse repeat;
  ASSERT_TRUE(Signal(id, signals[0], &repeat, "sig-0").ok());
  EXPECT_EQ(repeat.case_().version(), 2);
  EXPECT_EQ(MustGet("S").events_size(), 9);

  v1::SignalCaseResponse r;
  EXPECT_EQ(Signal(id, v1::Signal(), &r).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Signal(424242, signals[0], &r).error_code(), grpc::StatusCode::NOT_FOUND);
  v1::Signal resolved;
  resolved.mutable_dispute_resolved();  // none open now
  EXPECT_EQ(Signal(id, resolved, &r).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

// Issue 12's probe: a request_id reused on another case answered with that
// other case. Keys are scoped to (principal, method, case): another case or
// another principal is a separate request; the same key with a different
// request is refused and changes nothing.
TEST_P(CaseServiceTest, RequestIdsAreScopedToCallerAndCaseAndCheckedAgainstTheRequest) {
  Import({Record("IDA", 10, 1000 * CNY), Record("IDB", 10, 1000 * CNY)});
  const int64_t a = MustGet("IDA").case_().case_id();
  const int64_t b = MustGet("IDB").case_().case_id();
  v1::Signal note;
  note.mutable_note()->set_text("called");

  v1::SignalCaseResponse ra, rb;
  ASSERT_TRUE(Signal(a, note, &ra, "same-id").ok());
  grpc::Status s = Signal(b, note, &rb, "same-id");
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(rb.case_().case_id(), b);
  EXPECT_EQ(rb.case_().loan_id(), "IDB");
  EXPECT_EQ(MustGet("IDB").events_size(), 2);  // opened, and the note

  // The same key with another request: INVALID_ARGUMENT, nothing written.
  v1::Signal other;
  other.mutable_note()->set_text("something else");
  v1::SignalCaseResponse r;
  s = Signal(a, other, &r, "same-id");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "request_id same-id was already used for a different request");
  EXPECT_EQ(MustGet("IDA").events_size(), 2);
  // The same request again is still a replay.
  ASSERT_TRUE(Signal(a, note, &r, "same-id").ok());
  EXPECT_EQ(r.case_().version(), ra.case_().version());
  EXPECT_EQ(MustGet("IDA").events_size(), 2);

  // Another principal's request_id is its own request, never tester's answer.
  v1::SignalCaseRequest request;
  request.set_case_id(a);
  *request.mutable_signal() = note;
  request.set_request_id("same-id");
  v1::SignalCaseResponse amy;
  s = stub_->SignalCase(ContextAs("amy", "agent").get(), request, &amy);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(amy.case_().version(), ra.case_().version() + 1);
  EXPECT_EQ(MustGet("IDA").events_size(), 3);
}

// Answers are kept for the retention (7 days by default): a retry within it
// replays; the business-date run after it purges them, and the same
// request_id is then a new request.
TEST_P(CaseServiceTest, IdempotentAnswersExpireAfterTheRetention) {
  Import({Record("RET", 10, 1000 * CNY)});
  const int64_t id = MustGet("RET").case_().case_id();
  v1::Signal note;
  note.mutable_note()->set_text("called");
  v1::SignalCaseResponse first, r;
  ASSERT_TRUE(Signal(id, note, &first, "kept").ok());

  clock_->Advance(absl::Hours(6 * 24));
  Advance(kToday + 1);
  ASSERT_TRUE(Signal(id, note, &r, "kept").ok());
  EXPECT_EQ(r.case_().version(), first.case_().version());  // replayed
  const int events = MustGet("RET").events_size();

  clock_->Advance(absl::Hours(2 * 24));  // 8 days after the answer
  Advance(kToday + 2);
  const int aged = MustGet("RET").events_size();
  grpc::Status s = Signal(id, note, &r, "kept");
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_GT(r.case_().version(), first.case_().version());  // a new request
  EXPECT_EQ(MustGet("RET").events_size(), aged + 1);
  EXPECT_GE(aged, events);
}

TEST_P(CaseServiceTest, SignalWithoutRequestIdIsRefused) {
  Import({Record("NOID", 10, 1000 * CNY)});
  v1::SignalCaseRequest request;
  request.set_case_id(MustGet("NOID").case_().case_id());
  request.mutable_signal()->mutable_note()->set_text("called");
  v1::SignalCaseResponse out;
  grpc::Status s = stub_->SignalCase(Context().get(), request, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "request_id is required");
  EXPECT_EQ(MustGet("NOID").events_size(), 1);
}

TEST_P(CaseServiceTest, AgingAcross30And90Days) {
  Import({Record("AGE", 29, 1000 * CNY), Record("BIG", 88, 30'000 * CNY)});
  v1::AdvanceBusinessDateResponse d1 = Advance(kToday + 1);  // 30 dpd: still mild
  EXPECT_EQ(MustGet("AGE").case_().stage(), v1::STAGE_REMINDER);
  EXPECT_EQ(MustGet("AGE").case_().days_past_due(), 30);
  v1::AdvanceBusinessDateResponse d2 = Advance(kToday + 2);  // 31 dpd
  EXPECT_GE(d2.stage_changes(), 1);
  v1::GetCaseResponse file = MustGet("AGE");
  EXPECT_EQ(file.case_().stage(), v1::STAGE_COUNSELLING);
  EXPECT_EQ(OpenTaskTypes(file), kCounsellingTasks);
  EXPECT_EQ(file.events(file.events_size() - 1).actor(), testing::kTester);

  // BIG passes 90 days on day 3 and becomes eligible for counsel, but has no
  // visit or letter yet: no handoff.
  Advance(kToday + 3);
  const v1::Case big = MustGet("BIG").case_();
  EXPECT_EQ(big.stage(), v1::STAGE_LEGAL_ACTION);
  EXPECT_EQ(big.days_past_due(), 91);
  EXPECT_EQ(big.legal().phase(), v1::LEGAL_PHASE_ELIGIBLE);

  // Running the same day again changes nothing; a date in the past is refused.
  v1::AdvanceBusinessDateResponse again = Advance(kToday + 3);
  EXPECT_EQ(again.cases_aged(), 0);
  auto context = Context();
  v1::AdvanceBusinessDateRequest back;
  *back.mutable_to() = DayToProto(kToday);
  v1::AdvanceBusinessDateResponse ignored;
  EXPECT_EQ(stub_->AdvanceBusinessDate(context.get(), back, &ignored).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // Aging visits only the cases at an edge: AGE's next change is day 91.
  EXPECT_EQ(Advance(kToday + 10).cases_aged(), 0);
  EXPECT_EQ(MustGet("AGE").case_().days_past_due(), 39);
}

TEST_P(CaseServiceTest, PromiseKeptAndPromiseBroken) {
  Import({Record("KEEP", 5, 1000 * CNY), Record("BREAK", 5, 1000 * CNY)});
  for (const char* loan : {"KEEP", "BREAK"}) {
    v1::Signal p;
    p.mutable_promise_to_pay()->set_amount_fen(300 * CNY);
    *p.mutable_promise_to_pay()->mutable_due_date() = DayToProto(kToday + 3);
    v1::SignalCaseResponse r;
    ASSERT_TRUE(Signal(MustGet(loan).case_().case_id(), p, &r).ok());
  }
  v1::RecordPaymentResponse paid;
  ASSERT_TRUE(Pay("KEEP", "K-1", 300 * CNY, &paid).ok());
  EXPECT_EQ(paid.case_().promises(0).state(), v1::PROMISE_STATE_KEPT);

  // Due on day 3, one grace day: broken when day 5 begins.
  EXPECT_EQ(Advance(kToday + 4).timers_fired(), 0);
  v1::AdvanceBusinessDateResponse r = Advance(kToday + 5);
  EXPECT_EQ(r.timers_fired(), 1);
  v1::GetCaseResponse broken = MustGet("BREAK");
  EXPECT_EQ(broken.case_().promises(0).state(), v1::PROMISE_STATE_BROKEN);
  EXPECT_EQ(broken.case_().promises_broken(), 1);
  EXPECT_TRUE(broken.events(broken.events_size() - 1).has_promise_broken());
  EXPECT_EQ(broken.events(broken.events_size() - 1).actor(), "system:timer");
  EXPECT_EQ(OpenTaskTypes(broken).count(v1::TASK_TYPE_REMINDER_CALL), 2u);
  EXPECT_EQ(MustGet("KEEP").case_().promises(0).state(), v1::PROMISE_STATE_KEPT);
}

TEST_P(CaseServiceTest, CaseFileHasTheWholeHistoryInOrderAndSurvivesRestart) {
  Import({Record("FILE", 10, 1000 * CNY)});
  v1::RecordPaymentResponse paid;
  ASSERT_TRUE(Pay("FILE", "F-1", 50 * CNY, &paid).ok());
  v1::Signal note;
  note.mutable_note()->set_text("asked for a statement");
  v1::SignalCaseResponse r;
  ASSERT_TRUE(Signal(paid.case_().case_id(), note, &r).ok());
  Advance(kToday + 21);  // day 31: counselling

  Restart();
  v1::GetCaseResponse file = MustGet("FILE");
  ASSERT_EQ(file.events_size(), 4);
  std::vector<std::string> kinds;
  for (int i = 0; i < file.events_size(); ++i) {
    EXPECT_EQ(file.events(i).sequence(), i + 1);
    EXPECT_TRUE(file.events(i).has_occurred_at());
    EXPECT_FALSE(file.events(i).actor().empty());
  }
  EXPECT_TRUE(file.events(0).has_imported());
  EXPECT_TRUE(file.events(1).has_payment());
  EXPECT_TRUE(file.events(2).has_signal());
  EXPECT_TRUE(file.events(3).has_aged());
  EXPECT_EQ(file.events(3).stage_before(), v1::STAGE_REMINDER);
  EXPECT_EQ(file.events(3).stage_after(), v1::STAGE_COUNSELLING);
  EXPECT_EQ(file.case_().stage(), v1::STAGE_COUNSELLING);
  EXPECT_EQ(file.payments_size(), 1);
  // Reminder tasks cancelled, the counselling call open.
  int cancelled = 0;
  for (const auto& t : file.tasks()) cancelled += t.state() == v1::TASK_STATE_CANCELLED;
  EXPECT_EQ(cancelled, 2);
  EXPECT_EQ(OpenTaskTypes(file), kCounsellingTasks);
}

TEST_P(CaseServiceTest, ListCasesFiltersAndPagesStably) {
  Import(EdgePortfolio());
  auto list = [&](v1::ListCasesRequest request) {
    std::vector<std::string> loans;
    while (true) {
      auto context = Context();
      v1::ListCasesResponse page;
      grpc::Status s = stub_->ListCases(context.get(), request, &page);
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (!s.ok()) break;
      EXPECT_LE(page.cases_size(), request.page_size() == 0 ? 100 : request.page_size());
      for (const auto& c : page.cases()) loans.push_back(c.loan_id());
      if (page.next_page_token().empty()) break;
      request.set_page_token(page.next_page_token());
    }
    std::sort(loans.begin(), loans.end());
    return loans;
  };
  v1::ListCasesRequest all;
  all.set_page_size(2);
  EXPECT_EQ(list(all).size(), 9u);

  v1::ListCasesRequest severe;
  severe.add_classes(v1::CASE_CLASS_SEVERE);
  EXPECT_EQ(list(severe), (std::vector<std::string>{"A20000_01", "D91"}));

  v1::ListCasesRequest counselling;
  counselling.add_stages(v1::STAGE_COUNSELLING);
  counselling.set_min_days_past_due(31);
  counselling.set_max_days_past_due(90);
  EXPECT_EQ(list(counselling), (std::vector<std::string>{"D31", "D90"}));

  v1::ListCasesRequest queue;
  queue.set_assigned_queue("field");
  EXPECT_EQ(list(queue).size(), 2u);

  // Days past due are as of the business date: ten days on, D30 is at 40.
  Advance(kToday + 10);
  v1::ListCasesRequest over35;
  over35.set_min_days_past_due(35);
  over35.set_max_days_past_due(45);
  EXPECT_EQ(list(over35), (std::vector<std::string>{"D30", "D31"}));

  v1::ListCasesRequest bad;
  bad.set_page_token("not-a-token");
  auto context = Context();
  v1::ListCasesResponse ignored;
  EXPECT_EQ(stub_->ListCases(context.get(), bad, &ignored).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  bad.Clear();
  bad.add_stages(static_cast<v1::Stage>(77));
  auto context2 = Context();
  EXPECT_EQ(stub_->ListCases(context2.get(), bad, &ignored).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_P(CaseServiceTest, TheServerAdvancesTheBusinessDateAtTheConfiguredLocalTime) {
  Import({Record("AUTO", 30, 1000 * CNY)});
  absl::TimeZone shanghai;
  ASSERT_TRUE(absl::LoadTimeZone("Asia/Shanghai", &shanghai));
  server::DailyAging aging(server_->cases(), clock_.get(), shanghai, 60);
  // 00:59 local on the next day: not yet.
  clock_->Set(absl::FromCivil(absl::CivilSecond(2026, 11, 30, 0, 59, 0), shanghai));
  auto ticked = aging.Tick();
  ASSERT_TRUE(ticked.ok()) << ticked.status();
  EXPECT_FALSE(*ticked);
  // 01:00: the business date moves to the 30th and the case ages to 31 dpd.
  clock_->Set(absl::FromCivil(absl::CivilSecond(2026, 11, 30, 1, 0, 0), shanghai));
  ticked = aging.Tick();
  ASSERT_TRUE(ticked.ok()) << ticked.status();
  EXPECT_TRUE(*ticked);
  EXPECT_EQ(server_->cases()->BusinessDate(), kToday + 1);
  v1::GetCaseResponse file = MustGet("AUTO");
  EXPECT_EQ(file.case_().stage(), v1::STAGE_COUNSELLING);
  EXPECT_EQ(file.events(file.events_size() - 1).actor(), "system:daily-aging");
  EXPECT_FALSE(*aging.Tick());  // once a day

  // A weekend's outage is caught up by itself...
  clock_->Set(absl::FromCivil(absl::CivilSecond(2026, 12, 3, 9, 0, 0), shanghai));
  ticked = aging.Tick();
  ASSERT_TRUE(ticked.ok()) << ticked.status();
  EXPECT_EQ(server_->cases()->BusinessDate(), kToday + 4);
  // ...a wall clock that jumps a year is not: nothing moves.
  clock_->Set(absl::FromCivil(absl::CivilSecond(2027, 12, 3, 9, 0, 0), shanghai));
  ticked = aging.Tick();
  EXPECT_EQ(ticked.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(ticked.status().message()), HasSubstr("collectionsctl date advance"));
  EXPECT_EQ(server_->cases()->BusinessDate(), kToday + 4);
}

// A catch-up over several days stamps each day's tasks on that day's
// calendar: a case that crossed into counselling on a back-filled day gets
// its call not-before that day (at the run's local time of day), with its
// SLA from there, not from the wall clock of the day the run happened.
TEST_P(CaseServiceTest, ABackFilledDayStampsItsTasksOnItsOwnBusinessDay) {
  Import({Record("BACK", 30, 1000 * CNY)});
  absl::TimeZone shanghai;
  ASSERT_TRUE(absl::LoadTimeZone("Asia/Shanghai", &shanghai));
  server::DailyAging aging(server_->cases(), clock_.get(), shanghai, 60);
  // Three days late (Dec 2, 09:00): Nov 30 and Dec 1 are back-filled.
  clock_->Set(absl::FromCivil(absl::CivilSecond(2026, 12, 2, 9, 0, 0), shanghai));
  auto ticked = aging.Tick();
  ASSERT_TRUE(ticked.ok()) << ticked.status();
  ASSERT_EQ(server_->cases()->BusinessDate(), kToday + 3);
  v1::GetCaseResponse file = MustGet("BACK");
  ASSERT_EQ(file.case_().stage(), v1::STAGE_COUNSELLING);
  const v1::Task* call = nullptr;
  for (const v1::Task& t : file.tasks()) {
    if (t.type() == v1::TASK_TYPE_COUNSELLING_CALL) call = &t;
  }
  ASSERT_NE(call, nullptr);
  const absl::Time nov30 = absl::FromCivil(absl::CivilSecond(2026, 11, 30, 9, 0, 0), shanghai);
  EXPECT_EQ(workflow::TimeFromProto(call->not_before()), nov30);
  EXPECT_EQ(workflow::TimeFromProto(call->deadline()), nov30 + absl::Hours(48));
  // The aging event is stamped on Nov 30 too; today's own run keeps the clock.
  EXPECT_EQ(workflow::TimeFromProto(file.case_().updated_at()), nov30);
}

// A shutdown stops a long move between days: the days done stay done and
// the caller hears where it stopped.
TEST_P(CaseServiceTest, AShutdownStopsALongDateMoveBetweenDays) {
  Import({Record("STOP", 30, 1000 * CNY)});
  server_->cases()->Stop();
  storage::AuditEntry by;
  by.principal = "ada";
  by.action = "AdvanceBusinessDate";
  auto moved = server_->cases()->AdvanceTo(kToday + 300, by);
  EXPECT_EQ(moved.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(moved.status().message()), HasSubstr("shutting down"));
  EXPECT_EQ(server_->cases()->BusinessDate(), kToday);
}

COLLECTIONS_INSTANTIATE_BACKENDS(CaseServiceTest);

}  // namespace
}  // namespace collections
