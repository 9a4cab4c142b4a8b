#include "storage/page_cache.h"

#include <algorithm>
#include <atomic>
#include <new>

#include "soci/sqlite3/soci-sqlite3.h"

namespace collections::storage {
namespace {

using sqlite_api::sqlite3_pcache;
using sqlite_api::sqlite3_pcache_methods2;
using sqlite_api::sqlite3_pcache_page;

// SQLite's lock byte (PENDING_BYTE) lies at 1 GiB; the page holding it is
// never used for data.
constexpr unsigned kLockByteOffset = 0x40000000;

sqlite3_pcache_methods2 base;  // pcache1's methods, set once by InstallPageCache
std::atomic<long long> skipped{0};

struct Cache {
  sqlite3_pcache* base;
  unsigned lock_page;    // the page of the lock byte at this page size
  unsigned max_key = 0;  // no page above it, but maybe the lock page
  bool lock_page_used = false;
};

Cache* Of(sqlite3_pcache* p) { return reinterpret_cast<Cache*>(p); }

void Note(Cache* c, unsigned key) {
  if (key == c->lock_page) {
    c->lock_page_used = true;
  } else {
    c->max_key = std::max(c->max_key, key);
  }
}

sqlite3_pcache* Create(int page_size, int extra, int purgeable) {
  sqlite3_pcache* inner = base.xCreate(page_size, extra, purgeable);
  if (inner == nullptr) return nullptr;
  auto* c = new (std::nothrow) Cache{inner, kLockByteOffset / static_cast<unsigned>(page_size) + 1};
  if (c == nullptr) {
    base.xDestroy(inner);
    return nullptr;
  }
  return reinterpret_cast<sqlite3_pcache*>(c);
}

void Cachesize(sqlite3_pcache* p, int pages) { base.xCachesize(Of(p)->base, pages); }

int Pagecount(sqlite3_pcache* p) { return base.xPagecount(Of(p)->base); }

sqlite3_pcache_page* Fetch(sqlite3_pcache* p, unsigned key, int create) {
  sqlite3_pcache_page* page = base.xFetch(Of(p)->base, key, create);
  if (page != nullptr) Note(Of(p), key);
  return page;
}

void Unpin(sqlite3_pcache* p, sqlite3_pcache_page* page, int discard) {
  base.xUnpin(Of(p)->base, page, discard);
}

void Rekey(sqlite3_pcache* p, sqlite3_pcache_page* page, unsigned old_key, unsigned new_key) {
  base.xRekey(Of(p)->base, page, old_key, new_key);
  Cache* c = Of(p);
  // Balancing gives the borrowed number back by moving its page away.
  if (old_key == c->lock_page) c->lock_page_used = false;
  Note(c, new_key);
}

void Truncate(sqlite3_pcache* p, unsigned limit) {
  Cache* c = Of(p);
  const bool lock_page_beyond = c->lock_page_used && c->lock_page >= limit;
  if (limit > 0 && c->max_key < limit && !lock_page_beyond) {
    skipped.fetch_add(1, std::memory_order_relaxed);
    return;  // nothing to remove
  }
  base.xTruncate(c->base, limit);
  if (limit > 0) c->max_key = std::min(c->max_key, limit - 1);
  if (c->lock_page >= limit) c->lock_page_used = false;
}

void Destroy(sqlite3_pcache* p) {
  base.xDestroy(Of(p)->base);
  delete Of(p);
}

void Shrink(sqlite3_pcache* p) { base.xShrink(Of(p)->base); }

}  // namespace

long long PageCacheTruncationsSkipped() { return skipped.load(std::memory_order_relaxed); }

bool InstallPageCache() {
  if (sqlite_api::sqlite3_config(SQLITE_CONFIG_GETPCACHE2, &base) != SQLITE_OK ||
      base.xCreate == nullptr) {
    return false;
  }
  static sqlite3_pcache_methods2 wrapper;
  wrapper = base;  // iVersion, pArg, xInit and xShutdown stay pcache1's
  wrapper.xCreate = Create;
  wrapper.xCachesize = Cachesize;
  wrapper.xPagecount = Pagecount;
  wrapper.xFetch = Fetch;
  wrapper.xUnpin = Unpin;
  wrapper.xRekey = Rekey;
  wrapper.xTruncate = Truncate;
  wrapper.xDestroy = Destroy;
  wrapper.xShrink = Shrink;
  return sqlite_api::sqlite3_config(SQLITE_CONFIG_PCACHE2, &wrapper) == SQLITE_OK;
}

}  // namespace collections::storage
