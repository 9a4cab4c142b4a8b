// The SQLite VFS this server opens its databases through: the system's
// default VFS ("unix"), except that the appends SQLite makes to a WAL file
// are gathered in memory and written together.
//
// SQLite writes each WAL frame as two write(2) calls, a 24-byte header and
// the page, at offsets that are not page-aligned. A day's run at 1,000,000
// cases writes about 150,000 frames: 300,000 system calls, each touching
// one or two file-cache pages partially (ext4 then prepares each page
// before copying into it). Gathered, a commit's frames reach the file in
// writes of up to kWalWriteBufferBytes. A commit larger than that (an
// import's, a day's aging) hands each full buffer to a thread of the
// file's own, which writes it while SQLite computes the next frames'
// checksums on the connection's thread: the copy into the file cache (a
// sixth of a typical day at 1,000,000 cases) runs on the other core. A
// small commit (a claim, a completion) is written on its own thread, with
// no hand-over.
//
// Nothing is made less durable or visible sooner: every byte is written,
// in file order, before SQLite syncs the WAL (a commit at
// synchronous=FULL), before any read, truncation, size query or file
// control of that file, before it closes, and before any connection of
// this process publishes new frames to the WAL index (the database file's
// shared-memory barrier, which SQLite calls at every commit whatever its
// synchronous setting). A write that fails on the file's thread fails the
// next call of the file (the commit's sync at the latest) and drops the
// transaction's bytes after it; SQLite then abandons that transaction's
// frames, as after a failed write of its own, and the file is used again
// (a disk that was full and has room again).
//
// Thread-safety: the VFS is registered once (RegisterWalWriteBuffer, from
// RegisterBackends, before any connection opens); its files may be used
// from any thread, as SQLite uses files.
#ifndef COLLECTIONS_STORAGE_WAL_WRITE_BUFFER_H_
#define COLLECTIONS_STORAGE_WAL_WRITE_BUFFER_H_

#include <cstddef>

namespace collections::storage {

// The most a WAL file gathers before it writes: sixteen 4 KiB frames. The
// system VFS writes at most 128 KiB - 1 bytes a call (os_unix.c masks the
// count with 0x1ffff, and a larger write fails as SQLITE_FULL).
inline constexpr size_t kWalWriteBufferBytes = 64 << 10;

// Registers the VFS as SQLite's default. Returns false (and leaves
// SQLite's default alone) when SQLite has no default VFS to wrap or refuses
// the registration.
bool RegisterWalWriteBuffer();

}  // namespace collections::storage

#endif  // COLLECTIONS_STORAGE_WAL_WRITE_BUFFER_H_
