#include "storage/wal_write_buffer.h"

#include <sqlite3.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <new>
#include <set>
#include <thread>
#include <utility>
#include <vector>

namespace collections::storage {
namespace {

sqlite3_vfs* base_vfs = nullptr;  // the VFS wrapped; set once, before use
sqlite3_vfs wrapping_vfs;

// Gathered bytes and where in the file they belong.
struct Chunk {
  std::vector<char> bytes;
  sqlite3_int64 start = 0;
};

// A file of this VFS: the base VFS's file follows it in the same
// allocation (SQLite's szOsFile covers both).
struct File {
  sqlite3_file base;  // first: SQLite sees this struct as its sqlite3_file
  sqlite3_file* real = nullptr;
  bool wal = false;
  // WAL files only; all guarded by mu (the flush on another connection's
  // barrier).
  std::mutex mu;
  std::condition_variable changed;  // a chunk queued or written, or stop
  // The bytes being gathered (pending.bytes empty: none).
  Chunk pending;
  // Full chunks for the file's writing thread, in file order, and how many
  // were ever queued and written (the one being written is out of
  // `queued` and not yet in `written`).
  std::deque<Chunk> queued;
  uint64_t queued_count = 0, written_count = 0;
  std::vector<std::vector<char>> spare;  // written chunks' buffers, reused
  std::thread writer;                    // started by the first full chunk
  bool stop = false;
  // The thread of the last Write: the connection that commits, when it
  // reaches the barrier.
  std::thread::id last_writer;
  // The last write was the header of a commit frame: the next, its page,
  // ends the commit's frames.
  bool commit_page_next = false;
  // The error of a write that failed where it could not be reported (the
  // writing thread, the barrier): the file's next call fails with it, and
  // the bytes queued or gathered until then are dropped unwritten.
  int failed = SQLITE_OK;
};
static_assert(kWalWriteBufferBytes < 0x1ffff, "the system VFS writes less than 128 KiB a call");
// A WAL frame's header: page number, database size after the commit (0
// for a frame that does not end a commit), salts and checksums, written by
// SQLite in a call of its own before the frame's page.
constexpr size_t kFrameHeaderBytes = 24;
constexpr size_t kRealOffset = (sizeof(File) + 15) & ~size_t{15};
// Full chunks a file may have waiting for its writing thread; past it the
// connection waits for one to be written.
constexpr size_t kMaxQueuedChunks = 64;

// The open WAL files, for the barrier. Leaked: SQLite may close files
// during static destruction.
std::mutex open_wal_mu;
std::set<File*>& OpenWal() {
  static auto* files = new std::set<File*>;
  return *files;
}

File* Of(sqlite3_file* f) { return reinterpret_cast<File*>(f); }
const sqlite3_io_methods& Real(File* f) { return *f->real->pMethods; }

// The writing thread of a WAL file: writes its full chunks in order, while
// the connection goes on computing and gathering the frames after them.
void WriteQueued(File* f) {
  std::unique_lock<std::mutex> lock(f->mu);
  for (;;) {
    f->changed.wait(lock, [f] { return f->stop || !f->queued.empty(); });
    if (f->queued.empty()) return;
    Chunk chunk = std::move(f->queued.front());
    f->queued.pop_front();
    const bool skip = f->failed != SQLITE_OK;
    lock.unlock();
    // The real file's other calls wait for `written_count` to catch up
    // (Drain), so this write is its only call in flight.
    const int rc = skip ? SQLITE_OK
                        : Real(f).xWrite(f->real, chunk.bytes.data(),
                                         static_cast<int>(chunk.bytes.size()), chunk.start);
    lock.lock();
    if (rc != SQLITE_OK && f->failed == SQLITE_OK) f->failed = rc;
    ++f->written_count;
    chunk.bytes.clear();
    f->spare.push_back(std::move(chunk.bytes));
    f->changed.notify_all();
  }
}

// Hands the gathered bytes to the writing thread. Callers hold f->mu.
void QueueLocked(File* f, std::unique_lock<std::mutex>& lock) {
  f->changed.wait(lock, [f] { return f->queued.size() < kMaxQueuedChunks; });
  f->queued.push_back(std::move(f->pending));
  ++f->queued_count;
  f->pending = Chunk{};
  if (!f->spare.empty()) {
    f->pending.bytes = std::move(f->spare.back());
    f->spare.pop_back();
  }
  if (!f->writer.joinable()) f->writer = std::thread(WriteQueued, f);
  f->changed.notify_all();
}

// Every byte written before the call reaches the file: queued chunks by
// the writing thread, in order (waited for); gathered bytes here when
// nothing is queued, else queued after the rest. The bytes are forgotten
// whatever the outcome: a failed write fails the call that flushed, and
// SQLite then abandons the frames of that transaction. Callers hold f->mu;
// on return nothing of the calling connection is left in flight, so that
// the caller's call of the real file is its only one.
int DrainLocked(File* f, std::unique_lock<std::mutex>& lock) {
  if (f->queued_count != f->written_count && !f->pending.bytes.empty()) QueueLocked(f, lock);
  const uint64_t upto = f->queued_count;
  f->changed.wait(lock, [f, upto] { return f->written_count >= upto; });
  if (f->failed != SQLITE_OK) {
    // Reported now, to the connection's call: SQLite abandons the frames
    // of the transaction, and the file is usable again (the next frames
    // overwrite the unwritten ones, as after a failed write of its own).
    // The barrier, which cannot report it, keeps it for the next call.
    const int rc = f->failed;
    f->failed = SQLITE_OK;
    f->pending.bytes.clear();
    return rc;
  }
  // Another connection's barrier may find more queued meanwhile (bytes
  // written after its call): those are the writing thread's to write.
  if (f->pending.bytes.empty() || f->queued_count != f->written_count) return SQLITE_OK;
  const int rc = Real(f).xWrite(f->real, f->pending.bytes.data(),
                                static_cast<int>(f->pending.bytes.size()), f->pending.start);
  f->pending.bytes.clear();
  return rc;
}

// Runs `call` on the real file once every byte written so far is there
// (nothing, and SQLITE_OK, for a file that is not a WAL's).
template <typename Call>
int Drained(File* f, Call call) {
  if (!f->wal) return call();
  std::unique_lock<std::mutex> lock(f->mu);
  const int rc = DrainLocked(f, lock);
  return rc != SQLITE_OK ? rc : call();
}

// For the barrier, which SQLite calls on the database file, not knowing
// which WAL file is the calling connection's: a commit's frames and its
// barrier are written and called on one thread, within one call of SQLite,
// so the WAL files last written on this thread are drained (waited for).
// Another connection's file is written out only when nothing of it is in
// flight; it is in the middle of a commit of its own otherwise, and its own
// barrier drains it before that commit is published, so that a reader
// starting a transaction does not wait for another connection's commit.
int FlushAllWal() {
  int rc = SQLITE_OK;
  const std::thread::id self = std::this_thread::get_id();
  std::lock_guard<std::mutex> lock(open_wal_mu);
  for (File* f : OpenWal()) {
    std::unique_lock<std::mutex> file_lock(f->mu);
    if (f->last_writer != self && f->queued_count != f->written_count) continue;
    const int one = DrainLocked(f, file_lock);
    if (one != SQLITE_OK) f->failed = one;
    if (rc == SQLITE_OK) rc = one;
  }
  return rc;
}

// --- sqlite3_io_methods ----------------------------------------------------

int Close(sqlite3_file* file) {
  File* f = Of(file);
  int rc = SQLITE_OK;
  if (f->wal) {
    {
      std::lock_guard<std::mutex> lock(open_wal_mu);
      OpenWal().erase(f);
    }
    {
      std::unique_lock<std::mutex> lock(f->mu);
      rc = DrainLocked(f, lock);
      f->stop = true;
      f->changed.notify_all();
    }
    if (f->writer.joinable()) f->writer.join();
  }
  const int closed = Real(f).xClose(f->real);
  f->~File();
  return rc != SQLITE_OK ? rc : closed;
}

int Read(sqlite3_file* file, void* out, int amount, sqlite3_int64 offset) {
  File* f = Of(file);
  // Held across the read too (Drained): another connection's barrier may
  // flush what this one gathered, and the two calls on one file must not
  // overlap. Between commits nothing is queued, so a read waits for
  // nothing.
  return Drained(f, [&] { return Real(f).xRead(f->real, out, amount, offset); });
}

// Keeps `n` bytes written at `offset` among the gathered ones, or writes
// them, in file order. Callers hold f->mu.
int Gather(File* f, std::unique_lock<std::mutex>& lock, const char* bytes, size_t n,
           sqlite3_int64 offset) {
  Chunk& p = f->pending;
  const bool append =
      !p.bytes.empty() && offset == p.start + static_cast<sqlite3_int64>(p.bytes.size());
  if (append && p.bytes.size() + n <= kWalWriteBufferBytes) {
    p.bytes.insert(p.bytes.end(), bytes, bytes + n);
    return SQLITE_OK;
  }
  if (append && n < kWalWriteBufferBytes) {
    // A full chunk of a commit's frames: written by the file's thread
    // while SQLite computes the next ones.
    QueueLocked(f, lock);
  } else {
    // Anything else goes after what was gathered, in order.
    const int rc = DrainLocked(f, lock);
    if (rc != SQLITE_OK) return rc;
    if (n >= kWalWriteBufferBytes) {
      return Real(f).xWrite(f->real, bytes, static_cast<int>(n), offset);
    }
  }
  if (p.bytes.capacity() < kWalWriteBufferBytes) p.bytes.reserve(kWalWriteBufferBytes);
  p.start = offset;
  p.bytes.assign(bytes, bytes + n);
  return SQLITE_OK;
}

int Write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  File* f = Of(file);
  if (!f->wal) return Real(f).xWrite(f->real, data, amount, offset);
  std::unique_lock<std::mutex> lock(f->mu);
  if (f->failed != SQLITE_OK) return DrainLocked(f, lock);
  f->last_writer = std::this_thread::get_id();
  const char* bytes = static_cast<const char*>(data);
  const size_t n = static_cast<size_t>(amount);
  // The page of a commit frame ends the commit's frames: every byte of
  // them is written before this call returns, so that a failed write fails
  // the commit itself whatever the synchronous setting (at NORMAL no sync
  // follows, and the barrier that publishes the commit cannot fail it).
  const bool ends_commit = f->commit_page_next;
  const int rc = Gather(f, lock, bytes, n, offset);
  f->commit_page_next = !ends_commit && rc == SQLITE_OK && n == kFrameHeaderBytes &&
                        (bytes[4] | bytes[5] | bytes[6] | bytes[7]) != 0;
  return rc != SQLITE_OK || !ends_commit ? rc : DrainLocked(f, lock);
}

int Truncate(sqlite3_file* file, sqlite3_int64 size) {
  File* f = Of(file);
  return Drained(f, [&] { return Real(f).xTruncate(f->real, size); });
}

int Sync(sqlite3_file* file, int flags) {
  File* f = Of(file);
  return Drained(f, [&] { return Real(f).xSync(f->real, flags); });
}

int FileSize(sqlite3_file* file, sqlite3_int64* size) {
  File* f = Of(file);
  return Drained(f, [&] { return Real(f).xFileSize(f->real, size); });
}

int Lock(sqlite3_file* file, int level) { return Real(Of(file)).xLock(Of(file)->real, level); }
int Unlock(sqlite3_file* file, int level) { return Real(Of(file)).xUnlock(Of(file)->real, level); }
int CheckReservedLock(sqlite3_file* file, int* out) {
  return Real(Of(file)).xCheckReservedLock(Of(file)->real, out);
}

int FileControl(sqlite3_file* file, int op, void* arg) {
  File* f = Of(file);
  return Drained(f, [&] { return Real(f).xFileControl(f->real, op, arg); });
}

int SectorSize(sqlite3_file* file) { return Real(Of(file)).xSectorSize(Of(file)->real); }
int DeviceCharacteristics(sqlite3_file* file) {
  return Real(Of(file)).xDeviceCharacteristics(Of(file)->real);
}

int ShmMap(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
  File* f = Of(file);
  if (Real(f).iVersion < 2) return SQLITE_IOERR_SHMMAP;
  return Real(f).xShmMap(f->real, region, size, extend, out);
}
int ShmLock(sqlite3_file* file, int offset, int n, int flags) {
  File* f = Of(file);
  if (Real(f).iVersion < 2) return SQLITE_IOERR_SHMLOCK;
  return Real(f).xShmLock(f->real, offset, n, flags);
}
// SQLite calls this between writing new frames' entries into the WAL index
// and publishing them: the committing connection's WAL bytes reach its
// file first (FlushAllWal), so no connection learns of a frame that is not
// there.
void ShmBarrier(sqlite3_file* file) {
  File* f = Of(file);
  // A failed write cannot be reported here; its file's next call fails
  // with it (File::failed), the commit's sync at the latest.
  FlushAllWal();
  if (Real(f).iVersion >= 2) Real(f).xShmBarrier(f->real);
}
int ShmUnmap(sqlite3_file* file, int delete_flag) {
  File* f = Of(file);
  if (Real(f).iVersion < 2) return SQLITE_OK;
  return Real(f).xShmUnmap(f->real, delete_flag);
}

int Fetch(sqlite3_file* file, sqlite3_int64 offset, int amount, void** out) {
  File* f = Of(file);
  *out = nullptr;
  if (Real(f).iVersion < 3) return SQLITE_OK;
  return Drained(f, [&] { return Real(f).xFetch(f->real, offset, amount, out); });
}
int Unfetch(sqlite3_file* file, sqlite3_int64 offset, void* page) {
  File* f = Of(file);
  if (Real(f).iVersion < 3) return SQLITE_OK;
  return Real(f).xUnfetch(f->real, offset, page);
}

const sqlite3_io_methods kMethods = {
    3,
    Close,
    Read,
    Write,
    Truncate,
    Sync,
    FileSize,
    Lock,
    Unlock,
    CheckReservedLock,
    FileControl,
    SectorSize,
    DeviceCharacteristics,
    ShmMap,
    ShmLock,
    ShmBarrier,
    ShmUnmap,
    Fetch,
    Unfetch,
};

// --- sqlite3_vfs ---------------------------------------------------------------

int Open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  File* f = new (file) File();
  f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + kRealOffset);
  f->real->pMethods = nullptr;
  f->wal = (flags & SQLITE_OPEN_WAL) != 0;
  const int rc = base_vfs->xOpen(base_vfs, name, f->real, flags, out_flags);
  if (rc != SQLITE_OK || f->real->pMethods == nullptr) {
    if (f->real->pMethods != nullptr) f->real->pMethods->xClose(f->real);
    f->~File();
    file->pMethods = nullptr;
    return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
  }
  file->pMethods = &kMethods;
  if (f->wal) {
    std::lock_guard<std::mutex> lock(open_wal_mu);
    OpenWal().insert(f);
  }
  return SQLITE_OK;
}

