#include "storage/peer_link.h"

#include <libpq-fe.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <map>
#include <tuple>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace collections::storage {
namespace {

// Any constant works; it only has to be the same for every replica (and
// differ from the migrations' lock).
constexpr char kLeaderLockKey[] = "4859379890093141619";  // "CollJobs" as a bigint
constexpr size_t kMaxPayload = 7000;

// The first row's first column of `sql`'s result, "" on any failure; false
// when the session failed.
bool QueryOne(PGconn* conn, const char* sql, std::string* value, int n_params = 0,
              const char* const* params = nullptr) {
  PGresult* res = PQexecParams(conn, sql, n_params, nullptr, params, nullptr, nullptr, 0);
  const ExecStatusType status = PQresultStatus(res);
  const bool ok = status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK;
  if (ok && value != nullptr && PQntuples(res) > 0) value->assign(PQgetvalue(res, 0, 0));
  PQclear(res);
  return ok;
}

}  // namespace

std::string EncodePeerNotice(const std::string& replica_id, const std::vector<ReadyTask>& ready,
                             bool handoffs, bool shared_state) {
  std::string out = absl::StrCat("v1\n", replica_id, "\n");
  if (handoffs) out += "H\n";
  if (shared_state) out += "S\n";
  // One line per (queue, type, when): how many became ready.
  std::map<std::tuple<std::string, int, int64_t>, int> counts;
  for (const ReadyTask& r : ready) {
    ++counts[{r.queue, static_cast<int>(r.type), absl::ToUnixMicros(r.not_before)}];
  }
  for (const auto& [key, n] : counts) {
    std::string line = absl::StrCat("T\t", std::get<1>(key), "\t", std::get<2>(key), "\t", n, "\t",
                                    std::get<0>(key), "\n");
    // Past the limit the rest are left out: their waiting claims look
    // again at their own recheck time.
    if (out.size() + line.size() > kMaxPayload) break;
    out += line;
  }
  return out;
}

absl::StatusOr<PeerNotice> DecodePeerNotice(const std::string& payload) {
  std::vector<absl::string_view> lines = absl::StrSplit(payload, '\n', absl::SkipEmpty());
  if (lines.size() < 2 || lines[0] != "v1") {
    return absl::InvalidArgumentError("not a collections peer notice");
  }
  PeerNotice notice;
  notice.replica_id = std::string(lines[1]);
  for (size_t i = 2; i < lines.size(); ++i) {
    absl::string_view line = lines[i];
    if (line == "H") {
      notice.handoffs = true;
    } else if (line == "S") {
      notice.shared_state = true;
    } else if (absl::ConsumePrefix(&line, "T\t")) {
      std::vector<absl::string_view> f = absl::StrSplit(line, absl::MaxSplits('\t', 3));
      int type = 0, n = 0;
      int64_t at_us = 0;
      if (f.size() != 4 || !absl::SimpleAtoi(f[0], &type) || !absl::SimpleAtoi(f[1], &at_us) ||
          !absl::SimpleAtoi(f[2], &n) || n < 1 || n > 100000) {
        return absl::InvalidArgumentError(absl::StrCat("bad ready line in a peer notice: ", line));
      }
      for (int k = 0; k < n; ++k) {
        notice.ready.push_back(
            {std::string(f[3]), static_cast<v1::TaskType>(type), absl::FromUnixMicros(at_us)});
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat("bad line in a peer notice: ", line));
    }
  }
  return notice;
}

absl::StatusOr<std::unique_ptr<PeerLink>> PeerLink::Start(Options options) {
  if (!absl::StartsWith(options.connection, "postgresql://")) {
    return absl::InvalidArgumentError("a PeerLink needs a postgresql:// connection");
  }
  std::unique_ptr<PeerLink> link(new PeerLink(std::move(options)));
  link->wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (link->wake_fd_ < 0) return absl::InternalError("eventfd failed");
  link->thread_ = std::thread([l = link.get()] { l->Loop(); });
  return link;
}

