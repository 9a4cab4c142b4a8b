#include "tests/service/test_env.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace collections::testing {
namespace {

constexpr char kSociPrefix[] = "postgresql://";

// SOCI's "postgresql://k=v ..." -> libpq's "k=v ...".
std::string ToConninfo(const std::string& soci) {
  return std::string(absl::StripPrefix(soci, kSociPrefix));
}

// The same connection with dbname replaced.
std::string WithDatabase(const std::string& soci, const std::string& db) {
  std::vector<std::string> kept;
  for (absl::string_view token : absl::StrSplit(ToConninfo(soci), ' ', absl::SkipEmpty())) {
    if (!absl::StartsWith(token, "dbname=")) kept.emplace_back(token);
  }
  kept.push_back(absl::StrCat("dbname=", db));
  return absl::StrCat(kSociPrefix, absl::StrJoin(kept, " "));
}

absl::Status Exec(const std::string& admin_soci, const std::string& sql) {
  PGconn* conn = PQconnectdb(ToConninfo(admin_soci).c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    absl::Status s = absl::UnavailableError(
        absl::StrCat("cannot connect to ", admin_soci, ": ", PQerrorMessage(conn)));
    PQfinish(conn);
    return s;
  }
  PGresult* result = PQexec(conn, sql.c_str());
  absl::Status s;
  if (PQresultStatus(result) != PGRES_COMMAND_OK) {
    s = absl::InternalError(absl::StrCat(sql, ": ", PQresultErrorMessage(result)));
  }
  PQclear(result);
  PQfinish(conn);
  return s;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TempDir>> TempDir::Create(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = absl::StrCat(tmp != nullptr && *tmp ? tmp : "/tmp", "/", prefix, ".XXXXXX");
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp ", pattern, ": ", std::strerror(errno)));
  }
  return std::unique_ptr<TempDir>(new TempDir(buf.data()));
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string PostgresAdminConnection() {
  const char* pg = std::getenv("COLLECTIONS_TEST_PG");
  return pg != nullptr ? pg : "";
}

absl::StatusOr<std::unique_ptr<PostgresTestDatabase>> PostgresTestDatabase::Create(
    const std::string& admin_connection) {
  static std::atomic<int> counter{0};
  std::string name = absl::StrCat("collections_test_", getpid(), "_", counter.fetch_add(1));
  absl::Status dropped =
      Exec(admin_connection, absl::StrCat("DROP DATABASE IF EXISTS ", name, " WITH (FORCE)"));
  if (!dropped.ok()) return dropped;
  absl::Status created = Exec(admin_connection, absl::StrCat("CREATE DATABASE ", name));
  if (!created.ok()) return created;
  std::string connection = WithDatabase(admin_connection, name);
  return std::unique_ptr<PostgresTestDatabase>(
      new PostgresTestDatabase(admin_connection, name, connection));
}

PostgresTestDatabase::~PostgresTestDatabase() {
  (void)Exec(admin_, absl::StrCat("DROP DATABASE IF EXISTS ", name_, " WITH (FORCE)"));
}

absl::StatusOr<int64_t> PostgresTestDatabase::QueryInt(const std::string& sql) const {
  PGconn* conn = PQconnectdb(ToConninfo(connection_).c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    absl::Status s = absl::UnavailableError(
        absl::StrCat("cannot connect to ", name_, ": ", PQerrorMessage(conn)));
    PQfinish(conn);
    return s;
  }
  PGresult* result = PQexec(conn, sql.c_str());
  absl::StatusOr<int64_t> out;
  if (PQresultStatus(result) != PGRES_TUPLES_OK) {
    out = absl::InternalError(absl::StrCat(sql, ": ", PQresultErrorMessage(result)));
  } else if (PQntuples(result) < 1 || PQnfields(result) < 1 || PQgetisnull(result, 0, 0)) {
    out = absl::NotFoundError(absl::StrCat(sql, ": no value"));
  } else {
    out = std::strtoll(PQgetvalue(result, 0, 0), nullptr, 10);
  }
  PQclear(result);
  PQfinish(conn);
  return out;
}

absl::StatusOr<int> PickFreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(std::strerror(errno));
  sockaddr_in addr;
  std::memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int err = errno;
    close(fd);
    return absl::InternalError(std::strerror(err));
  }
  close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

}  // namespace collections::testing
