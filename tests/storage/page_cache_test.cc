// The page cache wrapper (storage/page_cache.h) under SQLite's own API: in
// a database under 1 GiB, commits whose inserts made B-tree balancing swap
// page numbers skip pcache1's scan of the whole cache, and every row is
// still there; and a transaction and a savepoint that grew the database and
// were rolled back, then rows written at the same page numbers: what is
// read back, on the same connection and on a fresh one, is what was
// committed. (SQLite itself drops the dirty pages of a rollback; the
// truncation the wrapper keeps for such a case is its second guard.)
#include "storage/page_cache.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <random>
#include <string>

#include "storage/sql.h"
#include "tests/storage/sqlite_shell.h"

namespace collections::storage {
namespace {

class PageCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RegisterBackends();  // installs the wrapper before SQLite starts
    db_ = Open();
    Exec(db_,
         "CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER NOT NULL, v TEXT NOT NULL);"
         "CREATE INDEX t_k ON t (k, v)");
  }
  void TearDown() override { sqlite3_close(db_); }

  sqlite3* Open() {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(file_.path().c_str(), &db), SQLITE_OK);
    Exec(db, "PRAGMA journal_mode = WAL");
    return db;
  }
  static void Exec(sqlite3* db, const std::string& sql) { SqliteExec(db, sql); }
  static std::string Text(sqlite3* db, const std::string& sql) { return SqliteText(db, sql); }
  // Rows with keys at random places in t_k, `width` bytes of text each.
  static void Insert(sqlite3* db, int first_id, int rows, int width, char fill) {
    static std::mt19937 random(7);
    for (int i = 0; i < rows; ++i) {
      Exec(db, "INSERT INTO t (id, k, v) VALUES (" + std::to_string(first_id + i) + ", " +
                   std::to_string(random() % 1000000) + ", '" + std::string(width, fill) + "')");
    }
  }

  SqliteTestFile file_;
  sqlite3* db_ = nullptr;
};

TEST_F(PageCacheTest, CommitsAfterBalancingSkipTheScanAndKeepEveryRow) {
  const long long skipped_before = PageCacheTruncationsSkipped();
  for (int commit = 0; commit < 100; ++commit) {
    Exec(db_, "BEGIN");
    Insert(db_, commit * 200, 200, 100, 'a');
    Exec(db_, "COMMIT");
  }
  EXPECT_GT(PageCacheTruncationsSkipped(), skipped_before);
  EXPECT_EQ(Text(db_, "SELECT count(*) FROM t"), "20000");
  EXPECT_EQ(Text(db_, "PRAGMA integrity_check"), "ok");
  sqlite3* fresh = Open();
  EXPECT_EQ(Text(fresh, "SELECT count(*) FROM t"), "20000");
  EXPECT_EQ(Text(fresh, "PRAGMA integrity_check"), "ok");
  sqlite3_close(fresh);
}

TEST_F(PageCacheTest, GrowthRolledBackLeavesNoPageOfItBehind) {
  Exec(db_, "BEGIN");
  Insert(db_, 0, 100, 100, 'a');
  Exec(db_, "COMMIT");
  const std::string size = Text(db_, "PRAGMA page_count");

  // A transaction and then a savepoint that each grow the file by
  // hundreds of pages, rolled back; then other rows, committed, at the
  // same page numbers.
  Exec(db_, "BEGIN");
  Insert(db_, 1000, 2000, 400, 'x');
  Exec(db_, "ROLLBACK");
  EXPECT_EQ(Text(db_, "PRAGMA page_count"), size);
  Exec(db_, "BEGIN");
  Exec(db_, "SAVEPOINT s");
  Insert(db_, 5000, 2000, 400, 'y');
  Exec(db_, "ROLLBACK TO s");
  Exec(db_, "RELEASE s");
  Insert(db_, 9000, 2000, 300, 'b');
  Exec(db_, "COMMIT");

  for (sqlite3* db : {db_, Open()}) {
    EXPECT_EQ(Text(db, "SELECT count(*) FROM t"), "2100");
    EXPECT_EQ(Text(db, "SELECT count(*) FROM t WHERE v GLOB '*x*' OR v GLOB '*y*'"), "0");
    EXPECT_EQ(Text(db, "SELECT count(*) FROM t WHERE v = printf('%.300c', 'b')"), "2000");
    EXPECT_EQ(Text(db, "PRAGMA integrity_check"), "ok");
    if (db != db_) sqlite3_close(db);
  }
}

}  // namespace
}  // namespace collections::storage
