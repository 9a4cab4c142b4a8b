#include "storage/wal_write_buffer.h"

#include <sqlite3.h>

#include <algorithm>
#include <mutex>
#include <new>
#include <set>
#include <vector>

namespace collections::storage {
namespace {

sqlite3_vfs* base_vfs = nullptr;  // the VFS wrapped; set once, before use
sqlite3_vfs wrapping_vfs;

// A file of this VFS: the base VFS's file follows it in the same
// allocation (SQLite's szOsFile covers both).
struct File {
  sqlite3_file base;  // first: SQLite sees this struct as its sqlite3_file
  sqlite3_file* real = nullptr;
  bool wal = false;
  // WAL files: the bytes written but not yet passed on, which belong at
  // `start`. Guarded by mu (the flush on another connection's barrier).
  std::mutex mu;
  std::vector<char> pending;
  sqlite3_int64 start = 0;
  // The error of a write that failed where it could not be reported (the
  // barrier): every later write, read and sync of the file fails with it.
  int failed = SQLITE_OK;
};
static_assert(kWalWriteBufferBytes < 0x1ffff, "the system VFS writes less than 128 KiB a call");
constexpr size_t kRealOffset = (sizeof(File) + 15) & ~size_t{15};

// The open WAL files, for the barrier. Leaked: SQLite may close files
// during static destruction.
std::mutex open_wal_mu;
std::set<File*>& OpenWal() {
  static auto* files = new std::set<File*>;
  return *files;
}

File* Of(sqlite3_file* f) { return reinterpret_cast<File*>(f); }
const sqlite3_io_methods& Real(File* f) { return *f->real->pMethods; }

// Writes what `f` gathered. Callers hold f->mu. The bytes are forgotten
// whatever the outcome: a failed write fails the call that flushed, and
// SQLite then abandons the frames of that transaction.
int FlushLocked(File* f) {
  if (f->failed != SQLITE_OK) return f->failed;
  if (f->pending.empty()) return SQLITE_OK;
  const int rc =
      Real(f).xWrite(f->real, f->pending.data(), static_cast<int>(f->pending.size()), f->start);
  f->pending.clear();
  return rc;
}
int Flush(File* f) {
  if (!f->wal) return SQLITE_OK;
  std::lock_guard<std::mutex> lock(f->mu);
  return FlushLocked(f);
}

int FlushAllWal() {
  int rc = SQLITE_OK;
  std::lock_guard<std::mutex> lock(open_wal_mu);
  for (File* f : OpenWal()) {
    std::lock_guard<std::mutex> file_lock(f->mu);
    const int one = FlushLocked(f);
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
    rc = Flush(f);
  }
  const int closed = Real(f).xClose(f->real);
  f->~File();
  return rc != SQLITE_OK ? rc : closed;
}

int Read(sqlite3_file* file, void* out, int amount, sqlite3_int64 offset) {
  File* f = Of(file);
  if (!f->wal) return Real(f).xRead(f->real, out, amount, offset);
  // Held across the read too: another connection's barrier may flush what
  // this one gathered, and the two calls on one file must not overlap.
  std::lock_guard<std::mutex> lock(f->mu);
  if (f->failed != SQLITE_OK) return f->failed;
  const sqlite3_int64 end = f->start + static_cast<sqlite3_int64>(f->pending.size());
  if (!f->pending.empty() && offset < end && offset + amount > f->start) {
    const int rc = FlushLocked(f);
    if (rc != SQLITE_OK) return rc;
  }
  return Real(f).xRead(f->real, out, amount, offset);
}

int Write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  File* f = Of(file);
  if (!f->wal) return Real(f).xWrite(f->real, data, amount, offset);
  std::lock_guard<std::mutex> lock(f->mu);
  if (f->failed != SQLITE_OK) return f->failed;
  const char* bytes = static_cast<const char*>(data);
  const size_t n = static_cast<size_t>(amount);
  // An append to what is gathered: keep it.
  if (!f->pending.empty() && offset == f->start + static_cast<sqlite3_int64>(f->pending.size()) &&
      f->pending.size() + n <= kWalWriteBufferBytes) {
    f->pending.insert(f->pending.end(), bytes, bytes + n);
    return SQLITE_OK;
  }
  // Anything else goes after what was gathered, in order.
  const int rc = FlushLocked(f);
  if (rc != SQLITE_OK) return rc;
  if (n >= kWalWriteBufferBytes) return Real(f).xWrite(f->real, data, amount, offset);
  if (f->pending.capacity() < kWalWriteBufferBytes) f->pending.reserve(kWalWriteBufferBytes);
  f->start = offset;
  f->pending.assign(bytes, bytes + n);
  return SQLITE_OK;
}

int Truncate(sqlite3_file* file, sqlite3_int64 size) {
  File* f = Of(file);
  const int rc = Flush(f);
  return rc != SQLITE_OK ? rc : Real(f).xTruncate(f->real, size);
}

int Sync(sqlite3_file* file, int flags) {
  File* f = Of(file);
  const int rc = Flush(f);
  return rc != SQLITE_OK ? rc : Real(f).xSync(f->real, flags);
}

int FileSize(sqlite3_file* file, sqlite3_int64* size) {
  File* f = Of(file);
  const int rc = Flush(f);
  return rc != SQLITE_OK ? rc : Real(f).xFileSize(f->real, size);
}

int Lock(sqlite3_file* file, int level) { return Real(Of(file)).xLock(Of(file)->real, level); }
int Unlock(sqlite3_file* file, int level) { return Real(Of(file)).xUnlock(Of(file)->real, level); }
int CheckReservedLock(sqlite3_file* file, int* out) {
  return Real(Of(file)).xCheckReservedLock(Of(file)->real, out);
}

int FileControl(sqlite3_file* file, int op, void* arg) {
  File* f = Of(file);
  const int rc = Flush(f);
  return rc != SQLITE_OK ? rc : Real(f).xFileControl(f->real, op, arg);
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
// and publishing them: every gathered WAL byte of the process reaches its
// file first, so no connection learns of a frame that is not there.
void ShmBarrier(sqlite3_file* file) {
  File* f = Of(file);
  // A failed write cannot be reported here; its file fails every write,
  // read and sync after it (File::failed), so SQLite stops using it.
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
  const int rc = Flush(f);
  return rc != SQLITE_OK ? rc : Real(f).xFetch(f->real, offset, amount, out);
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