// The rest is the base VFS's, called as itself.
int Delete(sqlite3_vfs*, const char* name, int sync_dir) {
  return base_vfs->xDelete(base_vfs, name, sync_dir);
}
int Access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return base_vfs->xAccess(base_vfs, name, flags, out);
}
int FullPathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return base_vfs->xFullPathname(base_vfs, name, n, out);
}
void* DlOpen(sqlite3_vfs*, const char* name) { return base_vfs->xDlOpen(base_vfs, name); }
void DlError(sqlite3_vfs*, int n, char* out) { base_vfs->xDlError(base_vfs, n, out); }
void (*DlSym(sqlite3_vfs*, void* handle, const char* symbol))(void) {
  return base_vfs->xDlSym(base_vfs, handle, symbol);
}
void DlClose(sqlite3_vfs*, void* handle) { base_vfs->xDlClose(base_vfs, handle); }
int Randomness(sqlite3_vfs*, int n, char* out) { return base_vfs->xRandomness(base_vfs, n, out); }
int Sleep(sqlite3_vfs*, int micros) { return base_vfs->xSleep(base_vfs, micros); }
int CurrentTime(sqlite3_vfs*, double* out) { return base_vfs->xCurrentTime(base_vfs, out); }
int GetLastError(sqlite3_vfs*, int n, char* out) {
  return base_vfs->xGetLastError(base_vfs, n, out);
}
int CurrentTimeInt64(sqlite3_vfs*, sqlite3_int64* out) {
  return base_vfs->xCurrentTimeInt64(base_vfs, out);
}

}  // namespace

