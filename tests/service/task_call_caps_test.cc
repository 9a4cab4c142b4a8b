// TaskService through real gRPC on SQLite and PostgreSQL: the connected-call
// cap under batches and concurrency, and the per-borrower call caps per day
// and per seven days.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/service/task_service_fixture.h"

namespace collections::task_test {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::Local;
using ::testing::SizeIs;
using testing::TimeOf;

// --- The connected-call cap under batches and concurrency (default policy:
// at most 3 connected calls and 6 attempts a borrower-local day).

// Connected calls the case files of `loans` record for the borrower.
int ConnectedCallsIn(const std::vector<v1::GetCaseResponse>& files) {
  int connected = 0;
  for (const v1::GetCaseResponse& f : files) {
    for (const v1::CaseEvent& e : f.events()) {
      if (e.has_task_completed() && e.task_completed().outcome().has_call() &&
          e.task_completed().outcome().call().result() == v1::CALL_RESULT_REACHED) {
        ++connected;
      }
    }
  }
  return connected;
}

TEST_P(TaskServiceTest, OneBatchNeverHandsOutMoreCallsThanTheConnectedCap) {
  std::vector<v1::DelinquencyRecord> loans;
  for (int i = 0; i < 4; ++i) loans.push_back(Moderate(absl::StrCat("ONE-", i), "B-ONE"));
  Import(loans);
  v1::ClaimTasksResponse out;
  ASSERT_TRUE(Claim(ClaimRequest("agent", {"call.counselling"}, 20), &out).ok());
  ASSERT_THAT(out.tasks(), SizeIs(3));  // the fourth would be a fourth connection
  std::string held_loan;
  for (int i = 0; i < 4; ++i) {
    const v1::Task t = TaskOf(absl::StrCat("ONE-", i), v1::TASK_TYPE_COUNSELLING_CALL);
    if (t.state() != v1::TASK_STATE_READY) continue;
    held_loan = absl::StrCat("ONE-", i);
    EXPECT_THAT(t.hold_reason(), HasSubstr("0 connected calls today + 3 not yet reported (cap 3)"));
  }
  ASSERT_FALSE(held_loan.empty());
  EXPECT_THAT(ClaimAll("call.counselling"), IsEmpty());

  // Two connect, one does not: that frees its reservation.
  MustComplete(out.tasks(0), Call(v1::CALL_RESULT_REACHED));
  MustComplete(out.tasks(1), Call(v1::CALL_RESULT_REACHED));
  EXPECT_THAT(ClaimAll("call.counselling"), IsEmpty());
  MustComplete(out.tasks(2), Call(v1::CALL_RESULT_NO_ANSWER));
  // The held call is looked at again a minute after it was held.
  clock_->Advance(absl::Minutes(1));
  const std::vector<v1::Task> fourth = ClaimAll("call.counselling");
  ASSERT_THAT(fourth, SizeIs(1));
  MustComplete(fourth[0], Call(v1::CALL_RESULT_REACHED));

  std::vector<v1::GetCaseResponse> files;
  for (int i = 0; i < 4; ++i) files.push_back(File(absl::StrCat("ONE-", i)));
  EXPECT_EQ(ConnectedCallsIn(files), 3);
}

TEST_P(TaskServiceTest, ACallWhoseLeaseLapsedUnreportedKeepsItsReservation) {
  std::vector<v1::DelinquencyRecord> loans;
  for (int i = 0; i < 4; ++i) loans.push_back(Moderate(absl::StrCat("LAP-", i), "B-LAP"));
  Import(loans);
  const std::vector<v1::Task> calls = ClaimAll("call.counselling");
  ASSERT_THAT(calls, SizeIs(3));
  MustComplete(calls[0], Call(v1::CALL_RESULT_REACHED));
  MustComplete(calls[1], Call(v1::CALL_RESULT_REACHED));
  // Nobody says how the third ended; its lease lapses and it goes back.
  clock_->Advance(absl::Seconds(301));
  Tick();
  // It may have connected: neither it nor the fourth goes out today.
  EXPECT_THAT(ClaimAll("call.counselling"), IsEmpty());
  // The next local day counts afresh; a released call was never made, so
  // its reservation goes with it.
  clock_->Set(Local(absl::CivilSecond(2026, 11, 30, 9, 0, 0)));
  const std::vector<v1::Task> next_day = ClaimAll("call.counselling");
  ASSERT_THAT(next_day.size(), ::testing::AllOf(::testing::Ge(2u), ::testing::Le(3u)));
  for (const v1::Task& t : next_day) ASSERT_TRUE(Release(t).ok());
  EXPECT_THAT(ClaimAll("call.counselling"), SizeIs(next_day.size()));
}

TEST_P(TaskServiceTest, ConcurrentClaimersOnTwoReplicasHoldTheConnectedCap) {
  std::vector<v1::DelinquencyRecord> loans;
  for (int i = 0; i < 12; ++i) loans.push_back(Moderate(absl::StrCat("CON-", i), "B-CON"));
  Import(loans);
  // Two servers on one database: on PostgreSQL two writers whose claims
  // run in parallel transactions.
  auto replica = server::Server::Start(Config());
  ASSERT_TRUE(replica.ok()) << replica.status();
  const std::vector<std::string> addresses = {server_->address(), (*replica)->address()};

  std::mutex mu;
  std::vector<int64_t> handed_out;
  std::atomic<int> errors{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 8; ++w) {
    workers.emplace_back([&, w] {
      auto stub = v1::TaskService::NewStub(testing::TestChannel(addresses[w % 2]));
      for (int round = 0; round < 6; ++round) {
        auto context = Context();
        v1::ClaimTasksResponse out;
        grpc::Status s = stub->ClaimTasks(
            context.get(), ClaimRequest(absl::StrCat("agent-", w), {"call.counselling"}, 1 + w % 3),
            &out);
        if (!s.ok()) {
          ++errors;
          return;
        }
        for (const v1::Task& t : out.tasks()) {
          {
            std::lock_guard<std::mutex> lock(mu);
            handed_out.push_back(t.task_id());
          }
          auto done_context = Context();
          v1::CompleteTaskRequest request;
          request.set_task_id(t.task_id());
          request.set_lease_token(t.lease_token());
          request.set_lease_key(t.lease_key());
          request.set_request_id(absl::StrCat("r-", t.task_id()));
          *request.mutable_outcome() = Call(v1::CALL_RESULT_REACHED);
          v1::CompleteTaskResponse done;
          if (!stub->CompleteTask(done_context.get(), request, &done).ok()) ++errors;
        }
      }
    });
  }
  for (std::thread& t : workers) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_THAT(handed_out, SizeIs(3));
  std::vector<v1::GetCaseResponse> files;
  for (int i = 0; i < 12; ++i) files.push_back(File(absl::StrCat("CON-", i)));
  EXPECT_EQ(ConnectedCallsIn(files), 3);
}

// Small caps, so that a test reaches them with a few calls.
class CallCapTest : public TaskServiceTest {
 protected:
  void AdjustPolicy(v1::Policy& policy) const override {
    v1::ContactRules& c = *policy.mutable_contact();
    c.set_max_connected_calls_per_day(2);
    c.set_max_call_attempts_per_day(3);
    c.set_max_call_attempts_per_7_days(4);
    for (auto& cp : *policy.mutable_classes()) {
      for (auto& a : *cp.mutable_actions()) a.set_start_after_days(0);
    }
  }
};

TEST_P(CallCapTest, CallCapsPerBorrowerPerDayAndPerSevenDays) {
  // One borrower with six loans: six reminder calls, all for the same person.
  std::vector<v1::DelinquencyRecord> loans;
  for (int i = 0; i < 6; ++i) loans.push_back(Mild(absl::StrCat("CAP-", i), "B-SAME"));
  loans.push_back(Mild("OTHER", "B-OTHER"));
  Import(loans);

  // Two may connect a day: one claim hands out two of the borrower's calls
  // (each reserves a connection until it is reported), and the other
  // borrower's call.
  std::vector<v1::Task> first = ClaimAll("call.early");
  ASSERT_THAT(first, SizeIs(3));
  int held = 0;
  for (int i = 0; i < 6; ++i) {
    const v1::Task t = TaskOf(absl::StrCat("CAP-", i), v1::TASK_TYPE_REMINDER_CALL);
    if (t.state() == v1::TASK_STATE_READY) {
      ++held;
      EXPECT_THAT(t.hold_reason(),
                  HasSubstr("0 connected calls today + 2 not yet reported (cap 2)"));
    }
  }
  EXPECT_EQ(held, 4);
  // One connects, one does not: that one's reservation frees a third
  // attempt, which connects.
  int reached = 0;
  for (const v1::Task& t : first) {
    if (t.case_id() == CaseId("OTHER")) continue;
    MustComplete(t, Call(reached++ < 1 ? v1::CALL_RESULT_REACHED : v1::CALL_RESULT_REFUSED));
  }
  clock_->Advance(absl::Minutes(1));  // held calls are looked at again
  const std::vector<v1::Task> third = ClaimAll("call.early");
  ASSERT_THAT(third, SizeIs(1));
  MustComplete(third[0], Call(v1::CALL_RESULT_REACHED));
  EXPECT_THAT(ClaimAll("call.early"), IsEmpty());
  // The borrower's calls still waiting (which ones depends on the claims'
  // order, i.e. their ids: on PostgreSQL parallel writers hand them out).
  auto waiting_calls = [&] {
    std::vector<v1::Task> waiting;
    for (int i = 0; i < 6; ++i) {
      v1::Task t = TaskOf(absl::StrCat("CAP-", i), v1::TASK_TYPE_REMINDER_CALL);
      if (t.state() == v1::TASK_STATE_READY) waiting.push_back(std::move(t));
    }
    return waiting;
  };
  ASSERT_THAT(waiting_calls(), SizeIs(3));
  for (const v1::Task& waiting : waiting_calls()) {
    EXPECT_THAT(waiting.hold_reason(), HasSubstr("2 connected calls today (cap 2)"));
    // The next local day's window opening.
    EXPECT_EQ(TimeOf(waiting.not_before()), Local(absl::CivilSecond(2026, 11, 30, 8, 0, 0)));
  }

  // Next day: one more attempt fits in the 7-day cap of four.
  clock_->Set(Local(absl::CivilSecond(2026, 11, 30, 8, 0, 0)));
  std::vector<v1::Task> second = ClaimAll("call.early");
  ASSERT_THAT(second, SizeIs(1));
  EXPECT_EQ(MustComplete(second[0], Call(v1::CALL_RESULT_NO_ANSWER)), v1::STAGE_REMINDER);
  EXPECT_THAT(ClaimAll("call.early"), IsEmpty());
  // The two never handed out wait for the 7-day cap (the call that was not
  // answered waits for its own retry time).
  int capped = 0;
  for (const v1::Task& waiting : waiting_calls()) {
    if (waiting.hold_reason().empty()) continue;
    EXPECT_THAT(waiting.hold_reason(), HasSubstr("call attempts in 7 days (cap 4)"));
    ++capped;
  }
  EXPECT_EQ(capped, 2);
  // The 7 days are the local day and the six before it: on 12-05 the first
  // day's calls still count, on 12-06 they no longer do.
  clock_->Set(Local(absl::CivilSecond(2026, 12, 5, 8, 0, 0)));
  EXPECT_THAT(ClaimAll("call.early"), IsEmpty());
  clock_->Set(Local(absl::CivilSecond(2026, 12, 6, 8, 0, 0)));
  std::vector<v1::Task> later = ClaimAll("call.early");
  EXPECT_THAT(later, SizeIs(2));  // the day's connected cap again
  // Released calls were never made: they give their attempts back.
  for (const v1::Task& t : later) ASSERT_TRUE(Release(t).ok());
  EXPECT_THAT(ClaimAll("call.early"), SizeIs(2));
}

COLLECTIONS_INSTANTIATE_BACKENDS(CallCapTest);

}  // namespace
}  // namespace collections::task_test
