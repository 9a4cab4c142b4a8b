// The Prometheus endpoint through real scrapes: RPCs counted by service,
// method and status code with their latencies, the writer's figures, the
// open tasks and handoffs, the business date and the last aging run, moving
// as the server works (the open-work counts are re-read once the fake clock
// has moved past their cache's age).
#include "server/metrics.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "collections/v1/case_service.grpc.pb.h"
#include "collections/v1/legal_service.grpc.pb.h"
#include "collections/v1/report_service.grpc.pb.h"
#include "collections/v1/task_service.grpc.pb.h"
#include "tests/service/server_fixture.h"
#include "tests/service/service_helpers.h"

namespace collections {
namespace {

using ::testing::HasSubstr;

// GET http://127.0.0.1:port/metrics, the body.
std::string Scrape(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "";
  }
  const std::string request = "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n";
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return "";
  }
  std::string response;
  char buffer[4096];
  for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;) response.append(buffer, n);
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

// The value of one series ("name" or "name{labels}") in a scrape; -1 when
// the scrape does not have it.
double Figure(const std::string& text, const std::string& series) {
  const std::string start = series + " ";
  for (size_t at = 0; at < text.size();) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    if (text.compare(at, start.size(), start) == 0) {
      return std::strtod(text.substr(at + start.size(), end - at - start.size()).c_str(), nullptr);
    }
    at = end + 1;
  }
  return -1;
}

class MetricsTest : public testing::ServerFixture {
 protected:
  server::ServerConfig Config() const override {
    server::ServerConfig config = ServerFixture::Config();
    config.metrics_listen = "127.0.0.1:0";
    return config;
  }
};