PeerLink::PeerLink(Options options) : options_(std::move(options)) {}

PeerLink::~PeerLink() {
  stopping_.store(true);
  if (wake_fd_ >= 0) {
    const uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
  if (wake_fd_ >= 0) close(wake_fd_);
}

void PeerLink::Loop() {
  const std::string conninfo(absl::StripPrefix(options_.connection, "postgresql://"));
  const int wait_ms = static_cast<int>(absl::ToInt64Milliseconds(options_.retry));
  PGconn* conn = nullptr;
  absl::Time next_check = absl::InfinitePast();
  auto set_connected = [this](bool up) {
    if (connected_.exchange(up) != up && options_.on_connection) options_.on_connection(up);
  };
  auto lose = [&] {
    if (conn != nullptr) PQfinish(conn);  // releases the advisory lock, if held
    conn = nullptr;
    if (epoch_.exchange(0) != 0 && options_.on_leadership) options_.on_leadership(0);
    set_connected(false);
  };
  auto wait = [&](int fd) {
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {fd, POLLIN, 0}};
    poll(fds, fd >= 0 ? 2 : 1, wait_ms);
    uint64_t drained = 0;
    (void)!read(wake_fd_, &drained, sizeof drained);
  };
  while (!stopping_.load()) {
    if (conn == nullptr) {
      conn = PQconnectdb(conninfo.c_str());
      if (PQstatus(conn) != CONNECTION_OK ||
          !QueryOne(conn, absl::StrCat("LISTEN ", kPeerChannel).c_str(), nullptr)) {
        lose();
        wait(-1);
        continue;
      }
      set_connected(true);
      next_check = absl::InfinitePast();
    }
    // The election: the leader checks its session, the others try for the
    // lock; either way the session is exercised once per `retry` (real
    // time: a cadence, not business time).
    const absl::Time now = absl::Now();
    if (now < next_check) {
      // Woken by a notification: nothing to check yet.
    } else if (epoch_.load() == 0 && options_.lead) {
      std::string got;
      const std::string query = absl::StrCat("SELECT pg_try_advisory_lock(", kLeaderLockKey, ")");
      if (!QueryOne(conn, query.c_str(), &got)) {
        lose();
        continue;
      }
      if (got == "t") {
        const std::string since_us = absl::StrCat(absl::ToUnixMicros(options_.now()));
        const char* params[] = {kJobsRole, options_.replica_id.c_str(), since_us.c_str()};
        std::string epoch_text;
        int64_t epoch = 0;
        if (!QueryOne(conn,
                      "INSERT INTO leadership (role, epoch, holder, since_us) "
                      "VALUES ($1, 1, $2, $3::bigint) ON CONFLICT (role) DO UPDATE SET "
                      "epoch = leadership.epoch + 1, holder = excluded.holder, "
                      "since_us = excluded.since_us RETURNING epoch",
                      &epoch_text, 3, params) ||
            !absl::SimpleAtoi(epoch_text, &epoch)) {
          lose();
          continue;
        }
        epoch_.store(epoch);
        if (options_.on_leadership) options_.on_leadership(epoch);
      }
    } else if (!QueryOne(conn, "SELECT 1", nullptr)) {
      lose();
      continue;
    }
    if (now >= next_check) next_check = now + options_.retry;
    wait(PQsocket(conn));
    if (!PQconsumeInput(conn) || PQstatus(conn) != CONNECTION_OK) {
      lose();
      continue;
    }
    while (PGnotify* n = PQnotifies(conn)) {
      absl::StatusOr<PeerNotice> notice = DecodePeerNotice(n->extra);
      PQfreemem(n);
      if (notice.ok() && notice->replica_id != options_.replica_id && options_.on_notice) {
        options_.on_notice(*notice);
      }
    }
  }
  lose();
}

}  // namespace collections::storage
