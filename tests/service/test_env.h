// Test fixtures' helpers: temporary directories and throwaway databases.
#ifndef COLLECTIONS_TESTS_SERVICE_TEST_ENV_H_
#define COLLECTIONS_TESTS_SERVICE_TEST_ENV_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace collections::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on
// destruction.
class TempDir {
 public:
  static absl::StatusOr<std::unique_ptr<TempDir>> Create(const std::string& prefix);
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// The PostgreSQL admin connection the test command starts
// (COLLECTIONS_TEST_PG, a SOCI connection string), or "" when unset.
std::string PostgresAdminConnection();

// A database created for one test on the COLLECTIONS_TEST_PG server and
// dropped (WITH (FORCE)) on destruction.
class PostgresTestDatabase {
 public:
  static absl::StatusOr<std::unique_ptr<PostgresTestDatabase>> Create(
      const std::string& admin_connection);
  ~PostgresTestDatabase();
  // SOCI connection string of the new database.
  const std::string& connection() const { return connection_; }
  const std::string& name() const { return name_; }
  // The first column of the first row of `sql` run on the new database, as
  // a number: what a test counts behind the server's back.
  absl::StatusOr<int64_t> QueryInt(const std::string& sql) const;

 private:
  PostgresTestDatabase(std::string admin, std::string name, std::string connection)
      : admin_(std::move(admin)), name_(std::move(name)), connection_(std::move(connection)) {}
  std::string admin_;
  std::string name_;
  std::string connection_;
};

// A free TCP port on 127.0.0.1 at the time of the call.
absl::StatusOr<int> PickFreePort();

}  // namespace collections::testing

#endif  // COLLECTIONS_TESTS_SERVICE_TEST_ENV_H_
