// A test fixture that runs collectionsd in-process on a throwaway database
// — SQLite always, PostgreSQL when COLLECTIONS_TEST_PG is set — with a fake
// clock, and talks to it through a real gRPC channel. Parameterized by
// backend name ("sqlite" or "postgres"); instantiate with
// COLLECTIONS_INSTANTIATE_BACKENDS(Suite).
#ifndef COLLECTIONS_TESTS_SERVICE_SERVER_FIXTURE_H_
#define COLLECTIONS_TESTS_SERVICE_SERVER_FIXTURE_H_

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/clock.h"
#include "server/config.h"
#include "server/server.h"
#include "tests/service/call_context.h"
#include "tests/service/test_credentials.h"
#include "tests/service/test_env.h"

namespace collections::testing {

// The secure setup every in-process server of the tests runs with: TLS
// with client certificates from the test CA (mutual TLS for systems) and
// bearer tokens from the development identity provider.
inline void SecureTestConfig(server::ServerConfig& config) {
  config.access_config = CredentialsDir() + "/access.textproto";
  config.tls_cert = CredentialsDir() + "/server.pem";
  config.tls_key = CredentialsDir() + "/server.key";
  config.tls_client_ca = CredentialsDir() + "/ca.pem";
}

// A TLS channel to a test server, presenting `client_certificate` when
// given ("ingest", "firm-shanghai").
inline std::shared_ptr<grpc::Channel> TestChannel(const std::string& address,
                                                  const std::string& client_certificate = "") {
  return grpc::CreateCustomChannel(address, TestChannelCredentials(client_certificate),
                                   TestChannelArguments());
}

class ServerFixture : public ::testing::TestWithParam<std::string> {
 protected:
  // 2026-11-29 10:00 in Asia/Shanghai: the first business date.
  static absl::Time StartTime() { return absl::FromUnixSeconds(1'795'917'600); }

  void SetUp() override {
    auto dir = TempDir::Create("collections-fixture");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = *std::move(dir);
    if (GetParam() == "postgres") {
      const std::string admin = PostgresAdminConnection();
      if (admin.empty()) {
        GTEST_SKIP() << "COLLECTIONS_TEST_PG is not set: PostgreSQL tests "
                        "skipped (scripts/test.sh starts a cluster and sets it)";
      }
      auto db = PostgresTestDatabase::Create(admin);
      ASSERT_TRUE(db.ok()) << db.status();
      pg_ = *std::move(db);
      db_ = pg_->connection();
    } else {
      db_ = absl::StrCat("sqlite3://db=", dir_->path(), "/collections.db timeout=5");
    }
    clock_ = std::make_shared<server::FakeClock>(StartTime());
    StartServer();
  }

  void TearDown() override {
    channel_.reset();
    server_.reset();
    pg_.reset();
    dir_.reset();
  }

  virtual server::ServerConfig Config() const {
    server::ServerConfig config;
    config.listen = "127.0.0.1:0";
    config.db = db_;
    config.clock = clock_;
    config.shutdown_grace = absl::Seconds(5);
    config.daily_aging_minute = -1;  // tests move the date themselves
    SecureTestConfig(config);
    return config;
  }

  // (Re)starts the server on the same database.
  void StartServer() {
    channel_.reset();
    server_.reset();
    auto started = server::Server::Start(Config());
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = *std::move(started);
    channel_ = TestChannel(server_->address());
  }

  static std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout = absl::Seconds(30)) {
    return DeadlineContext(timeout);
  }

  // A context for a call made as `actor` (in `role` when one is given):
  // every test that says who is calling goes through here.
  static std::unique_ptr<grpc::ClientContext> ContextAs(
      const std::string& actor, const std::string& role = "",
      absl::Duration timeout = absl::Seconds(30)) {
    return CallerContext(actor, role, timeout);
  }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<PostgresTestDatabase> pg_;
  std::string db_;
  std::shared_ptr<server::FakeClock> clock_;
  std::unique_ptr<server::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

#define COLLECTIONS_INSTANTIATE_BACKENDS(suite)                                      \
  INSTANTIATE_TEST_SUITE_P(Backends, suite, ::testing::Values("sqlite", "postgres"), \
                           [](const ::testing::TestParamInfo<std::string>& p) { return p.param; })

}  // namespace collections::testing

#endif  // COLLECTIONS_TESTS_SERVICE_SERVER_FIXTURE_H_
