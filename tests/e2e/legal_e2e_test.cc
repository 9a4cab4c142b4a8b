// End to end with the real binaries: collectionsd hands a severe case to
// counsel and the reference receiver (collections-legal-receiver) stores it
// as a JSON file and acknowledges it; the receiver and the server are both
// restarted mid-stream; a later withdrawal arrives; nothing is stored twice.
#include <dirent.h>
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collections/v1/case_service.grpc.pb.h"
#include "collections/v1/legal_service.grpc.pb.h"
#include "collections/v1/task_service.grpc.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tests/e2e/collectionsd_process.h"
#include "tests/service/test_env.h"

namespace collections {
namespace {

using testing::Collectionsd;
using ::testing::HasSubstr;

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  return context;
}

std::set<std::string> HandoffFiles(const std::string& dir) {
  std::set<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name.rfind("handoff-", 0) == 0) out.insert(name);
    }
    closedir(d);
  }
  return out;
}

// Waits (bounded) until `dir` holds `n` handoff files: readiness, not time.
bool WaitForFiles(const std::string& dir, size_t n, Collectionsd& receiver) {
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (absl::Now() < give_up) {
    if (HandoffFiles(dir).size() >= n) return true;
    if (receiver.Exited()) return HandoffFiles(dir).size() >= n;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return false;
}

class LegalEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = testing::TempDir::Create("collections-legal-e2e");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = *std::move(dir);
    auto port = testing::PickFreePort();
    ASSERT_TRUE(port.ok());
    address_ = absl::StrCat("127.0.0.1:", *port);
    inbox_ = dir_->path() + "/inbox";
  }

  void StartServer(const std::string& log) {
    server_ = std::make_unique<Collectionsd>(
        std::vector<std::string>{"--listen=" + address_,
                                 "--db=sqlite3://db=" + dir_->path() + "/c.db timeout=5",
                                 "--daily_aging_time=off"},
        dir_->path() + "/" + log);
    ASSERT_TRUE(testing::WaitUntilServing(*server_, address_, absl::Seconds(60))) << server_->Log();
    channel_ = testing::SecureChannel(address_);
  }

  void StopServer() {
    channel_.reset();
    server_->Signal(SIGTERM);
    const int status = server_->Wait();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << server_->Log();
  }

  std::unique_ptr<Collectionsd> Receiver(const std::string& log, bool once) {
    // The firm's system: mutual TLS with its client certificate, no token.
    const std::string& pki = testing::CredentialsDir();
    std::vector<std::string> args = {"--server=" + address_,
                                     "--firm=firm-national",
                                     "--dir=" + inbox_,
                                     "--tls_ca=" + pki + "/ca.pem",
                                     "--tls_cert=" + pki + "/firm-national.pem",
                                     "--tls_key=" + pki + "/firm-national.key"};
    if (once) args.push_back("--once");
    return std::make_unique<Collectionsd>(args, dir_->path() + "/" + log,
                                          COLLECTIONS_LEGAL_RECEIVER_PATH);
  }

  void CompleteOne(const std::string& queue, const v1::TaskOutcome& outcome) {
    auto tasks = v1::TaskService::NewStub(channel_);
    v1::ClaimTasksRequest claim;
    claim.set_worker_id("e2e");
    claim.add_queues(queue);
    claim.set_max_tasks(1);
    v1::ClaimTasksResponse claimed;
    ASSERT_TRUE(tasks->ClaimTasks(Context().get(), claim, &claimed).ok());
    ASSERT_EQ(claimed.tasks_size(), 1) << "nothing to claim in " << queue;
    v1::CompleteTaskRequest done;
    done.set_task_id(claimed.tasks(0).task_id());
    done.set_lease_token(claimed.tasks(0).lease_token());
    done.set_lease_key(claimed.tasks(0).lease_key());
    done.set_request_id(absl::StrCat("e2e-", claimed.tasks(0).task_id()));
    *done.mutable_outcome() = outcome;
    v1::CompleteTaskResponse out;
    grpc::Status s = tasks->CompleteTask(Context().get(), done, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // Moves the business date on by `days` from the case's.
  void AdvanceDays(const std::string& loan, int days) {
    auto cases = v1::CaseService::NewStub(channel_);
    v1::GetCaseRequest get;
    get.set_loan_id(loan);
    v1::GetCaseResponse file;
    ASSERT_TRUE(cases->GetCase(Context().get(), get, &file).ok());
    absl::CivilDay day(file.case_().business_date().year(), file.case_().business_date().month(),
                       file.case_().business_date().day());
    day += days;
    v1::AdvanceBusinessDateRequest advance;
    advance.mutable_to()->set_year(static_cast<int>(day.year()));
    advance.mutable_to()->set_month(day.month());
    advance.mutable_to()->set_day(day.day());
    v1::AdvanceBusinessDateResponse advanced;
    grpc::Status s = cases->AdvanceBusinessDate(Context().get(), advance, &advanced);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // A severe case with more history than a handoff carries (250 notes, 50
  // per business date, the default cap, while the letter's waiting period
  // runs), handed to counsel.
  void MakeLongCase(int64_t* case_id) {
    auto cases = v1::CaseService::NewStub(channel_);
    {
      auto context = Context();
      v1::ImportDelinquenciesResponse imported;
      auto writer = cases->ImportDelinquencies(context.get(), &imported);
      v1::ImportDelinquenciesRequest row;
      v1::DelinquencyRecord& r = *row.mutable_record();
      r.set_loan_id("LEGAL-LONG");
      r.mutable_as_of()->set_year(2026);
      r.mutable_as_of()->set_month(8);
      r.mutable_as_of()->set_day(1);
      r.mutable_oldest_unpaid_due_date()->set_year(2026);
      r.mutable_oldest_unpaid_due_date()->set_month(4);
      r.mutable_oldest_unpaid_due_date()->set_day(1);
      r.mutable_borrower()->set_borrower_id("B-LONG");
      r.mutable_borrower()->set_name("Sun Li");
      r.mutable_borrower()->set_address("9 Xihu Rd, Hangzhou");
      r.mutable_borrower()->set_region("ZJ");
      r.mutable_borrower()->set_time_zone(testing::NoonZone());
      r.mutable_overdue()->set_principal_fen(3'000'000);
      ASSERT_TRUE(writer->Write(row));
      writer->WritesDone();
      ASSERT_TRUE(writer->Finish().ok());
      ASSERT_EQ(imported.opened(), 1);
    }
    v1::TaskOutcome visit;
    visit.mutable_visit()->set_result(v1::VISIT_RESULT_NOT_HOME);
    CompleteOne("field", visit);
    v1::TaskOutcome letter;
    letter.mutable_letter()->set_sent(true);
    letter.mutable_letter()->set_reference("EMS-LONG");
    CompleteOne("letters", letter);
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
    v1::GetCaseRequest get;
    get.set_loan_id("LEGAL-LONG");
    v1::GetCaseResponse file;
    ASSERT_TRUE(cases->GetCase(Context().get(), get, &file).ok());
    *case_id = file.case_().case_id();
    for (int i = 0; i < kLongCaseNotes; ++i) {
      if (i > 0 && i % 50 == 0) {
        AdvanceDays("LEGAL-LONG", 1);
        ASSERT_FALSE(::testing::Test::HasFatalFailure());
      }
      v1::SignalCaseRequest note;
      note.set_case_id(*case_id);
      note.mutable_signal()->mutable_note()->set_text(absl::StrCat("note-", i));
      note.set_request_id(absl::StrCat("note-", i));
      v1::SignalCaseResponse noted;
      grpc::Status s = cases->SignalCase(Context().get(), note, &noted);
      ASSERT_TRUE(s.ok()) << i << ": " << s.error_message();
    }
    // The letter's waiting period passes: the case goes to counsel.
    AdvanceDays("LEGAL-LONG", 15);
  }

  // The receiver's one stored file holds the handoff of MakeLongCase's case
  // with every event up to the handoff, exactly once, oldest first; the
  // server has the handoff acknowledged.
  void ExpectWholeCaseFileStoredAndAcknowledged(int64_t case_id, Collectionsd& receiver) {
    const std::set<std::string> files = HandoffFiles(inbox_);
    ASSERT_EQ(files.size(), 1u) << receiver.Log();
    std::ifstream in(inbox_ + "/" + *files.begin());
    const std::string json((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    v1::Handoff stored;
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = true;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &stored, options).ok());
    EXPECT_EQ(stored.kind(), v1::HANDOFF_KIND_NEW_CASE);
    EXPECT_EQ(stored.case_id(), case_id);
    EXPECT_FALSE(stored.history_truncated());
    const int64_t version = stored.case_().version();
    ASSERT_GT(version, 200);
    ASSERT_EQ(stored.history_size(), version) << receiver.Log();
    std::vector<std::string> notes;
    for (int i = 0; i < stored.history_size(); ++i) {
      EXPECT_EQ(stored.history(i).sequence(), i + 1);
      if (stored.history(i).has_signal() && stored.history(i).signal().has_note()) {
        notes.push_back(stored.history(i).signal().note().text());
      }
    }
    ASSERT_EQ(notes.size(), static_cast<size_t>(kLongCaseNotes));
    for (int i = 0; i < kLongCaseNotes; ++i) EXPECT_EQ(notes[i], absl::StrCat("note-", i));
    EXPECT_THAT(json, HasSubstr("EMS-LONG"));

    auto cases = v1::CaseService::NewStub(channel_);
    v1::GetCaseRequest get;
    get.set_case_id(case_id);
    v1::GetCaseResponse file;
    ASSERT_TRUE(cases->GetCase(Context().get(), get, &file).ok());
    EXPECT_TRUE(file.case_().legal().has_accepted_on()) << "not acknowledged";
    EXPECT_TRUE(PendingAcks().empty());
  }
  static constexpr int kLongCaseNotes = 250;

  // The acknowledgements the receiver still owes the server.
  std::set<std::string> PendingAcks() const {
    std::set<std::string> out;
    if (DIR* d = opendir((inbox_ + "/pending-acks").c_str())) {
      while (dirent* e = readdir(d)) {
        std::string name = e->d_name;
        if (name.rfind("ack-", 0) == 0) out.insert(name);
      }
      closedir(d);
    }
    return out;
  }

  // Waits (bounded) until `done()` while `process` runs: readiness, not
  // time.
  template <typename Done>
  static bool WaitUntil(Done done, Collectionsd& process) {
    const absl::Time give_up = absl::Now() + absl::Seconds(60);
    while (absl::Now() < give_up) {
      if (done()) return true;
      if (process.Exited()) return done();
      absl::SleepFor(absl::Milliseconds(50));
    }
    return false;
  }
  static bool WaitForLog(Collectionsd& process, const std::string& text) {
    return WaitUntil([&] { return process.Log().find(text) != std::string::npos; }, process);
  }

  std::unique_ptr<testing::TempDir> dir_;
  std::string address_, inbox_;
  std::unique_ptr<Collectionsd> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(LegalEndToEnd, ReceiverStoresEachHandoffOnceAcrossRestarts) {
  StartServer("server1.log");
  ASSERT_FALSE(HasFatalFailure());
  auto cases = v1::CaseService::NewStub(channel_);
  v1::ImportDelinquenciesResponse imported;
  {
    auto context = Context();
    auto writer = cases->ImportDelinquencies(context.get(), &imported);
    v1::ImportDelinquenciesRequest row;
    v1::DelinquencyRecord& r = *row.mutable_record();
    r.set_loan_id("LEGAL-1");
    r.mutable_as_of()->set_year(2026);
    r.mutable_as_of()->set_month(8);
    r.mutable_as_of()->set_day(1);
    r.mutable_oldest_unpaid_due_date()->set_year(2026);
    r.mutable_oldest_unpaid_due_date()->set_month(4);
    r.mutable_oldest_unpaid_due_date()->set_day(1);
    r.mutable_borrower()->set_borrower_id("B1");
    r.mutable_borrower()->set_name("Sun Li");
    r.mutable_borrower()->set_address("9 Xihu Rd, Hangzhou");
    r.mutable_borrower()->set_region("ZJ");
    r.mutable_borrower()->set_time_zone(testing::NoonZone());
    r.mutable_overdue()->set_principal_fen(3'000'000);
    ASSERT_TRUE(writer->Write(row));
    writer->WritesDone();
    ASSERT_TRUE(writer->Finish().ok());
  }
  ASSERT_EQ(imported.opened(), 1);
  v1::TaskOutcome visit;
  visit.mutable_visit()->set_result(v1::VISIT_RESULT_NOT_HOME);
  CompleteOne("field", visit);
  v1::TaskOutcome letter;
  letter.mutable_letter()->set_sent(true);
  letter.mutable_letter()->set_reference("EMS-E2E");
  CompleteOne("letters", letter);
  ASSERT_FALSE(HasFatalFailure());

  // The letter's waiting period passes: the case goes to counsel.
  v1::GetCaseRequest get;
  get.set_loan_id("LEGAL-1");
  v1::GetCaseResponse file;
  ASSERT_TRUE(cases->GetCase(Context().get(), get, &file).ok());
  v1::AdvanceBusinessDateRequest advance;
  {
    absl::CivilDay day(file.case_().business_date().year(), file.case_().business_date().month(),
                       file.case_().business_date().day());
    day += 15;
    advance.mutable_to()->set_year(static_cast<int>(day.year()));
    advance.mutable_to()->set_month(day.month());
    advance.mutable_to()->set_day(day.day());
  }
  v1::AdvanceBusinessDateResponse advanced;
  ASSERT_TRUE(cases->AdvanceBusinessDate(Context().get(), advance, &advanced).ok());

  // The receiver stores it and acknowledges it; SIGTERM stops it promptly
  // (its stream was just opened and has 5 s to run: only cancelling the
  // stream at once explains a stop well within that).
  auto receiver = Receiver("receiver1.log", /*once=*/false);
  ASSERT_TRUE(WaitForFiles(inbox_, 1, *receiver)) << receiver->Log();
  ASSERT_TRUE(WaitForLog(*receiver, "acknowledged handoff-1.json")) << receiver->Log();
  absl::Time stop_at = absl::Now();
  receiver->Signal(SIGTERM);
  EXPECT_EQ(WEXITSTATUS(receiver->Wait()), 0) << receiver->Log();
  EXPECT_LT(absl::Now() - stop_at, absl::Seconds(2)) << receiver->Log();
  std::ifstream first(inbox_ + "/" + *HandoffFiles(inbox_).begin());
  std::string json((std::istreambuf_iterator<char>(first)), std::istreambuf_iterator<char>());
  EXPECT_THAT(json, HasSubstr("HANDOFF_KIND_NEW_CASE"));
  EXPECT_THAT(json, HasSubstr("EMS-E2E"));
  ASSERT_TRUE(cases->GetCase(Context().get(), get, &file).ok());
  EXPECT_TRUE(file.case_().legal().has_accepted_on()) << "not acknowledged";

  // A receiver keeps trying while the server is down (restarting) and picks
  // up within moments of it coming back; a full payment then sends a
  // withdrawal. (The test's own channel goes first: an idle client holds a
  // server's shutdown until its next poll.)
  cases.reset();
  StopServer();
  receiver = Receiver("receiver2.log", /*once=*/false);
  ASSERT_TRUE(WaitForLog(*receiver, "stream ended")) << receiver->Log();
  StartServer("server2.log");
  ASSERT_FALSE(HasFatalFailure());
  cases = v1::CaseService::NewStub(channel_);
  v1::RecordPaymentRequest pay;
  pay.set_loan_id("LEGAL-1");
  pay.mutable_payment()->set_payment_id("PAID-IN-FULL");
  pay.mutable_payment()->set_amount_fen(3'000'000);
  v1::RecordPaymentResponse paid;
  ASSERT_TRUE(cases->RecordPayment(Context().get(), pay, &paid).ok());
  EXPECT_EQ(paid.case_().stage(), v1::STAGE_RESOLVED);
  const absl::Time paid_at = absl::Now();
  ASSERT_TRUE(WaitForFiles(inbox_, 2, *receiver)) << receiver->Log();
  EXPECT_LT(absl::Now() - paid_at, absl::Seconds(3)) << receiver->Log();
  stop_at = absl::Now();
  receiver->Signal(SIGTERM);
  EXPECT_EQ(WEXITSTATUS(receiver->Wait()), 0) << receiver->Log();
  EXPECT_LT(absl::Now() - stop_at, absl::Seconds(2)) << receiver->Log();

  // Starting over from the stored sequence stores nothing twice.
  auto again = Receiver("receiver3.log", /*once=*/true);
  const int status = again->Wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << again->Log();
  EXPECT_EQ(HandoffFiles(inbox_).size(), 2u);
  EXPECT_THAT(again->Log(), HasSubstr("resuming after sequence"));
  channel_.reset();
  cases.reset();
  StopServer();
}

// Acknowledgements survive a server killed between a stored file and its
// acknowledgement, and a receiver killed while they were pending: each
// stored handoff is kept in pending-acks until the server answers, retried
// with backoff, also after a restart of the receiver. The window is held
// open deterministically with the receiver's test-only gate
// (COLLECTIONS_LEGAL_RECEIVER_TEST_HOLD_ACKS names a file; while it exists
// no acknowledgement is sent).
TEST_F(LegalEndToEnd, AcknowledgementsSurviveAServerKilledBeforeThem) {
  StartServer("server1.log");
  ASSERT_FALSE(HasFatalFailure());
  auto cases = v1::CaseService::NewStub(channel_);
  const std::vector<std::string> loans = {"LEGAL-A", "LEGAL-B"};
  {
    auto context = Context();
    v1::ImportDelinquenciesResponse imported;
    auto writer = cases->ImportDelinquencies(context.get(), &imported);
    for (const std::string& loan : loans) {
      v1::ImportDelinquenciesRequest row;
      v1::DelinquencyRecord& r = *row.mutable_record();
      r.set_loan_id(loan);
      r.mutable_as_of()->set_year(2026);
      r.mutable_as_of()->set_month(8);
      r.mutable_as_of()->set_day(1);
      r.mutable_oldest_unpaid_due_date()->set_year(2026);
      r.mutable_oldest_unpaid_due_date()->set_month(4);
      r.mutable_oldest_unpaid_due_date()->set_day(1);
      r.mutable_borrower()->set_borrower_id("B-" + loan);
      r.mutable_borrower()->set_name("Sun Li");
      r.mutable_borrower()->set_address("9 Xihu Rd, Hangzhou");
      r.mutable_borrower()->set_region("ZJ");
      r.mutable_borrower()->set_time_zone(testing::NoonZone());
      r.mutable_overdue()->set_principal_fen(3'000'000);
      ASSERT_TRUE(writer->Write(row));
    }
    writer->WritesDone();
    ASSERT_TRUE(writer->Finish().ok());
    ASSERT_EQ(imported.opened(), 2);
  }
  for (size_t i = 0; i < loans.size(); ++i) {
    v1::TaskOutcome visit;
    visit.mutable_visit()->set_result(v1::VISIT_RESULT_NOT_HOME);
    CompleteOne("field", visit);
    v1::TaskOutcome letter;
    letter.mutable_letter()->set_sent(true);
    letter.mutable_letter()->set_reference("EMS-E2E");
    CompleteOne("letters", letter);
    ASSERT_FALSE(HasFatalFailure());
  }
  v1::GetCaseRequest get;
  get.set_loan_id(loans[0]);
  v1::GetCaseResponse file;
  ASSERT_TRUE(cases->GetCase(Context().get(), get, &file).ok());
  v1::AdvanceBusinessDateRequest advance;
  {
    absl::CivilDay day(file.case_().business_date().year(), file.case_().business_date().month(),
                       file.case_().business_date().day());
    day += 15;
    advance.mutable_to()->set_year(static_cast<int>(day.year()));
    advance.mutable_to()->set_month(day.month());
    advance.mutable_to()->set_day(day.day());
  }
  v1::AdvanceBusinessDateResponse advanced;
  ASSERT_TRUE(cases->AdvanceBusinessDate(Context().get(), advance, &advanced).ok());

  // The receiver stores both handoffs while acknowledgements are held.
  const std::string gate = dir_->path() + "/hold-acks";
  std::ofstream(gate) << "hold\n";
  setenv("COLLECTIONS_LEGAL_RECEIVER_TEST_HOLD_ACKS", gate.c_str(), 1);
  auto receiver = Receiver("receiver1.log", /*once=*/false);
  unsetenv("COLLECTIONS_LEGAL_RECEIVER_TEST_HOLD_ACKS");
  ASSERT_TRUE(WaitForFiles(inbox_, 2, *receiver)) << receiver->Log();
  ASSERT_TRUE(WaitUntil([&] { return PendingAcks().size() == 2; }, *receiver)) << receiver->Log();

  // The server dies before any acknowledgement; the receiver tries, fails,
  // and keeps them pending; then the receiver dies too.
  server_->Signal(SIGKILL);
  server_->Wait();
  channel_.reset();
  cases.reset();
  unlink(gate.c_str());
  ASSERT_TRUE(WaitForLog(*receiver, "could not acknowledge")) << receiver->Log();
  receiver->Signal(SIGKILL);
  receiver->Wait();
  EXPECT_EQ(PendingAcks().size(), 2u);

  // A new receiver finds them on disk and retries until the server is back.
  receiver = Receiver("receiver2.log", /*once=*/false);
  ASSERT_TRUE(WaitForLog(*receiver, "could not acknowledge")) << receiver->Log();
  StartServer("server2.log");
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_TRUE(WaitUntil([&] { return PendingAcks().empty(); }, *receiver)) << receiver->Log();
  receiver->Signal(SIGTERM);
  EXPECT_EQ(WEXITSTATUS(receiver->Wait()), 0) << receiver->Log();

  // Every handoff is acknowledged on the server, and stored exactly once,
  // in files (and a folder) only their owner can read.
  EXPECT_EQ(HandoffFiles(inbox_).size(), 2u);
  for (const std::string& path : std::vector<std::string>{inbox_}) {
    struct stat st;
    ASSERT_EQ(stat(path.c_str(), &st), 0) << path;
    EXPECT_EQ(st.st_mode & 0077, 0u) << path << " is mode " << std::oct << (st.st_mode & 0777);
  }
  for (const std::string& name : HandoffFiles(inbox_)) {
    struct stat st;
    ASSERT_EQ(stat((inbox_ + "/" + name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_mode & 0077, 0u) << name << " is mode " << std::oct << (st.st_mode & 0777);
  }
  auto legal = v1::LegalService::NewStub(testing::SecureChannel(address_, /*as_tester=*/false));
  grpc::ClientContext stream_context;
  stream_context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
  testing::SetCaller(stream_context, "firm-national-clerk", "legal", "firm-national");
  v1::StreamHandoffsRequest all;
  all.set_firm_id("firm-national");
  auto reader = legal->StreamHandoffs(&stream_context, all);
  v1::Handoff handoff;
  std::set<int64_t> acknowledged;
  int handoffs = 0;
  while (reader->Read(&handoff)) {
    ++handoffs;
    EXPECT_TRUE(handoff.acknowledged()) << handoff.sequence();
    if (handoff.acknowledged()) acknowledged.insert(handoff.sequence());
    EXPECT_TRUE(
        testing::FileExists(absl::StrCat(inbox_, "/handoff-", handoff.sequence(), ".json")));
  }
  reader->Finish();
  EXPECT_EQ(handoffs, 2);
  EXPECT_EQ(acknowledged.size(), 2u);
  cases = v1::CaseService::NewStub(channel_);
  for (const std::string& loan : loans) {
    get.set_loan_id(loan);
    ASSERT_TRUE(cases->GetCase(Context().get(), get, &file).ok());
    EXPECT_TRUE(file.case_().legal().has_accepted_on()) << loan << " not acknowledged";
  }
  cases.reset();
  legal.reset();
  StopServer();
}

// A case with more history than a handoff carries (history_truncated): the
// receiver fetches the whole history with GetHandoffHistory and stores it
// in the handoff's file, every event exactly once and in order, before it
// acknowledges the handoff.
TEST_F(LegalEndToEnd, ReceiverStoresTheWholeHistoryOfATruncatedHandoff) {
  StartServer("server1.log");
  ASSERT_FALSE(HasFatalFailure());
  int64_t case_id = 0;
  MakeLongCase(&case_id);
  ASSERT_FALSE(HasFatalFailure());

  auto receiver = Receiver("receiver1.log", /*once=*/true);
  const int status = receiver->Wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << receiver->Log();
  ExpectWholeCaseFileStoredAndAcknowledged(case_id, *receiver);
  StopServer();
}

// The server goes away between the handoff and the fetch of its history:
// the receiver retries with backoff, stores and acknowledges nothing
// meanwhile, and stores the whole case file once the server is back. The
// window is held open with the receiver's test-only gate
// COLLECTIONS_LEGAL_RECEIVER_TEST_HOLD_HISTORY.
TEST_F(LegalEndToEnd, HistoryFetchIsRetriedWhileTheServerIsDown) {
  StartServer("server1.log");
  ASSERT_FALSE(HasFatalFailure());
  int64_t case_id = 0;
  MakeLongCase(&case_id);
  ASSERT_FALSE(HasFatalFailure());

  const std::string gate = dir_->path() + "/hold-history";
  std::ofstream(gate) << "hold\n";
  setenv("COLLECTIONS_LEGAL_RECEIVER_TEST_HOLD_HISTORY", gate.c_str(), 1);
  auto receiver = Receiver("receiver1.log", /*once=*/false);
  unsetenv("COLLECTIONS_LEGAL_RECEIVER_TEST_HOLD_HISTORY");
  ASSERT_TRUE(WaitForLog(*receiver, "holding the history fetch")) << receiver->Log();
  channel_.reset();
  server_->Signal(SIGKILL);
  server_->Wait();
  unlink(gate.c_str());
  ASSERT_TRUE(WaitForLog(*receiver, "could not fetch the whole history")) << receiver->Log();
  EXPECT_TRUE(HandoffFiles(inbox_).empty()) << receiver->Log();
  EXPECT_TRUE(PendingAcks().empty());
  EXPECT_FALSE(testing::FileExists(inbox_ + "/LAST_SEQUENCE"));

  StartServer("server2.log");
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_TRUE(WaitForLog(*receiver, "acknowledged handoff-")) << receiver->Log();
  receiver->Signal(SIGTERM);
  EXPECT_EQ(WEXITSTATUS(receiver->Wait()), 0) << receiver->Log();
  ExpectWholeCaseFileStoredAndAcknowledged(case_id, *receiver);
  StopServer();
}

}  // namespace
}  // namespace collections
