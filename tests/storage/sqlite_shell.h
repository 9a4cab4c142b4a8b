// What the SQLite tests of the storage suite (the WAL write buffer, the
// page cache) run through SQLite's own API, as the sqlite3 shell would:
// a database file of the test's own, a statement whose failure is a test
// failure, and a query's first value.
#ifndef COLLECTIONS_TESTS_STORAGE_SQLITE_SHELL_H_
#define COLLECTIONS_TESTS_STORAGE_SQLITE_SHELL_H_

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>

namespace collections::storage {

// A fresh directory holding one database file, t.db; the file, its WAL and
// shared-memory files and the directory go with the object.
class SqliteTestFile {
 public:
  SqliteTestFile() {
    char dir[] = "/tmp/collections-sqlite-XXXXXX";
    EXPECT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    path_ = dir_ + "/t.db";
  }
  ~SqliteTestFile() {
    for (const char* suffix : {"", "-wal", "-shm"}) unlink((path_ + suffix).c_str());
    rmdir(dir_.c_str());
  }
  SqliteTestFile(const SqliteTestFile&) = delete;
  SqliteTestFile& operator=(const SqliteTestFile&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string dir_;
  std::string path_;
};

// Runs `sql` (one or more statements); a failure fails the test.
inline void SqliteExec(sqlite3* db, const std::string& sql) {
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
      << sql << ": " << (error ? error : "");
  sqlite3_free(error);
}

// The first column of the first row of `sql` as text ("" when no row).
inline std::string SqliteText(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sql;
  std::string out;
  if (sqlite3_step(st) == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(st, 0);
    out = text ? reinterpret_cast<const char*>(text) : "";
  }
  sqlite3_finalize(st);
  return out;
}

}  // namespace collections::storage

#endif  // COLLECTIONS_TESTS_STORAGE_SQLITE_SHELL_H_
