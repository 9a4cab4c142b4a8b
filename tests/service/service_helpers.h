// What the service tests share besides the fixture: the money unit and the
// first business date, time helpers, and the CaseService and TaskService
// calls most tests make (each returns the call's status; the tests assert).
#ifndef COLLECTIONS_TESTS_SERVICE_SERVICE_HELPERS_H_
#define COLLECTIONS_TESTS_SERVICE_SERVICE_HELPERS_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "collections/v1/case_service.grpc.pb.h"
#include "collections/v1/task_service.grpc.pb.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace collections::testing {

// Fen per CNY.
inline constexpr int64_t CNY = 100;
// The fixture's first business date (ServerFixture::StartTime() in
// Asia/Shanghai).
inline constexpr absl::CivilDay kToday(2026, 11, 29);

// --- The feed -------------------------------------------------------------------

// A feed row for `loan`, `dpd` days past due on `as_of`, with `overdue_fen`
// overdue split 1:2:7 into penalty, interest and principal; borrower
// "B-<loan>" (Li Lei, one phone, an address, region SH), product
// mortgage-30y, 800,000 CNY outstanding, a good credit band.
v1::DelinquencyRecord FeedRecord(const std::string& loan, int dpd, int64_t overdue_fen,
                                 absl::CivilDay as_of = kToday);

// --- Time ----------------------------------------------------------------------

// The zone `name` (the test fails if it does not load).
absl::TimeZone Zone(const std::string& name);
// An instant given as local civil time in `zone`.
absl::Time Local(absl::CivilSecond t, const std::string& zone = "Asia/Shanghai");
absl::Time TimeOf(const google::protobuf::Timestamp& ts);
google::protobuf::Duration Seconds(int64_t s);

// A request_id no other call of this test process has used ("req-1",
// "req-2", ...): for calls that require one and are not about retries.
std::string FreshRequestId();

// --- CaseService -----------------------------------------------------------------

// Streams `rows` to ImportDelinquencies (it stops writing when the server
// ends the call) and returns the call's status.
grpc::Status ImportRecords(v1::CaseService::Stub& cases,
                           const std::vector<v1::DelinquencyRecord>& rows,
                           v1::ImportDelinquenciesResponse* response,
                           absl::Duration timeout = absl::Seconds(30));
grpc::Status GetCaseFile(v1::CaseService::Stub& cases, const std::string& loan,
                         v1::GetCaseResponse* out);
grpc::Status RecordPayment(v1::CaseService::Stub& cases, const std::string& loan,
                           const std::string& payment_id, int64_t amount_fen,
                           v1::RecordPaymentResponse* out);
// An empty request_id sends a fresh one.
grpc::Status SignalCase(v1::CaseService::Stub& cases, int64_t case_id, const v1::Signal& signal,
                        v1::SignalCaseResponse* out, const std::string& request_id = "");
grpc::Status AdvanceBusinessDate(v1::CaseService::Stub& cases, absl::CivilDay to,
                                 v1::AdvanceBusinessDateResponse* out,
                                 absl::Duration timeout = absl::Seconds(120));

// --- TaskService -----------------------------------------------------------------

// Claims `queue` as `worker` and keeps the first task of `case_id`,
// releasing every other task the claim leased. The returned task has
// task_id 0 when the claim held none of the case's (a test failure).
v1::Task ClaimTaskOfCase(v1::TaskService::Stub& tasks, const std::string& worker,
                         const std::string& queue, int64_t case_id);
// A context for a call by the principal holding `task`'s lease (an agent;
// kTester's own leases keep every role): only the holder may complete,
// fail, extend or release a task.
std::unique_ptr<grpc::ClientContext> HolderContext(const v1::Task& task,
                                                   absl::Duration timeout = absl::Seconds(30));

// Completes `task` as its holder; with `claim_next`, claims the holder's
// next tasks in the same call (CompleteTaskRequest.claim_next).
grpc::Status CompleteTask(v1::TaskService::Stub& tasks, const v1::Task& task,
                          const v1::TaskOutcome& outcome, const std::string& request_id,
                          v1::CompleteTaskResponse* out,
                          const v1::ClaimTasksRequest* claim_next = nullptr);

}  // namespace collections::testing

#endif  // COLLECTIONS_TESTS_SERVICE_SERVICE_HELPERS_H_
