// The page cache of every SQLite connection this server opens: SQLite's
// own (pcache1), except that a commit does not scan the whole cache when
// nothing in it lies beyond the end of the database.
//
// At the end of each write transaction SQLite truncates the connection's
// page cache to the database's size (pcache1Truncate). pcache1 knows only
// the largest page number it has held since the last truncation, and when
// that lies far past the end it walks every slot of its hash table and
// every page in it. B-tree balancing, which swaps two pages' numbers to
// keep siblings in file order, parks a page under the number of the page
// holding SQLite's lock byte (the page at 1 GiB) for a moment. So in a
// database under 1 GiB every commit that split a page in that way walked
// the whole cache: a tenth of the writer's time in one-task claim and
// complete cycles on a fresh database (bench/RESULTS.md).
//
// The wrapper keeps the same bound, but does not count the page number
// that balancing borrows and gives back in the same call; when no page at
// or past the limit can exist, it skips pcache1's truncation, which would
// have removed nothing. Every other call goes to pcache1 unchanged.
//
// Thread-safety: installed once, before any connection opens
// (InstallPageCache, from RegisterBackends); each cache is used as SQLite
// uses caches, by one connection at a time.
#ifndef COLLECTIONS_STORAGE_PAGE_CACHE_H_
#define COLLECTIONS_STORAGE_PAGE_CACHE_H_

namespace collections::storage {

// Makes the wrapper SQLite's page cache. False when SQLite refused it (it
// was already initialized): its own cache is then used as it is.
bool InstallPageCache();

// Truncations skipped since the process started (for tests).
long long PageCacheTruncationsSkipped();

}  // namespace collections::storage

#endif  // COLLECTIONS_STORAGE_PAGE_CACHE_H_
