// End to end on the real binary: cases imported over gRPC, a payment and an
// aging run, then a restart — and everything is still there.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "collections/v1/case_service.grpc.pb.h"
#include "tests/e2e/collectionsd_process.h"
#include "tests/service/test_env.h"

namespace collections {
namespace {

using testing::Collectionsd;

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  return context;
}

v1::Date Day(int y, int m, int d) {
  v1::Date out;
  out.set_year(y);
  out.set_month(m);
  out.set_day(d);
  return out;
}

class CaseEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = testing::TempDir::Create("collections-case-e2e");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = *std::move(dir);
  }

  // Starts collectionsd on the test's SQLite file; returns its stub.
  std::unique_ptr<v1::CaseService::Stub> Start(const std::string& log_name,
                                               const std::string& db_file = "cases.db") {
    auto port = testing::PickFreePort();
    EXPECT_TRUE(port.ok()) << port.status();
    const std::string address = absl::StrCat("127.0.0.1:", *port);
    process_ = std::make_unique<Collectionsd>(
        std::vector<std::string>{
            "--listen=" + address,
            absl::StrCat("--db=sqlite3://db=", dir_->path(), "/", db_file, " timeout=5"),
            "--daily_aging_time=off"},
        absl::StrCat(dir_->path(), "/", log_name));
    EXPECT_TRUE(process_->started()) << process_->spawn_error();
    EXPECT_TRUE(testing::WaitUntilServing(*process_, address, absl::Seconds(60)))
        << process_->Log();
    return v1::CaseService::NewStub(testing::SecureChannel(address));
  }

  void Stop() {
    process_->Signal(SIGTERM);
    const int status = process_->Wait();
    ASSERT_TRUE(WIFEXITED(status)) << process_->Log();
    EXPECT_EQ(WEXITSTATUS(status), 0) << process_->Log();
  }

  // Imports loans PREFIX-first .. PREFIX-(last-1).
  void ImportLoans(v1::CaseService::Stub& stub, const std::string& prefix, int first, int last) {
    v1::ImportDelinquenciesResponse imported;
    auto ctx = Context();
    auto writer = stub.ImportDelinquencies(ctx.get(), &imported);
    for (int i = first; i < last; ++i) {
      v1::ImportDelinquenciesRequest row;
      v1::DelinquencyRecord& r = *row.mutable_record();
      r.set_loan_id(absl::StrCat(prefix, i));
      *r.mutable_as_of() = Day(2026, 11, 1);
      *r.mutable_oldest_unpaid_due_date() = Day(2026, 10, 1 + i % 28);
      r.mutable_borrower()->set_borrower_id(absl::StrCat("B", i));
      r.mutable_borrower()->set_name("Zhang San");
      r.mutable_overdue()->set_principal_fen(100'000 + i * 100'000);
      ASSERT_TRUE(writer->Write(row));
    }
    writer->WritesDone();
    ASSERT_TRUE(writer->Finish().ok());
    EXPECT_EQ(imported.opened(), last - first);
  }

  int ListedCases(v1::CaseService::Stub& stub) {
    v1::ListCasesRequest list;
    list.set_page_size(1000);
    v1::ListCasesResponse listed;
    auto ctx = Context();
    EXPECT_TRUE(stub.ListCases(ctx.get(), list, &listed).ok());
    return listed.cases_size();
  }

  std::unique_ptr<testing::TempDir> dir_;
  std::unique_ptr<Collectionsd> process_;
};

