// Intake and lists through real gRPC on SQLite and PostgreSQL: an import
// stream that breaks mid-way, implausible dates, paging at the maximum page
// size, and case files whose history is too long for one message.
#include <gmock/gmock.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "collections/v1/case_service.grpc.pb.h"
#include "collections/v1/legal_service.grpc.pb.h"
#include "collections/v1/policy_service.grpc.pb.h"
#include "collections/v1/task_service.grpc.pb.h"
#include "tests/service/server_fixture.h"
#include "tests/service/service_helpers.h"
#include "workflow/dates.h"
#include "workflow/policy.h"

namespace collections {
namespace {

using testing::CNY;
using ::testing::HasSubstr;
using testing::kToday;
using workflow::DayToProto;

v1::DelinquencyRecord Record(const std::string& loan, int dpd, int64_t overdue_fen,
                             absl::CivilDay as_of = kToday) {
  v1::DelinquencyRecord r;
  r.set_loan_id(loan);
  *r.mutable_as_of() = DayToProto(as_of);
  *r.mutable_oldest_unpaid_due_date() = DayToProto(as_of - dpd);
  r.mutable_borrower()->set_borrower_id("B-" + loan);
  r.mutable_borrower()->set_name("Li Lei");
  r.mutable_borrower()->set_region("SH");
  r.set_product("mortgage-30y");
  r.set_principal_outstanding_fen(800'000 * CNY);
  r.mutable_overdue()->set_interest_fen(overdue_fen / 5);
  r.mutable_overdue()->set_principal_fen(overdue_fen - overdue_fen / 5);
  r.mutable_credit()->set_score_band(v1::CREDIT_BAND_GOOD);
  return r;
}

std::string Frame(const v1::DelinquencyRecord& record) {
  v1::ImportDelinquenciesRequest request;
  *request.mutable_record() = record;
  return request.SerializeAsString();
}

class IntakeServiceTest : public testing::ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    stub_ = v1::CaseService::NewStub(channel_);
  }

