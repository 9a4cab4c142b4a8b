// TaskService through real gRPC on SQLite and PostgreSQL: compliance at
// claim time: contact window edges and the borrowers' time zones, held
// tasks, case holds and lifting them, lease-token errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "collections/v1/report_service.grpc.pb.h"
#include "tests/service/task_service_fixture.h"

namespace collections::task_test {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::Local;
using ::testing::Not;
using ::testing::SizeIs;
using testing::TimeOf;

// --- Compliance at claim time ----------------------------------------------------

TEST_P(TaskServiceTest, ContactWindowEdgesInTheBorrowersTimeZone) {
  // 20:59:59 in Shanghai: inside the window; 21:00:00: outside.
  clock_->Set(Local(absl::CivilSecond(2026, 11, 29, 20, 59, 59)));
  Import({Mild("EDGE-IN")});
  EXPECT_THAT(ClaimAll("sms"), SizeIs(1));
  clock_->Set(Local(absl::CivilSecond(2026, 11, 29, 21, 0, 0)));
  Import({Mild("LATE")});
  EXPECT_THAT(ClaimAll("sms"), IsEmpty());

  // Held in its queue with the reason, visible in the case file, until
  // 08:00 the next morning.
  const v1::Task held = TaskOf("LATE", v1::TASK_TYPE_SMS_REMINDER);
  EXPECT_EQ(held.state(), v1::TASK_STATE_READY);
  EXPECT_THAT(held.hold_reason(), HasSubstr("outside the contact window 08:00-21:00"));
  EXPECT_THAT(held.hold_reason(), HasSubstr("Asia/Shanghai"));
  EXPECT_EQ(TimeOf(held.not_before()), Local(absl::CivilSecond(2026, 11, 30, 8, 0, 0)));
  {
    auto context = Context();
    v1::ListTasksRequest list;
    list.set_held_only(true);
    v1::ListTasksResponse out;
    ASSERT_TRUE(tasks_->ListTasks(context.get(), list, &out).ok());
    ASSERT_THAT(out.tasks(), SizeIs(1));
    EXPECT_EQ(out.tasks(0).task_id(), held.task_id());
  }
  clock_->Set(Local(absl::CivilSecond(2026, 11, 30, 7, 59, 59)));
  EXPECT_THAT(ClaimAll("sms"), IsEmpty());
  clock_->Set(Local(absl::CivilSecond(2026, 11, 30, 8, 0, 0)));
  const std::vector<v1::Task> morning = ClaimAll("sms");
  ASSERT_THAT(morning, SizeIs(1));
  EXPECT_EQ(morning[0].task_id(), held.task_id());
  EXPECT_EQ(morning[0].hold_reason(), "");
}

TEST_P(TaskServiceTest, EachBorrowerIsContactedInTheirOwnTimeZone) {
  // 09:30 in Shanghai is 20:30 the evening before in New York and 01:30 in
  // London: only the Shanghai borrower may be contacted.
  clock_->Set(Local(absl::CivilSecond(2026, 11, 30, 9, 30, 0)));
  Import({Mild("SH", "", "Asia/Shanghai"), Mild("NY", "", "America/New_York"),
          Mild("LDN", "", "Europe/London")});
  std::vector<v1::Task> now = ClaimAll("sms");
  ASSERT_THAT(now, SizeIs(2));  // New York's window closes at 21:00 local
  std::set<int64_t> cases;
  for (const v1::Task& t : now) cases.insert(t.case_id());
  EXPECT_EQ(cases, (std::set<int64_t>{CaseId("SH"), CaseId("NY")}));
  const v1::Task london = TaskOf("LDN", v1::TASK_TYPE_SMS_REMINDER);
  EXPECT_THAT(london.hold_reason(), HasSubstr("Europe/London"));
  EXPECT_EQ(TimeOf(london.not_before()),
            Local(absl::CivilSecond(2026, 11, 30, 8, 0, 0), "Europe/London"));
  clock_->Set(Local(absl::CivilSecond(2026, 11, 30, 8, 0, 0), "Europe/London"));
  EXPECT_THAT(ClaimAll("sms"), SizeIs(1));
}

TEST_P(TaskServiceTest, HeldTasksAtTheHeadOfAQueueDoNotHideTheOnesBehind) {
  // 22:00 in Shanghai, 09:00 in New York. Thirty more urgent (larger)
  // Shanghai cases sit in front of one New York case.
  clock_->Set(Local(absl::CivilSecond(2026, 11, 30, 22, 0, 0)));
  std::vector<v1::DelinquencyRecord> rows;
  for (int i = 0; i < 30; ++i) {
    rows.push_back(Record(absl::StrCat("NIGHT-", i), 10, 4'000 * CNY, "", "Asia/Shanghai"));
  }
  rows.push_back(Record("DAY", 10, 1'000 * CNY, "", "America/New_York"));
  Import(rows);
  v1::ClaimTasksResponse out;
  ASSERT_TRUE(Claim(ClaimRequest("w", {"sms"}, 1), &out).ok());
  ASSERT_THAT(out.tasks(), SizeIs(1));
  EXPECT_EQ(out.tasks(0).case_id(), CaseId("DAY"));
  for (int i = 0; i < 30; ++i) {
    EXPECT_THAT(TaskOf(absl::StrCat("NIGHT-", i), v1::TASK_TYPE_SMS_REMINDER).hold_reason(),
                HasSubstr("outside the contact window"));
  }
}

TEST_P(TaskServiceTest, CaseHoldsStopContactTasksButNotOtherWork) {
  Import({Mild("CEASE"), Mild("DISPUTE")});
  v1::Signal cease;
  cease.mutable_cease_contact()->set_reason("asked in writing");
  Signal("CEASE", cease);
  v1::Signal dispute;
  dispute.mutable_dispute_opened()->set_reason("disputes the penalty");
  Signal("DISPUTE", dispute);
  v1::Signal hardship;
  hardship.mutable_hardship_declared()->set_reason("illness");
  Signal("CEASE", hardship);

  EXPECT_THAT(ClaimAll("sms"), IsEmpty());
  EXPECT_THAT(TaskOf("CEASE", v1::TASK_TYPE_SMS_REMINDER).hold_reason(),
              HasSubstr("cease-contact"));
  EXPECT_THAT(TaskOf("DISPUTE", v1::TASK_TYPE_SMS_REMINDER).hold_reason(),
              HasSubstr("open dispute"));
  // The hardship assessment is not contact: it goes out.
  EXPECT_THAT(ClaimAll("hardship"), SizeIs(1));

  // Resolving the dispute lifts the hold at the next recheck.
  v1::Signal resolved;
  resolved.mutable_dispute_resolved()->set_resolution("penalty correct");
  Signal("DISPUTE", resolved);
  clock_->Advance(absl::Minutes(15));
  const std::vector<v1::Task> after = ClaimAll("sms");
  ASSERT_THAT(after, SizeIs(1));
  EXPECT_EQ(after[0].case_id(), CaseId("DISPUTE"));
}

TEST_P(TaskServiceTest, LiftingAHoldFreesItsTasksAtOnceAndWakesWaitingClaims) {
  Import({Mild("LIFT"), Mild("LIFT-POLL")});
  v1::Signal dispute;
  dispute.mutable_dispute_opened()->set_reason("disputes the penalty");
  Signal("LIFT", dispute);
  Signal("LIFT-POLL", dispute);
  EXPECT_THAT(ClaimAll("sms"), IsEmpty());
  for (const char* loan : {"LIFT", "LIFT-POLL"}) {
    EXPECT_EQ(TaskOf(loan, v1::TASK_TYPE_SMS_REMINDER).hold_reason(),
              "open dispute: no contact until it is resolved");
  }

  // Tasks the SLA report counts as held for a dispute.
  auto held_for_dispute = [&] {
    auto stub = v1::ReportService::NewStub(channel_);
    auto context = Context();
    v1::SlaReport report;
    grpc::Status s = stub->SlaBreaches(context.get(), v1::ReportRequest(), &report);
    EXPECT_TRUE(s.ok()) << s.error_message();
    int64_t n = 0;
    for (const v1::HoldRow& h : report.holds()) {
      if (h.reason() == "dispute") n += h.tasks();
    }
    return n;
  };
  EXPECT_EQ(held_for_dispute(), 2);

  // Resolved: at the same instant the task is claimable, its stale reason
  // gone, and the report no longer counts it.
  v1::Signal resolved;
  resolved.mutable_dispute_resolved()->set_resolution("penalty correct");
  Signal("LIFT", resolved);
  EXPECT_EQ(held_for_dispute(), 1);
  const v1::Task freed = TaskOf("LIFT", v1::TASK_TYPE_SMS_REMINDER);
  EXPECT_EQ(freed.state(), v1::TASK_STATE_READY);
  EXPECT_EQ(freed.hold_reason(), "");
  EXPECT_LE(TimeOf(freed.not_before()), clock_->Now());
  const std::vector<v1::Task> now = ClaimAll("sms");
  ASSERT_THAT(now, SizeIs(1));
  EXPECT_EQ(now[0].case_id(), CaseId("LIFT"));

  // A long-polling claim on the queue wakes when the other hold lifts.
  v1::ClaimTasksResponse got;
  std::thread poller([&] {
    v1::ClaimTasksRequest request = ClaimRequest("poller", {"sms"});
    *request.mutable_wait() = Seconds(10);
    ASSERT_TRUE(Claim(request, &got).ok());
  });
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (server_->task_dispatcher()->waiting() == 0 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  const absl::Time signalled = absl::Now();
  Signal("LIFT-POLL", resolved);
  poller.join();
  ASSERT_THAT(got.tasks(), SizeIs(1));
  EXPECT_EQ(got.tasks(0).case_id(), CaseId("LIFT-POLL"));
  EXPECT_LT(absl::Now() - signalled, absl::Seconds(5));
}

TEST_P(TaskServiceTest, ALiftedHoldLeavesTheOtherHoldsReason) {
  Import({Mild("TWO")});
  v1::Signal dispute;
  dispute.mutable_dispute_opened()->set_reason("disputes the penalty");
  Signal("TWO", dispute);
  v1::Signal cease;
  cease.mutable_cease_contact()->set_reason("asked in writing");
  Signal("TWO", cease);
  EXPECT_THAT(ClaimAll("sms"), IsEmpty());
  v1::Signal resolved;
  resolved.mutable_dispute_resolved()->set_resolution("penalty correct");
  Signal("TWO", resolved);
  // Still held, now for the hold that remains.
  EXPECT_THAT(TaskOf("TWO", v1::TASK_TYPE_SMS_REMINDER).hold_reason(), HasSubstr("cease-contact"));
  EXPECT_THAT(ClaimAll("sms"), IsEmpty());
}

// Each RPC that needs a lease says what is wrong with the token it got.
TEST_P(TaskServiceTest, LeaseTokenErrorsSayWhatHappened) {
  Import({Mild("TOK")});
  const v1::Task first = ClaimAll("sms").at(0);
  ASSERT_TRUE(Release(first).ok());
  const v1::Task current = ClaimAll("sms").at(0);
  ASSERT_EQ(current.lease_token(), first.lease_token() + 1);
  v1::Task never = current;
  never.set_lease_token(current.lease_token() + 7);

  auto errors = [&](const v1::Task& t) {
    std::vector<grpc::Status> out;
    v1::CompleteTaskResponse completed;
    out.push_back(Complete(t, Sms(true), &completed));
    v1::FailTaskResponse failed;
    out.push_back(Fail(t, "gateway down", &failed));
    {
      auto context = testing::HolderContext(t);
      v1::ExtendLeaseRequest extend;
      extend.set_task_id(t.task_id());
      extend.set_lease_token(t.lease_token());
      extend.set_lease_key(t.lease_key());
      v1::ExtendLeaseResponse extended;
      out.push_back(tasks_->ExtendLease(context.get(), extend, &extended));
    }
    out.push_back(Release(t));
    return out;
  };
  const std::string id = absl::StrCat("task ", current.task_id());
  for (const grpc::Status& s : errors(never)) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_THAT(s.error_message(),
                HasSubstr(absl::StrCat(id, ": lease token ", never.lease_token(),
                                       " was never issued (the task's latest is ",
                                       current.lease_token(), ")")));
    EXPECT_THAT(s.error_message(), Not(HasSubstr("leased again")));
  }
  for (const grpc::Status& s : errors(first)) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_THAT(s.error_message(),
                HasSubstr(absl::StrCat(id, ": stale lease token ", first.lease_token(),
                                       ": the task was leased again since (lease token ",
                                       current.lease_token(), ",")));
  }
  // The current lease runs out: before the reaper has returned the task,
  // and after.
  clock_->Advance(absl::Seconds(301));
  for (const grpc::Status& s : errors(current)) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_THAT(s.error_message(), HasSubstr(absl::StrCat(id, ": lease token ",
                                                          current.lease_token(), " expired at ")));
  }
  Tick();
  for (const grpc::Status& s : errors(current)) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_THAT(
        s.error_message(),
        HasSubstr(absl::StrCat(id, ": lease token ", current.lease_token(), " is no longer held")));
    EXPECT_THAT(s.error_message(), HasSubstr("READY"));
  }
  // A never-issued token is still called that once the task is done.
  const v1::Task last = ClaimAll("sms").at(0);
  MustComplete(last, Sms(true));
  never.set_lease_token(last.lease_token() + 1);
  for (const grpc::Status& s : errors(never)) {
    EXPECT_THAT(s.error_message(), HasSubstr("was never issued"));
  }
  v1::CompleteTaskResponse out;
  EXPECT_THAT(
      Complete(last, Sms(true), &out).error_message(),
      HasSubstr(absl::StrCat(id, ": already completed under lease token ", last.lease_token())));
}

}  // namespace
}  // namespace collections::task_test
