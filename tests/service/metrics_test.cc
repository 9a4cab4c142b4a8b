// The Prometheus endpoint through real scrapes: RPCs counted by service,
// method and status code with their latencies, the writer's figures and the
// business date, moving as the server works.
#include "server/metrics.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "collections/v1/case_service.grpc.pb.h"
#include "collections/v1/report_service.grpc.pb.h"
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

COLLECTIONS_INSTANTIATE_BACKENDS(MetricsTest);

TEST(MetricsListen, AnOpenAddressNeedsTheOperatorsSay) {
  auto refused = server::Metrics::Start("0.0.0.0:0", /*allow_open=*/false, {});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace collections
