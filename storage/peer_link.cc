#include "storage/peer_link.h"

#include <libpq-fe.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
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

std::string ReadyLine(const ReadyTask& r) {
  return absl::StrCat("T\t", static_cast<int>(r.type), "\t", absl::ToUnixMicros(r.not_before), "\t",
                      r.queue, "\n");
}

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
  std::string lines;
  for (const ReadyTask& r : ready) lines += ReadyLine(r);
  if (out.size() + lines.size() > kMaxPayload) {
    // Too many to list: one line per queue, due now, wakes every waiting
    // claim of the queue (they look for themselves).
    lines.clear();
    std::vector<std::string> seen;
    for (const ReadyTask& r : ready) {
      if (std::find(seen.begin(), seen.end(), r.queue) != seen.end()) continue;
      seen.push_back(r.queue);
      ReadyTask any{r.queue, v1::TASK_TYPE_UNSPECIFIED, absl::InfinitePast()};
      if (out.size() + lines.size() + ReadyLine(any).size() > kMaxPayload) break;
      lines += ReadyLine(any);
    }
  }
  return out + lines;
}

absl::StatusOr<PeerNotice> DecodePeerNotice(const std::string& payload) {
  std::vector<absl::string_view> lines = absl::StrSplit(payload, '\n', absl::SkipEmpty());
  if (lines.size() < 2 || lines[0] != "v1") {
    return absl::InvalidArgumentError("not a collections peer notice");
  }
  PeerNotice notice;
  notice.replica_id = std::string(lines[1]);
  for (size_t i = 2; i < lines.size(); ++i) {
    if (lines[i] == "H") {
      notice.handoffs = true;
    } else if (lines[i] == "S") {
      notice.shared_state = true;
    } else if (absl::ConsumePrefix(&lines[i], "T\t")) {
      std::vector<absl::string_view> f = absl::StrSplit(lines[i], absl::MaxSplits('\t', 2));
      int type = 0;
      int64_t at_us = 0;
      if (f.size() != 3 || !absl::SimpleAtoi(f[0], &type) || !absl::SimpleAtoi(f[1], &at_us)) {
        return absl::InvalidArgumentError(
            absl::StrCat("bad ready line in a peer notice: ", lines[i]));
      }
      notice.ready.push_back(
          {std::string(f[2]), static_cast<v1::TaskType>(type), absl::FromUnixMicros(at_us)});
    } else {
      return absl::InvalidArgumentError(absl::StrCat("bad line in a peer notice: ", lines[i]));
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
        const std::string now = absl::StrCat(absl::ToUnixMicros(options_.now()));
        const char* params[] = {kJobsRole, options_.replica_id.c_str(), now.c_str()};
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