bool RegisterWalWriteBuffer() {
  static const bool registered = [] {
    base_vfs = sqlite3_vfs_find(nullptr);
    if (base_vfs == nullptr || base_vfs->iVersion < 2 || base_vfs->xCurrentTimeInt64 == nullptr) {
      return false;
    }
    wrapping_vfs = sqlite3_vfs{};
    wrapping_vfs.iVersion = 2;
    wrapping_vfs.szOsFile = static_cast<int>(kRealOffset) + base_vfs->szOsFile;
    wrapping_vfs.mxPathname = base_vfs->mxPathname;
    wrapping_vfs.zName = "collections-wal-write-buffer";
    wrapping_vfs.xOpen = Open;
    wrapping_vfs.xDelete = Delete;
    wrapping_vfs.xAccess = Access;
    wrapping_vfs.xFullPathname = FullPathname;
    wrapping_vfs.xDlOpen = DlOpen;
    wrapping_vfs.xDlError = DlError;
    wrapping_vfs.xDlSym = DlSym;
    wrapping_vfs.xDlClose = DlClose;
    wrapping_vfs.xRandomness = Randomness;
    wrapping_vfs.xSleep = Sleep;
    wrapping_vfs.xCurrentTime = CurrentTime;
    wrapping_vfs.xGetLastError = GetLastError;
    wrapping_vfs.xCurrentTimeInt64 = CurrentTimeInt64;
    return sqlite3_vfs_register(&wrapping_vfs, /*makeDflt=*/1) == SQLITE_OK;
  }();
  return registered;
}

}  // namespace collections::storage
