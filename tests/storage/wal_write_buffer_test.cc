// The WAL write buffer (storage/wal_write_buffer.h) under SQLite's own
// API: what one connection commits, another sees at once, whatever the
// synchronous setting, the size of the commit (beyond the buffer, and
// beyond the writer's page cache so that frames are written and read back
// before the commit), a rollback, or a checkpoint that restarts the WAL;
// and the file stays sound for a connection that opens it afresh; and a
// reader on another thread, starting read after read while large commits
// are written, sees only whole commits; and a commit whose frames cannot
// be written fails, leaves nothing, and the next one goes through.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "storage/sql.h"
#include "tests/storage/sqlite_shell.h"

namespace collections::storage {
namespace {

class WalWriteBufferTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    RegisterBackends();  // registers the buffer as SQLite's default VFS
    ASSERT_NE(sqlite3_vfs_find("collections-wal-write-buffer"), nullptr);
    ASSERT_EQ(sqlite3_vfs_find(nullptr), sqlite3_vfs_find("collections-wal-write-buffer"));
    writer_ = Open();
    reader_ = Open();
    Exec(writer_, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
  }
  void TearDown() override {
    sqlite3_close(reader_);
    sqlite3_close(writer_);
  }

  sqlite3* Open() {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(file_.path().c_str(), &db), SQLITE_OK);
    // As the server's connections: a read or write that meets another
    // connection's lock for a moment waits instead of failing.
    sqlite3_busy_timeout(db, 5000);
    Exec(db, "PRAGMA journal_mode = WAL");
    Exec(db, std::string("PRAGMA synchronous = ") + GetParam());
    Exec(db, "PRAGMA wal_autocheckpoint = 0");
    return db;
  }
  static void Exec(sqlite3* db, const std::string& sql) { SqliteExec(db, sql); }
  static long long Count(sqlite3* db, const std::string& sql) {
    const std::string n = SqliteText(db, sql);
    return n.empty() ? -1 : std::stoll(n);
  }
  // Inserts `rows` rows of about 1 KiB in one transaction; commits unless
  // told to roll back.
  void Insert(int rows, bool commit = true) {
    Exec(writer_, "BEGIN");
    Exec(writer_, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < " +
                      std::to_string(rows) +
                      ") INSERT INTO t (v) SELECT printf('%.1000c', 'x') FROM n");
    Exec(writer_, commit ? "COMMIT" : "ROLLBACK");
  }
  long long Rows(sqlite3* db) { return Count(db, "SELECT COUNT(*) FROM t"); }
  std::string Integrity(sqlite3* db) { return SqliteText(db, "PRAGMA integrity_check"); }

  SqliteTestFile file_;
  sqlite3* writer_ = nullptr;
  sqlite3* reader_ = nullptr;
};

TEST_P(WalWriteBufferTest, WhatOneConnectionCommitsAnotherSeesAtOnce) {
  long long expected = 0;
  // One row (a frame or two), a commit of a few buffers' worth, and one
  // of many (about 4 MiB of frames).
  for (int rows : {1, 3, 60, 200, 4000, 1, 7}) {
    Insert(rows);
    expected += rows;
    EXPECT_EQ(Rows(reader_), expected) << "after a commit of " << rows;
    EXPECT_EQ(Rows(writer_), expected);
  }
  EXPECT_EQ(Integrity(reader_), "ok");
}

TEST_P(WalWriteBufferTest, SpilledFramesAreReadBackAndRolledBack) {
  // A writer cache of 16 pages: a large transaction writes its pages into
  // the WAL before it commits, and reads some of them back from there.
  Exec(writer_, "PRAGMA cache_size = 16");
  Insert(1000);
  EXPECT_EQ(Rows(reader_), 1000);
  Exec(writer_, "BEGIN");
  Exec(writer_, "UPDATE t SET v = printf('%.900c', 'y') WHERE id % 3 = 0");
  EXPECT_EQ(Count(writer_, "SELECT COUNT(*) FROM t WHERE v LIKE 'y%'"), 333);
  EXPECT_EQ(Count(reader_, "SELECT COUNT(*) FROM t WHERE v LIKE 'y%'"), 0);
  Exec(writer_, "ROLLBACK");
  EXPECT_EQ(Count(writer_, "SELECT COUNT(*) FROM t WHERE v LIKE 'y%'"), 0);
  Insert(1500, /*commit=*/false);
  EXPECT_EQ(Rows(writer_), 1000);
  Insert(1500);
  EXPECT_EQ(Rows(reader_), 2500);
  EXPECT_EQ(Integrity(writer_), "ok");
  EXPECT_EQ(Integrity(reader_), "ok");
}