// scripts/backup.sh copies the database while the server serves; a server
// started on the copy has every case as of the backup, nothing later.
TEST_F(CaseEndToEnd, ABackupTakenWhileServingRestoresTheBookAsOfThen) {
  auto stub = Start("live.log");
  ASSERT_FALSE(HasFailure());
  ImportLoans(*stub, "BK-", 0, 40);
  v1::GetCaseRequest get;
  get.set_loan_id("BK-17");
  v1::GetCaseResponse before;
  {
    auto ctx = Context();
    ASSERT_TRUE(stub->GetCase(ctx.get(), get, &before).ok());
  }

  const std::string backup = dir_->path() + "/backup.db";
  const std::string command =
      absl::StrCat(COLLECTIONS_SOURCE_DIR, "/scripts/backup.sh 'sqlite3://db=", dir_->path(),
                   "/cases.db timeout=5' ", backup, " 2>", dir_->path(), "/backup.log");
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  struct stat st;
  ASSERT_EQ(stat(backup.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u) << "the backup holds personal data";

  ImportLoans(*stub, "AFTER-", 0, 5);  // after the backup: not in it
  EXPECT_EQ(ListedCases(*stub), 45);
  stub.reset();
  Stop();

  stub = Start("restored.log", "backup.db");
  ASSERT_FALSE(HasFailure());
  EXPECT_EQ(ListedCases(*stub), 40);
  v1::GetCaseResponse after;
  {
    auto ctx = Context();
    ASSERT_TRUE(stub->GetCase(ctx.get(), get, &after).ok());
  }
  EXPECT_EQ(after.case_().SerializeAsString(), before.case_().SerializeAsString());
  EXPECT_EQ(after.events_size(), before.events_size());
  stub.reset();
  Stop();
}

TEST_F(CaseEndToEnd, ImportedCasesSurviveARestart) {
  auto stub = Start("first.log");
  ASSERT_FALSE(HasFailure());

  // Any as-of date works: the case's dates come from the feed.
  const v1::Date as_of = Day(2026, 11, 1);
  v1::ImportDelinquenciesResponse imported;
  {
    auto ctx = Context();
    auto writer = stub->ImportDelinquencies(ctx.get(), &imported);
    for (int i = 0; i < 50; ++i) {
      v1::ImportDelinquenciesRequest row;
      v1::DelinquencyRecord& r = *row.mutable_record();
      r.set_loan_id(absl::StrCat("E2E-", i));
      *r.mutable_as_of() = as_of;
      *r.mutable_oldest_unpaid_due_date() = Day(2026, 10, 1 + i % 28);
      r.mutable_borrower()->set_borrower_id(absl::StrCat("B", i));
      r.mutable_borrower()->set_name("Zhang San");
      r.mutable_overdue()->set_principal_fen(100'000 + i * 100'000);
      ASSERT_TRUE(writer->Write(row));
    }
    writer->WritesDone();
    ASSERT_TRUE(writer->Finish().ok());
  }
  EXPECT_EQ(imported.opened(), 50);

  v1::RecordPaymentRequest pay;
  pay.set_loan_id("E2E-7");
  pay.mutable_payment()->set_payment_id("E2E-PAY-7");
  pay.mutable_payment()->set_amount_fen(1000);
  v1::RecordPaymentResponse paid;
  {
    auto ctx = Context();
    ASSERT_TRUE(stub->RecordPayment(ctx.get(), pay, &paid).ok());
  }

  v1::GetCaseRequest get;
  get.set_loan_id("E2E-42");
  v1::GetCaseResponse before;
  {
    auto ctx = Context();
    ASSERT_TRUE(stub->GetCase(ctx.get(), get, &before).ok());
  }
  stub.reset();  // an idle client connection would hold up the shutdown
  Stop();

  stub = Start("second.log");
  ASSERT_FALSE(HasFailure());
  v1::GetCaseResponse after;
  {
    auto ctx = Context();
    ASSERT_TRUE(stub->GetCase(ctx.get(), get, &after).ok());
  }
  EXPECT_EQ(after.case_().SerializeAsString(), before.case_().SerializeAsString());
  EXPECT_EQ(after.events_size(), before.events_size());
  EXPECT_EQ(after.tasks_size(), before.tasks_size());

  // All fifty are listed, and the payment is still recorded once.
  v1::ListCasesRequest list;
  list.set_page_size(1000);
  v1::ListCasesResponse listed;
  {
    auto ctx = Context();
    ASSERT_TRUE(stub->ListCases(ctx.get(), list, &listed).ok());
  }
  EXPECT_EQ(listed.cases_size(), 50);
  v1::RecordPaymentResponse again;
  {
    auto ctx = Context();
    ASSERT_TRUE(stub->RecordPayment(ctx.get(), pay, &again).ok());
  }
  EXPECT_TRUE(again.duplicate());
  EXPECT_EQ(again.case_().version(), paid.case_().version());
  stub.reset();
  Stop();
}

}  // namespace
}  // namespace collections
