// PeerLink: one replica's own PostgreSQL session for what several
// collectionsd replicas on one database share beyond the tables:
//
// - Wake-ups. The writers of every replica send a notification inside each
//   commit that made tasks ready, created handoffs, moved the business date
//   or stored a policy (StoreOptions::replica_id, pg_notify on channel
//   kPeerChannel). PeerLink LISTENs and hands the other replicas' notices to
//   its callbacks, so that waiting claims and handoff streams wake on every
//   replica, not only on the one that committed.
// - Leadership. Exactly one replica runs the singleton jobs (daily aging,
//   due timers, the lease reaper, report snapshots): the one whose session
//   holds a PostgreSQL advisory lock. On taking it, the replica increments
//   the role's epoch in the leadership table; the jobs' writes check it
//   (UnitOfWork::CheckLeaderEpoch), so that a deposed leader's late write is
//   refused. A leader whose session dies loses the lock with it; the others
//   try for it every `retry` and one takes over.
//
// Thread-safety: thread-safe. One thread of its own runs the session and
// calls the callbacks (which must not block for long); the accessors may be
// called from any thread. PostgreSQL only.
#ifndef COLLECTIONS_STORAGE_PEER_LINK_H_
#define COLLECTIONS_STORAGE_PEER_LINK_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/store.h"

namespace collections::storage {

inline constexpr char kPeerChannel[] = "collections_peers";
// The role whose leader runs the singleton jobs.
inline constexpr char kJobsRole[] = "jobs";

// What one commit tells the other replicas (the payload of its
// notification).
struct PeerNotice {
  std::string replica_id;        // who committed
  std::vector<ReadyTask> ready;  // tasks made ready (a few per queue and type)
  bool handoffs = false;         // handoffs were created
  bool shared_state = false;     // the business date moved or a policy was stored
};

// The notification's payload: one line per (queue, type, not_before) with
// a count; at most 7,000 bytes (PostgreSQL takes 8,000), lines past that
// are left out (those claims look again at their own recheck time).
std::string EncodePeerNotice(const std::string& replica_id, const std::vector<ReadyTask>& ready,
                             bool handoffs, bool shared_state);
// INVALID_ARGUMENT for a payload EncodePeerNotice did not make.
absl::StatusOr<PeerNotice> DecodePeerNotice(const std::string& payload);

class PeerLink {
 public:
  struct Options {
    std::string connection;  // SOCI connection string: postgresql://...
    std::string replica_id;  // this replica (StoreOptions::replica_id)
    bool lead = true;        // take part in the election
    // How often it tries for the lock and reconnects after a loss.
    absl::Duration retry = absl::Seconds(1);
    // The time written with a takeover (since_us).
    std::function<absl::Time()> now = [] { return absl::Now(); };
    // Called with each notice from another replica.
    std::function<void(const PeerNotice&)> on_notice;
    // Called when this replica becomes the leader (with its epoch) and when
    // it stops being one (epoch 0: its session was lost or it stopped).
    std::function<void(int64_t epoch)> on_leadership;
    // Called when the session is lost or back (false, true): a replica that
    // cannot reach its database should say so on health.
    std::function<void(bool connected)> on_connection;
  };

  // Starts the session's thread; it connects (and reconnects) by itself.
  // INVALID_ARGUMENT when the connection string is not PostgreSQL's.
  static absl::StatusOr<std::unique_ptr<PeerLink>> Start(Options options);
  ~PeerLink();  // stops the thread and closes the session (releasing the lock)

  PeerLink(const PeerLink&) = delete;
  PeerLink& operator=(const PeerLink&) = delete;

  // The epoch of this replica's leadership, 0 while it is not the leader.
  int64_t leader_epoch() const { return epoch_.load(); }
  bool connected() const { return connected_.load(); }

 private:
  explicit PeerLink(Options options);
  void Loop();

  const Options options_;
  std::atomic<int64_t> epoch_{0};
  std::atomic<bool> connected_{false};
  std::atomic<bool> stopping_{false};
  int wake_fd_ = -1;  // an eventfd that interrupts the session's wait
  std::thread thread_;
};

}  // namespace collections::storage

#endif  // COLLECTIONS_STORAGE_PEER_LINK_H_
