#include "tests/service/service_helpers.h"

#include <gtest/gtest.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "tests/service/call_context.h"
#include "workflow/dates.h"

namespace collections::testing {

std::string FreshRequestId() {
  static std::atomic<int64_t> next{0};
  return absl::StrCat("req-", ++next);
}

v1::DelinquencyRecord FeedRecord(const std::string& loan, int dpd, int64_t overdue_fen,
                                 absl::CivilDay as_of) {
  v1::DelinquencyRecord r;
  r.set_loan_id(loan);
  *r.mutable_as_of() = workflow::DayToProto(as_of);
  *r.mutable_oldest_unpaid_due_date() = workflow::DayToProto(as_of - dpd);
  r.mutable_borrower()->set_borrower_id("B-" + loan);
  r.mutable_borrower()->set_name("Li Lei");
  r.mutable_borrower()->add_phones("+86 139 0000 0000");
  r.mutable_borrower()->set_address("8 Nanjing Rd, Shanghai");
  r.mutable_borrower()->set_region("SH");
  r.set_product("mortgage-30y");
  r.set_principal_outstanding_fen(800'000 * CNY);
  // Penalty, interest and principal in a 1:2:7 split.
  r.mutable_overdue()->set_penalty_fen(overdue_fen / 10);
  r.mutable_overdue()->set_interest_fen(overdue_fen / 5);
  r.mutable_overdue()->set_principal_fen(overdue_fen - overdue_fen / 10 - overdue_fen / 5);
  r.mutable_credit()->set_score_band(v1::CREDIT_BAND_GOOD);
  return r;
}

absl::TimeZone Zone(const std::string& name) {
  absl::TimeZone tz;
  EXPECT_TRUE(absl::LoadTimeZone(name, &tz)) << name;
  return tz;
}

absl::Time Local(absl::CivilSecond t, const std::string& zone) {
  return absl::FromCivil(t, Zone(zone));
}

absl::Time TimeOf(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixMicros(google::protobuf::util::TimeUtil::TimestampToMicroseconds(ts));
}

google::protobuf::Duration Seconds(int64_t s) {
  google::protobuf::Duration d;
  d.set_seconds(s);
  return d;
}

grpc::Status ImportRecords(v1::CaseService::Stub& cases,
                           const std::vector<v1::DelinquencyRecord>& rows,
                           v1::ImportDelinquenciesResponse* response, absl::Duration timeout) {
  auto context = DeadlineContext(timeout);
  auto writer = cases.ImportDelinquencies(context.get(), response);
  for (const auto& r : rows) {
    v1::ImportDelinquenciesRequest request;
    *request.mutable_record() = r;
    if (!writer->Write(request)) break;  // the server ended the call; Finish says why
  }
  writer->WritesDone();
  return writer->Finish();
}

grpc::Status GetCaseFile(v1::CaseService::Stub& cases, const std::string& loan,
                         v1::GetCaseResponse* out) {
  auto context = DeadlineContext();
  v1::GetCaseRequest request;
  request.set_loan_id(loan);
  return cases.GetCase(context.get(), request, out);
}

grpc::Status RecordPayment(v1::CaseService::Stub& cases, const std::string& loan,
                           const std::string& payment_id, int64_t amount_fen,
                           v1::RecordPaymentResponse* out) {
  auto context = DeadlineContext();
  v1::RecordPaymentRequest request;
  request.set_loan_id(loan);
  request.mutable_payment()->set_payment_id(payment_id);
  request.mutable_payment()->set_amount_fen(amount_fen);
  return cases.RecordPayment(context.get(), request, out);
}

grpc::Status SignalCase(v1::CaseService::Stub& cases, int64_t case_id, const v1::Signal& signal,
                        v1::SignalCaseResponse* out, const std::string& request_id) {
  auto context = DeadlineContext();
  v1::SignalCaseRequest request;
  request.set_case_id(case_id);
  *request.mutable_signal() = signal;
  request.set_request_id(request_id.empty() ? FreshRequestId() : request_id);
  return cases.SignalCase(context.get(), request, out);
}

grpc::Status AdvanceBusinessDate(v1::CaseService::Stub& cases, absl::CivilDay to,
                                 v1::AdvanceBusinessDateResponse* out, absl::Duration timeout) {
  auto context = DeadlineContext(timeout);
  v1::AdvanceBusinessDateRequest request;
  *request.mutable_to() = workflow::DayToProto(to);
  return cases.AdvanceBusinessDate(context.get(), request, out);
}

v1::Task ClaimTaskOfCase(v1::TaskService::Stub& tasks, const std::string& worker,
                         const std::string& queue, int64_t case_id) {
  v1::ClaimTasksRequest request;
  request.set_worker_id(worker);
  request.add_queues(queue);
  request.set_max_tasks(100);
  v1::ClaimTasksResponse claimed;
  // The worker claims as itself: the lease is the principal's.
  auto context = CallerContext(worker, "agent");
  grpc::Status s = tasks.ClaimTasks(context.get(), request, &claimed);
  EXPECT_TRUE(s.ok()) << s.error_message();
  v1::Task found;
  for (const v1::Task& t : claimed.tasks()) {
    if (t.case_id() == case_id && found.task_id() == 0) {
      found = t;
      continue;
    }
    auto release_context = HolderContext(t);
    v1::ReleaseTaskRequest release;
    release.set_task_id(t.task_id());
    release.set_lease_token(t.lease_token());
    release.set_lease_key(t.lease_key());
    v1::ReleaseTaskResponse ignored;
    s = tasks.ReleaseTask(release_context.get(), release, &ignored);
    EXPECT_TRUE(s.ok()) << s.error_message();
  }
  EXPECT_NE(found.task_id(), 0) << "no task of case " << case_id << " in " << queue;
  return found;
}

std::unique_ptr<grpc::ClientContext> HolderContext(const v1::Task& task, absl::Duration timeout) {
  if (task.lease_owner().empty() || task.lease_owner() == kTester) return DeadlineContext(timeout);
  return CallerContext(task.lease_owner(), "agent", timeout);
}

grpc::Status CompleteTask(v1::TaskService::Stub& tasks, const v1::Task& task,
                          const v1::TaskOutcome& outcome, const std::string& request_id,
                          v1::CompleteTaskResponse* out, const v1::ClaimTasksRequest* claim_next) {
  auto context = HolderContext(task);
  v1::CompleteTaskRequest request;
  request.set_task_id(task.task_id());
  request.set_lease_token(task.lease_token());
  request.set_lease_key(task.lease_key());
  request.set_request_id(request_id);
  *request.mutable_outcome() = outcome;
  if (claim_next != nullptr) *request.mutable_claim_next() = *claim_next;
  return tasks.CompleteTask(context.get(), request, out);
}

}  // namespace collections::testing