  v1::ImportDelinquenciesResponse Import(const std::vector<v1::DelinquencyRecord>& rows) {
    v1::ImportDelinquenciesResponse response;
    grpc::Status status = testing::ImportRecords(*stub_, rows, &response, absl::Seconds(120));
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  // Streams raw frames (any bytes) to ImportDelinquencies through a generic
  // stub, as a client with a broken encoder would.
  grpc::Status ImportFrames(const std::vector<std::string>& frames,
                            v1::ImportDelinquenciesResponse* response,
                            std::multimap<std::string, std::string>* trailers = nullptr) {
    grpc::GenericStub generic(channel_);
    grpc::CompletionQueue cq;
    auto context = Context();
    auto call =
        generic.PrepareCall(context.get(), "/collections.v1.CaseService/ImportDelinquencies", &cq);
    auto wait = [&cq] {
      void* tag = nullptr;
      bool ok = false;
      EXPECT_TRUE(cq.Next(&tag, &ok));
      return ok;
    };
    void* const tag = reinterpret_cast<void*>(1);
    call->StartCall(tag);
    EXPECT_TRUE(wait());
    for (const std::string& frame : frames) {
      grpc::Slice slice(frame);
      grpc::ByteBuffer buffer(&slice, 1);
      call->Write(buffer, tag);
      if (!wait()) break;  // the server finished the call
    }
    call->WritesDone(tag);
    wait();
    grpc::ByteBuffer reply;
    call->Read(&reply, tag);
    const bool got_reply = wait();
    grpc::Status status;
    call->Finish(&status, tag);
    EXPECT_TRUE(wait());
    if (got_reply) {
      std::vector<grpc::Slice> slices;
      EXPECT_TRUE(reply.Dump(&slices).ok());
      std::string bytes;
      for (const grpc::Slice& s : slices) {
        bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
      }
      EXPECT_TRUE(response->ParseFromString(bytes));
    }
    if (trailers != nullptr) {
      for (const auto& [key, value] : context->GetServerTrailingMetadata()) {
        trailers->emplace(std::string(key.data(), key.size()),
                          std::string(value.data(), value.size()));
      }
    }
    cq.Shutdown();
    void* ignored_tag;
    bool ignored_ok;
    while (cq.Next(&ignored_tag, &ignored_ok)) {
    }
    return status;
  }

  grpc::Status GetCase(const std::string& loan, v1::GetCaseResponse* out) {
    return testing::GetCaseFile(*stub_, loan, out);
  }

  // Makes the current policy the default with `notes_per_day`, for the
  // cases opened from now on.
  void PutNotesCap(int notes_per_day) {
    auto policies = v1::PolicyService::NewStub(channel_);
    v1::PutPolicyRequest put;
    *put.mutable_policy() = workflow::DefaultPolicy();
    put.mutable_policy()->mutable_case_file()->set_max_notes_per_day(notes_per_day);
    v1::PutPolicyResponse stored;
    auto context = Context();
    grpc::Status s = policies->PutPolicy(context.get(), put, &stored);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  grpc::Status Note(int64_t case_id, const std::string& text) {
    auto context = Context();
    v1::SignalCaseRequest request;
    request.set_case_id(case_id);
    request.mutable_signal()->mutable_note()->set_text(text);
    request.set_request_id(testing::FreshRequestId());
    v1::SignalCaseResponse out;
    return stub_->SignalCase(context.get(), request, &out);
  }

  void Advance(absl::CivilDay to) {
    v1::AdvanceBusinessDateResponse response;
    grpc::Status s = testing::AdvanceBusinessDate(*stub_, to, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
  }

  // Claims the case's task from `queue` and completes it with `outcome`.
  void Do(int64_t case_id, const std::string& queue, const v1::TaskOutcome& outcome) {
    auto tasks = v1::TaskService::NewStub(channel_);
    const v1::Task t = testing::ClaimTaskOfCase(*tasks, "worker-1", queue, case_id);
    ASSERT_NE(t.task_id(), 0);
    v1::CompleteTaskResponse out;
    grpc::Status s =
        testing::CompleteTask(*tasks, t, outcome, absl::StrCat("done-", t.task_id()), &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  std::unique_ptr<v1::CaseService::Stub> stub_;
};

// --- A stream that breaks mid-way ----------------------------------------------

TEST_P(IntakeServiceTest, AnUndecodableFrameFailsTheImportNamingTheFrameAndTheCount) {
  v1::ImportDelinquenciesResponse response;
  std::multimap<std::string, std::string> trailers;
  grpc::Status status = ImportFrames(
      {Frame(Record("GOOD-0", 5, 1000 * CNY)), Frame(Record("GOOD-1", 5, 1000 * CNY)),
       std::string("\xff\xff\xff\xff\x0f garbage", 14), Frame(Record("AFTER-3", 5, 1000 * CNY))},
      &response, &trailers);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("frame 2"));
  EXPECT_THAT(status.error_message(), HasSubstr("2 rows before it"));
  EXPECT_THAT(status.error_message(), HasSubstr("2 opened"));
  auto bad = trailers.find("collections-import-bad-frame");
  ASSERT_NE(bad, trailers.end());
  EXPECT_EQ(bad->second, "2");

  // The rows before it are stored; nothing after it was read.
  v1::GetCaseResponse file;
  EXPECT_TRUE(GetCase("GOOD-0", &file).ok());
  EXPECT_TRUE(GetCase("GOOD-1", &file).ok());
  EXPECT_EQ(GetCase("AFTER-3", &file).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_P(IntakeServiceTest, AnUndecodableFirstFrameImportsNothing) {
  v1::ImportDelinquenciesResponse response;
  // A string field that is not UTF-8 (a GBK-encoded name) does not decode.
  v1::DelinquencyRecord gbk = Record("GBK", 5, 1000 * CNY);
  gbk.mutable_borrower()->set_name("\xc0\xee\xc0\xd7");
  grpc::Status status =
      ImportFrames({Frame(gbk), Frame(Record("AFTER-1", 5, 1000 * CNY))}, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("frame 0"));
  v1::GetCaseResponse file;
  EXPECT_EQ(GetCase("AFTER-1", &file).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_P(IntakeServiceTest, RawFramesThatDecodeImportAsBefore) {
  v1::ImportDelinquenciesResponse response;
  v1::DelinquencyRecord no_loan = Record("", 5, 1000 * CNY);
  grpc::Status status = ImportFrames(
      {Frame(Record("A", 5, 1000 * CNY)), Frame(no_loan), Frame(Record("B", 5, 1000 * CNY))},
      &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.opened(), 2);
  EXPECT_EQ(response.rejected(), 1);
  ASSERT_EQ(response.errors_size(), 1);
  EXPECT_EQ(response.errors(0).index(), 1);
}

// --- A long feed: rows go to the writer in batches ------------------------------

// The server takes a stream's rows in batches of 128 (new cases written
// with multi-row statements); each row's outcome must still be its own:
// a loan seen earlier in the same batch, a loan opened by an earlier
// stream, and bad rows among good ones.
TEST_P(IntakeServiceTest, ALongFeedLandsEveryRowAsIfOnItsOwn) {
  ASSERT_EQ(Import({Record("EARLIER", 45, 2'000 * CNY, kToday - 1)}).opened(), 1);
  std::vector<v1::DelinquencyRecord> rows;
  for (int i = 0; i < 300; ++i) {
    rows.push_back(Record(absl::StrCat("F-", i), 5 + i % 200, (800 + 37 * i) * CNY, kToday - 1));
  }
  rows[40] = Record("F-5", 6, 900 * CNY);                // a later as-of of row 5: updated
  rows[41] = Record("F-6", 5, 1'022 * CNY, kToday - 1);  // row 6 again: unchanged
  rows[200] = Record("EARLIER", 46, 2'100 * CNY);        // updated
  rows[130] = Record("", 5, 1000 * CNY);                 // no loan id: rejected
  rows[299].mutable_overdue()->set_interest_fen(-1);     // rejected
  v1::ImportDelinquenciesResponse r = Import(rows);
  EXPECT_EQ(r.opened(), 300 - 5);
  EXPECT_EQ(r.updated(), 2);
  EXPECT_EQ(r.unchanged(), 1);
  EXPECT_EQ(r.rejected(), 2);
  ASSERT_EQ(r.errors_size(), 2);
  EXPECT_EQ(r.errors(0).index(), 130);
  EXPECT_EQ(r.errors(1).index(), 299);

  v1::GetCaseResponse file;
  ASSERT_TRUE(GetCase("F-5", &file).ok());
  EXPECT_EQ(file.case_().as_of().day(), kToday.day());
  EXPECT_EQ(file.case_().overdue().principal_fen() + file.case_().overdue().interest_fen(),
            900 * CNY);
  ASSERT_TRUE(GetCase("EARLIER", &file).ok());
  EXPECT_EQ(file.case_().version(), 2);
  for (int i : {0, 127, 128, 129, 131, 255, 256, 298}) {
    ASSERT_TRUE(GetCase(absl::StrCat("F-", i), &file).ok()) << i;
    EXPECT_EQ(file.case_().version(), 1) << i;
    EXPECT_GT(file.case_().overdue().principal_fen(), 0) << i;
  }
  EXPECT_EQ(GetCase("F-299", &file).error_code(), grpc::StatusCode::NOT_FOUND);
}

// --- Implausible dates --------------------------------------------------------

TEST_P(IntakeServiceTest, ImplausibleDatesAreRejectedRowByRow) {
  v1::DelinquencyRecord placeholder = Record("OLD", 0, 1000 * CNY);
  *placeholder.mutable_oldest_unpaid_due_date() = DayToProto(absl::CivilDay(1900, 1, 1));
  v1::DelinquencyRecord far_ahead = Record("AHEAD", 10, 1000 * CNY, absl::CivilDay(9999, 1, 1));
  v1::ImportDelinquenciesResponse r =
      Import({Record("FINE", 45, 1000 * CNY), placeholder, far_ahead});
  EXPECT_EQ(r.opened(), 1);
  EXPECT_EQ(r.rejected(), 2);
  ASSERT_EQ(r.errors_size(), 2);
  EXPECT_EQ(r.errors(0).index(), 1);
  EXPECT_EQ(r.errors(0).field(), "oldest_unpaid_due_date");
  EXPECT_THAT(r.errors(0).message(), HasSubstr("1900-01-01"));
  EXPECT_THAT(r.errors(0).message(), HasSubstr("30 years"));
  EXPECT_EQ(r.errors(1).index(), 2);
  EXPECT_EQ(r.errors(1).field(), "as_of");
  v1::GetCaseResponse file;
  EXPECT_EQ(GetCase("OLD", &file).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(GetCase("AHEAD", &file).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_P(IntakeServiceTest, APolicyWithTighterDateBoundsAppliesToTheNextRowsAndBadBoundsAreRefused) {
  auto policies = v1::PolicyService::NewStub(channel_);
  v1::PutPolicyRequest put;
  *put.mutable_policy() = workflow::DefaultPolicy();
  put.mutable_policy()->mutable_intake()->set_max_years_overdue(101);
  v1::PutPolicyResponse stored;
  {
    auto context = Context();
    grpc::Status s = policies->PutPolicy(context.get(), put, &stored);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr("intake.max_years_overdue"));
  }
  put.mutable_policy()->mutable_intake()->set_max_years_overdue(2);
  {
    auto context = Context();
    grpc::Status s = policies->PutPolicy(context.get(), put, &stored);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  v1::ImportDelinquenciesResponse r =
      Import({Record("TWO", 365 * 2, 1000 * CNY), Record("THREE", 365 * 3, 1000 * CNY)});
  EXPECT_EQ(r.opened(), 1);
  ASSERT_EQ(r.errors_size(), 1);
  EXPECT_EQ(r.errors(0).loan_id(), "THREE");
  EXPECT_THAT(r.errors(0).message(), HasSubstr("more than 2 years"));
}

// --- Paging at the documented maximum -------------------------------------------

TEST_P(IntakeServiceTest, PagingAtTheMaximumPageSizeSeesEveryCaseAndTaskOnce) {
  constexpr int kCases = 1003;
  std::vector<v1::DelinquencyRecord> rows;
  for (int i = 0; i < kCases; ++i) rows.push_back(Record(absl::StrCat("P", i), 5, 1000 * CNY));
  ASSERT_EQ(Import(rows).opened(), kCases);

  std::set<int64_t> cases;
  int pages = 0;
  v1::ListCasesRequest list;
  list.set_page_size(1000);
  do {
    auto context = Context();
    v1::ListCasesResponse page;
    grpc::Status s = stub_->ListCases(context.get(), list, &page);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ++pages;
    for (const auto& c : page.cases()) EXPECT_TRUE(cases.insert(c.case_id()).second) << c.case_id();
    list.set_page_token(page.next_page_token());
  } while (!list.page_token().empty() && pages < 10);
  EXPECT_EQ(cases.size(), static_cast<size_t>(kCases));
  EXPECT_EQ(pages, 2);

  // Each mild case has an SMS and a call: 2,006 open tasks, three pages.
  auto tasks = v1::TaskService::NewStub(channel_);
  std::set<int64_t> seen;
  pages = 0;
  v1::ListTasksRequest list_tasks;
  list_tasks.set_page_size(1000);
  do {
    auto context = Context();
    v1::ListTasksResponse page;
    grpc::Status s = tasks->ListTasks(context.get(), list_tasks, &page);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ++pages;
    for (const auto& t : page.tasks()) EXPECT_TRUE(seen.insert(t.task_id()).second) << t.task_id();
    list_tasks.set_page_token(page.next_page_token());
  } while (!list_tasks.page_token().empty() && pages < 10);
  EXPECT_EQ(seen.size(), static_cast<size_t>(2 * kCases));
  EXPECT_EQ(pages, 3);
}

// --- Long case histories --------------------------------------------------------

TEST_P(IntakeServiceTest, AHistoryLargerThanOneMessageIsReadInPages) {
  ASSERT_NO_FATAL_FAILURE(PutNotesCap(1000));
  Import({Record("LONG", 10, 1000 * CNY)});
  v1::GetCaseResponse file;
  ASSERT_TRUE(GetCase("LONG", &file).ok());
  const int64_t id = file.case_().case_id();
  // 1,100 notes of 4 KB over two days: 4.5 MB of history, more than one
  // 4 MB message.
  for (int i = 0; i < 1100; ++i) {
    if (i == 550) Advance(kToday + 1);
    grpc::Status s = Note(id, absl::StrCat("note ", i, " ", std::string(4000, 'x')));
    ASSERT_TRUE(s.ok()) << i << ": " << s.error_message();
  }

  // The first page: the case, its tasks and the oldest events.
  grpc::Status s = GetCase("LONG", &file);
  ASSERT_TRUE(s.ok()) << grpc::StatusCode(s.error_code()) << " " << s.error_message();
  const int64_t version = file.case_().version();
  EXPECT_EQ(file.events_size(), 100);
  EXPECT_EQ(file.events(0).sequence(), 1);
  EXPECT_FALSE(file.tasks().empty());
  EXPECT_FALSE(file.next_events_page_token().empty());

  // Paging at the maximum sees every event once, in order.
  std::vector<int64_t> seen;
  v1::GetCaseRequest request;
  request.set_case_id(id);
  request.set_events_page_size(500);
  int pages = 0;
  do {
    auto context = Context();
    v1::GetCaseResponse page;
    s = stub_->GetCase(context.get(), request, &page);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(page.case_().case_id(), id);
    EXPECT_EQ(page.tasks().empty(), pages > 0);  // tasks on the first page only
    for (const auto& e : page.events()) seen.push_back(e.sequence());
    request.set_events_page_token(page.next_events_page_token());
    ++pages;
  } while (!request.events_page_token().empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(seen.size(), static_cast<size_t>(version));
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], static_cast<int64_t>(i + 1));

  // Bad paging input is refused and says why.
  request.set_events_page_size(501);
  request.clear_events_page_token();
  {
    auto context = Context();
    v1::GetCaseResponse page;
    s = stub_->GetCase(context.get(), request, &page);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr("events_page_size"));
  }
  request.set_events_page_size(10);
  request.set_events_page_token("999:5");  // another case's
  {
    auto context = Context();
    v1::GetCaseResponse page;
    s = stub_->GetCase(context.get(), request, &page);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
}

TEST_P(IntakeServiceTest, NotesPerCasePerBusinessDateAreCapped) {
  Import({Record("NOTES", 10, 1000 * CNY)});
  v1::GetCaseResponse file;
  ASSERT_TRUE(GetCase("NOTES", &file).ok());
  const int64_t id = file.case_().case_id();
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(Note(id, absl::StrCat("note ", i)).ok()) << i;
  grpc::Status refused = Note(id, "one more");
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(refused.error_message(), HasSubstr("case_file.max_notes_per_day"));
  EXPECT_THAT(refused.error_message(), HasSubstr("next business date"));
  Advance(kToday + 1);
  EXPECT_TRUE(Note(id, "the next day").ok());
}

TEST_P(IntakeServiceTest, AHandoffCarriesRecentHistoryAndTheFirmPagesThroughTheRest) {
  ASSERT_NO_FATAL_FAILURE(PutNotesCap(1000));
  Import({Record("SEV", 80, 30'000 * CNY)});  // severe, pre-legal, Shanghai
  v1::GetCaseResponse file;
  ASSERT_TRUE(GetCase("SEV", &file).ok());
  const int64_t id = file.case_().case_id();
  for (int i = 0; i < 250; ++i) ASSERT_TRUE(Note(id, absl::StrCat("visit note ", i)).ok());
  v1::TaskOutcome visit;
  visit.mutable_visit()->set_result(v1::VISIT_RESULT_NOT_HOME);
  ASSERT_NO_FATAL_FAILURE(Do(id, "field", visit));
  v1::TaskOutcome letter;
  letter.mutable_letter()->set_sent(true);
  letter.mutable_letter()->set_reference("EMS-1");
  ASSERT_NO_FATAL_FAILURE(Do(id, "letters", letter));
  Advance(kToday + 15);  // past 90 days and the letter's wait: handed off

  auto legal = v1::LegalService::NewStub(channel_);
  v1::Handoff h;
  {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    testing::SetCaller(context, "firm-shanghai-receiver", "legal", "firm-shanghai");
    v1::StreamHandoffsRequest request;
    request.set_firm_id("firm-shanghai");
    auto reader = legal->StreamHandoffs(&context, request);
    ASSERT_TRUE(reader->Read(&h));
    context.TryCancel();
    reader->Finish();
  }
  ASSERT_EQ(h.case_id(), id);
  const int64_t version = h.case_().version();
  ASSERT_GT(version, 250);
  EXPECT_TRUE(h.history_truncated());
  ASSERT_EQ(h.history_size(), 200);
  EXPECT_EQ(h.history(199).sequence(), version);  // the most recent, oldest first
  EXPECT_EQ(h.history(0).sequence(), version - 199);

  // The firm fetches the whole history up to the handoff, page by page.
  std::vector<int64_t> seen;
  v1::GetHandoffHistoryRequest request;
  request.set_firm_id("firm-shanghai");
  request.set_sequence(h.sequence());
  request.set_page_size(120);
  int pages = 0;
  do {
    auto context = testing::FirmContext("firm-shanghai");
    v1::GetHandoffHistoryResponse page;
    grpc::Status s = legal->GetHandoffHistory(context.get(), request, &page);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(page.case_id(), id);
    for (const auto& e : page.events()) seen.push_back(e.sequence());
    request.set_page_token(page.next_page_token());
    ++pages;
  } while (!request.page_token().empty() && pages < 10);
  ASSERT_EQ(seen.size(), static_cast<size_t>(version));
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], static_cast<int64_t>(i + 1));

  // Another firm cannot read it: not under its own name (nothing there),
  // nor by naming the firm it does not speak for.
  request.set_firm_id("firm-national");
  request.clear_page_token();
  v1::GetHandoffHistoryResponse page;
  EXPECT_EQ(legal->GetHandoffHistory(testing::FirmContext("firm-national").get(), request, &page)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
  request.set_firm_id("firm-shanghai");
  EXPECT_EQ(legal->GetHandoffHistory(testing::FirmContext("firm-national").get(), request, &page)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

COLLECTIONS_INSTANTIATE_BACKENDS(IntakeServiceTest);

}  // namespace
}  // namespace collections