TEST_P(WalWriteBufferTest, AWalRestartedAfterACheckpointKeepsEveryCommit) {
  Insert(2000);
  EXPECT_EQ(Count(reader_, "PRAGMA wal_checkpoint(TRUNCATE)"), 0);  // 0: not busy
  // The next commits start the WAL over from its header.
  Insert(5);
  EXPECT_EQ(Rows(reader_), 2005);
  EXPECT_EQ(Count(writer_, "PRAGMA wal_checkpoint(PASSIVE)"), 0);
  Insert(3000);
  EXPECT_EQ(Rows(reader_), 5005);
  // A connection opened now reads the new frames from the WAL file.
  sqlite3* fresh = Open();
  EXPECT_EQ(Rows(fresh), 5005);
  EXPECT_EQ(Integrity(fresh), "ok");
  sqlite3_close(fresh);
  // And after the last connection closed (and checkpointed), from the
  // database file.
  sqlite3_close(reader_);
  sqlite3_close(writer_);
  writer_ = Open();
  reader_ = Open();
  EXPECT_EQ(Rows(reader_), 5005);
  EXPECT_EQ(Integrity(reader_), "ok");
}

TEST_P(WalWriteBufferTest, AReaderOnAnotherThreadSeesOnlyWholeCommits) {
  // Commits of 2,000 rows (about 2 MiB of frames each, many buffers handed
  // to the WAL file's writing thread) while the reader's connection, on a
  // thread of its own, begins one read after another (each passes the
  // barrier that flushes this process's WAL files).
  constexpr int kRows = 2000, kCommits = 12;
  std::atomic<bool> done{false};
  std::vector<long long> seen;
  std::thread reader([&] {
    while (!done.load()) seen.push_back(Rows(reader_));
  });
  for (int i = 0; i < kCommits; ++i) Insert(kRows);
  done = true;
  reader.join();
  seen.push_back(Rows(reader_));
  ASSERT_FALSE(seen.empty());
  long long previous = 0;
  for (long long n : seen) {
    EXPECT_EQ(n % kRows, 0) << "a read saw part of a commit: " << n;
    EXPECT_GE(n, previous);
    previous = n;
  }
  EXPECT_EQ(seen.back(), kRows * kCommits);
  EXPECT_EQ(Integrity(reader_), "ok");
}

TEST_P(WalWriteBufferTest, ACommitWhoseFramesCannotBeWrittenFailsAndTheNextOneGoesThrough) {
  Insert(100);
  // Files of this process may not grow past the WAL's size plus 256 KiB (a
  // full disk as far as SQLite can tell): the frames of a 2 MiB commit fail
  // to be written, most of them on the WAL file's writing thread.
  struct stat wal {};
  ASSERT_EQ(stat((file_.path() + "-wal").c_str(), &wal), 0);
  rlimit unlimited{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &unlimited), 0);
  const auto ignored = signal(SIGXFSZ, SIG_IGN);  // else the write kills the process
  rlimit limited = unlimited;
  limited.rlim_cur = static_cast<rlim_t>(wal.st_size) + (256 << 10);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limited), 0);
  Exec(writer_, "BEGIN");
  Exec(writer_, "INSERT INTO t (v) SELECT printf('%.1000c', 'z') FROM t, t AS u LIMIT 2000");
  EXPECT_NE(sqlite3_exec(writer_, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK)
      << "a commit whose frames were not written succeeded";
  sqlite3_exec(writer_, "ROLLBACK", nullptr, nullptr, nullptr);
  EXPECT_EQ(Rows(reader_), 100);
  EXPECT_EQ(Rows(writer_), 100);
  // Room again: the file is used again, and nothing of the failed commit
  // shows.
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &unlimited), 0);
  signal(SIGXFSZ, ignored);
  Insert(2000);
  EXPECT_EQ(Rows(reader_), 2100);
  EXPECT_EQ(Count(reader_, "SELECT COUNT(*) FROM t WHERE v LIKE 'z%'"), 0);
  EXPECT_EQ(Integrity(reader_), "ok");
  sqlite3* fresh = Open();
  EXPECT_EQ(Rows(fresh), 2100);
  EXPECT_EQ(Integrity(fresh), "ok");
  sqlite3_close(fresh);
}

INSTANTIATE_TEST_SUITE_P(Synchronous, WalWriteBufferTest, ::testing::Values("FULL", "NORMAL"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           return std::string(info.param);
                         });

}  // namespace
}  // namespace collections::storage