TEST_P(MetricsTest, ScrapesShowRpcsTheWriterAndTheBusinessDate) {
  ASSERT_GT(server_->metrics_port(), 0);
  auto cases = v1::CaseService::NewStub(channel_);
  v1::ImportDelinquenciesResponse imported;
  ASSERT_TRUE(testing::ImportRecords(*cases, {testing::FeedRecord("M-1", 10, 3'000 * testing::CNY)},
                                     &imported)
                  .ok());
  auto reports = v1::ReportService::NewStub(channel_);
  v1::PortfolioReport book;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(reports->Portfolio(Context().get(), {}, &book).ok());
  v1::GetCaseRequest missing;
  missing.set_loan_id("NO-SUCH-LOAN");
  v1::GetCaseResponse file;
  EXPECT_EQ(cases->GetCase(Context().get(), missing, &file).error_code(),
            grpc::StatusCode::NOT_FOUND);

  const std::string text = Scrape(server_->metrics_port());
  ASSERT_FALSE(text.empty());
  EXPECT_THAT(
      text,
      HasSubstr(
          R"(collections_rpcs_total{code="OK",method="Portfolio",service="collections.v1.ReportService"} 3)"));
  EXPECT_THAT(
      text,
      HasSubstr(
          R"(collections_rpcs_total{code="NOT_FOUND",method="GetCase",service="collections.v1.CaseService"} 1)"));
  EXPECT_THAT(
      text,
      HasSubstr(
          R"(collections_rpc_seconds_count{method="Portfolio",service="collections.v1.ReportService"} 3)"));
  EXPECT_THAT(text, HasSubstr("collections_writer_commits_total"));
  EXPECT_THAT(text, HasSubstr("collections_business_date_seconds 1795910400"));  // 2026-11-29

  // The figures move: one more report, one more date.
  ASSERT_TRUE(reports->Portfolio(Context().get(), {}, &book).ok());
  v1::AdvanceBusinessDateResponse advanced;
  ASSERT_TRUE(testing::AdvanceBusinessDate(*cases, testing::kToday + 1, &advanced).ok());
  const std::string later = Scrape(server_->metrics_port());
  EXPECT_THAT(
      later,
      HasSubstr(
          R"(collections_rpcs_total{code="OK",method="Portfolio",service="collections.v1.ReportService"} 4)"));
  EXPECT_THAT(later, HasSubstr("collections_business_date_seconds 1795996800"));  // 11-30
}

TEST_P(MetricsTest, OpenTasksHandoffsAndAgingMoveAsTheServerWorks) {
  auto cases = v1::CaseService::NewStub(channel_);
  auto tasks = v1::TaskService::NewStub(channel_);
  auto legal = v1::LegalService::NewStub(channel_);
  // Two mild cases (an SMS each in "sms") and a severe one on its way to
  // counsel.
  v1::ImportDelinquenciesResponse imported;
  ASSERT_TRUE(testing::ImportRecords(*cases,
                                     {testing::FeedRecord("MILD-A", 10, 3'000 * testing::CNY),
                                      testing::FeedRecord("MILD-B", 10, 3'000 * testing::CNY),
                                      testing::FeedRecord("SEV", 80, 30'000 * testing::CNY)},
                                     &imported)
                  .ok());
  auto case_id = [&](const std::string& loan) {
    v1::GetCaseResponse file;
    EXPECT_TRUE(testing::GetCaseFile(*cases, loan, &file).ok());
    return file.case_().case_id();
  };
  auto scrape = [&] {
    // Past the open-work cache's age: the next scrape reads them again.
    clock_->Advance(server::Metrics::kOpenWorkMaxAge);
    return Scrape(server_->metrics_port());
  };
  // The start-up catch-up runs after the port listens: its run is counted
  // once it is done.
  ASSERT_TRUE(server_->WaitForCatchUp(absl::Seconds(60)));
  const std::string first = scrape();
  EXPECT_EQ(Figure(first, R"(collections_tasks_ready{queue="sms"})"), 2);
  EXPECT_EQ(Figure(first, R"(collections_tasks_leased{queue="sms"})"), 0);
  EXPECT_EQ(Figure(first, "collections_writer_queued_commands"), 0);
  EXPECT_EQ(Figure(first, "collections_writer_rejected_commands_total"), 0);
  EXPECT_GE(Figure(first, "collections_write_seconds_count"), 1);
  EXPECT_EQ(Figure(first, "collections_db_reader_pool_size"), 4);
  EXPECT_EQ(Figure(first, "collections_db_writer_connections"),
            std::string(GetParam()) == "sqlite" ? 1 : 8);
  EXPECT_GE(Figure(first, "collections_db_readers_in_use"), 0);  // moves: storage's test
  // Start-up finishes the current day's run (after a crash it was cut short).
  EXPECT_EQ(Figure(first, "collections_aging_runs_total"), 1);
  EXPECT_EQ(Figure(first, "collections_aging_last_run_days"), 0);
  EXPECT_EQ(Figure(first, "collections_open_work_read_failures_total"), 0);
  const double waited = Figure(first, R"(collections_tasks_oldest_ready_age_seconds{queue="sms"})");
  EXPECT_GE(waited, absl::ToDoubleSeconds(server::Metrics::kOpenWorkMaxAge));

  // MILD-B disputes: the claim that leases MILD-A's SMS holds MILD-B's.
  v1::Signal dispute;
  dispute.mutable_dispute_opened()->set_reason("disputes the penalty");
  v1::SignalCaseResponse signalled;
  ASSERT_TRUE(testing::SignalCase(*cases, case_id("MILD-B"), dispute, &signalled).ok());
  ASSERT_NE(testing::ClaimTaskOfCase(*tasks, "worker-1", "sms", case_id("MILD-A")).task_id(), 0);
  // Within the cache's age a scrape shows the counts read before.
  clock_->Advance(absl::Seconds(1));
  EXPECT_EQ(Figure(Scrape(server_->metrics_port()), R"(collections_tasks_leased{queue="sms"})"), 0);
  const std::string claimed = scrape();
  EXPECT_EQ(Figure(claimed, R"(collections_tasks_ready{queue="sms"})"), 0);
  EXPECT_EQ(Figure(claimed, R"(collections_tasks_leased{queue="sms"})"), 1);
  EXPECT_EQ(Figure(claimed, R"(collections_tasks_held{queue="sms",reason="dispute"})"), 1);
  EXPECT_EQ(Figure(claimed, R"(collections_tasks_oldest_ready_age_seconds{queue="sms"})"), 0);

  // The severe case's visit and letter, then 15 days: handed off to its firm.
  const int64_t severe = case_id("SEV");
  v1::TaskOutcome visit;
  visit.mutable_visit()->set_result(v1::VISIT_RESULT_NOT_HOME);
  v1::TaskOutcome letter;
  letter.mutable_letter()->set_sent(true);
  letter.mutable_letter()->set_reference("EMS-1");
  for (const auto& [queue, outcome] : {std::pair{"field", visit}, std::pair{"letters", letter}}) {
    const v1::Task task = testing::ClaimTaskOfCase(*tasks, "worker-1", queue, severe);
    ASSERT_NE(task.task_id(), 0) << queue;
    v1::CompleteTaskResponse completed;
    ASSERT_TRUE(
        testing::CompleteTask(*tasks, task, outcome, absl::StrCat("done-", queue), &completed)
            .ok());
  }
  v1::AdvanceBusinessDateResponse advanced;
  ASSERT_TRUE(testing::AdvanceBusinessDate(*cases, testing::kToday + 15, &advanced).ok());
  const std::string handed_off = scrape();
  EXPECT_EQ(Figure(handed_off, R"(collections_handoffs_unacknowledged{firm="firm-shanghai"})"), 1);
  EXPECT_GE(Figure(handed_off, R"(collections_handoff_stream_lag_sequences{firm="firm-shanghai"})"),
            1);
  EXPECT_EQ(
      Figure(handed_off,
             R"(collections_handoff_oldest_unacknowledged_age_seconds{firm="firm-shanghai"})"),
      absl::ToDoubleSeconds(server::Metrics::kOpenWorkMaxAge));
  EXPECT_EQ(Figure(handed_off, "collections_aging_runs_total"), 2);
  EXPECT_EQ(Figure(handed_off, "collections_aging_last_run_days"), 15);
  EXPECT_GE(Figure(handed_off, "collections_aging_last_run_seconds"), 0);

  // Counsel acknowledges it: nothing behind any more.
  v1::GetCaseResponse file;
  ASSERT_TRUE(testing::GetCaseFile(*cases, "SEV", &file).ok());
  ASSERT_EQ(file.handoffs_size(), 1);
  v1::AcknowledgeHandoffRequest ack;
  ack.set_firm_id("firm-shanghai");
  ack.set_sequence(file.handoffs(0).sequence());
  ack.set_accepted(true);
  v1::AcknowledgeHandoffResponse acked;
  ASSERT_TRUE(
      legal->AcknowledgeHandoff(testing::FirmContext("firm-shanghai").get(), ack, &acked).ok());
  const std::string caught_up = scrape();
  EXPECT_EQ(Figure(caught_up, R"(collections_handoffs_unacknowledged{firm="firm-shanghai"})"), 0);
  EXPECT_EQ(Figure(caught_up, R"(collections_handoff_stream_lag_sequences{firm="firm-shanghai"})"),
            0);
  EXPECT_EQ(
      Figure(caught_up,
             R"(collections_handoff_oldest_unacknowledged_age_seconds{firm="firm-shanghai"})"),
      0);
}

COLLECTIONS_INSTANTIATE_BACKENDS(MetricsTest);

// A read of the open work that takes long (a large book) is reused for ten
// times as long as it took, at most a minute, so that frequent scrapes do
// not keep the database busy; the figures say how old they are.
TEST(MetricsOpenWork, ASlowReadIsReusedTenTimesAsLongAsItTook) {
  server::FakeClock clock;
  int reads = 0;
  absl::Duration took = absl::Seconds(3);
  server::Metrics::Sources sources;
  sources.now = [&clock] { return clock.Now(); };
  sources.open_work = [&](absl::Time) -> absl::StatusOr<storage::OpenWork> {
    ++reads;
    clock.Advance(took);  // the read's own time
    storage::OpenWork work;
    storage::OpenTaskGroup& group = work.tasks.emplace_back();
    group.queue = "sms";
    group.tasks = reads;
    return work;
  };
  absl::StatusOr<std::unique_ptr<server::Metrics>> metrics =
      server::Metrics::Start("127.0.0.1:0", /*allow_open=*/false, std::move(sources));
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  const int port = (*metrics)->port();

  std::string text = Scrape(port);  // read at t0, took 3 s: reused until t0 + 30 s
  EXPECT_EQ(reads, 1);
  EXPECT_EQ(Figure(text, R"(collections_tasks_ready{queue="sms"})"), 1);
  EXPECT_EQ(Figure(text, "collections_open_work_read_seconds"), 3);
  EXPECT_EQ(Figure(text, "collections_open_work_age_seconds"), 0);
  clock.Advance(absl::Seconds(26));  // t0 + 29 s: after 5 s it used to read again
  text = Scrape(port);
  EXPECT_EQ(reads, 1);
  EXPECT_EQ(Figure(text, R"(collections_tasks_ready{queue="sms"})"), 1);
  EXPECT_EQ(Figure(text, "collections_open_work_age_seconds"), 29);
  took = absl::Seconds(10);
  clock.Advance(absl::Seconds(1));  // t0 + 30 s: read again, taking 10 s
  text = Scrape(port);
  EXPECT_EQ(reads, 2);
  EXPECT_EQ(Figure(text, R"(collections_tasks_ready{queue="sms"})"), 2);
  EXPECT_EQ(Figure(text, "collections_open_work_read_seconds"), 10);
  // Never more than a minute, however slow the read: reused until t0 + 90 s.
  clock.Advance(absl::Seconds(49));  // t0 + 89 s
  Scrape(port);
  EXPECT_EQ(reads, 2);
  clock.Advance(absl::Seconds(1));
  Scrape(port);
  EXPECT_EQ(reads, 3);
}

TEST(MetricsListen, AnOpenAddressNeedsTheOperatorsSay) {
  auto refused = server::Metrics::Start("0.0.0.0:0", /*allow_open=*/false, {});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace collections
