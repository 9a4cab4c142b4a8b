// How collectionsd is configured: the listen address, the database and the
// policy. main() fills it from flags; tests fill it directly.
#ifndef COLLECTIONS_SERVER_CONFIG_H_
#define COLLECTIONS_SERVER_CONFIG_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "server/clock.h"

namespace collections::server {

inline constexpr char kDefaultListen[] = "127.0.0.1:50051";
inline constexpr char kDefaultDb[] = "sqlite3://db=var/collections.db timeout=5";

struct ServerConfig {
  // host:port to serve on; port 0 picks a free one (Server::port() tells).
  std::string listen = kDefaultListen;
  // SOCI connection string: "sqlite3://db=FILE timeout=5" or
  // "postgresql://host=... port=... dbname=... user=...".
  std::string db = kDefaultDb;
  // PostgreSQL: writer connections, each with its own group commit
  // (StoreOptions::writer_connections). SQLite always has one.
  int db_writers = 8;
  // SQLite only: the WAL size, in MiB, past which it is checkpointed beside
  // the writer (StoreOptions::sqlite_wal_autocheckpoint_pages).
  int sqlite_wal_checkpoint_mib = 1024;
  // A textproto collections.v1.Policy; empty: the shipped default
  // (workflow::DefaultPolicy()).
  std::string policy_file;
  // Wall-clock time; null: the system clock.
  std::shared_ptr<const Clock> clock;
  // How long Shutdown() lets running RPCs finish before cancelling them.
  absl::Duration shutdown_grace = absl::Seconds(10);
  // The institution's time zone: business dates are its civil days.
  std::string business_time_zone = "Asia/Shanghai";
  // Local minute of the day at which the business date moves on by itself
  // (60 = 01:00); negative: never (only AdvanceBusinessDate moves it).
  int daily_aging_minute = 60;
  // How many days daily aging moves the business date by itself at once; a
  // larger gap waits for an administrator's AdvanceBusinessDate.
  int daily_aging_max_days = 3;
  // How long an idempotent answer (a request_id's first answer) is kept; a
  // retry within it gets that answer again. Older ones are purged by each
  // business-date run (daily aging or AdvanceBusinessDate). Positive.
  absl::Duration idempotency_retention = absl::Hours(7 * 24);
  // How often (real time) expired task leases are returned to their queues.
  absl::Duration lease_reap_interval = absl::Seconds(1);

  // Who may call and as what: a collections.v1.AccessConfig in text format
  // (docs/security.md). Required. Its `certificates` and `methods` become
  // the database's first access rules version when the database has none;
  // after that the database's rules win (AccessService).
  std::string access_config;
  // On PostgreSQL, how often (real time) a replica looks for a newer access
  // rules version, besides the other replicas' notifications.
  absl::Duration access_rules_interval = absl::Seconds(1);
  // TLS: the server's certificate chain and key (PEM), re-read when they
  // change; with a client CA, client certificates are requested and must
  // chain to it (mutual TLS). Without TLS, only a loopback `listen` is
  // served, unless insecure_listen.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  bool insecure_listen = false;
  // host:port of the Prometheus endpoint (/metrics); empty: none. Loopback
  // only unless insecure_listen.
  std::string metrics_listen;

  // Admission control (docs/operations-notes.md). Past these bounds an RPC
  // is answered RESOURCE_EXHAUSTED at once with a back-off hint instead of
  // queueing without end. Writes waiting for the database writer (0: no
  // bound):
  int max_queued_writes = 16384;
  // Reads and other blocking work waiting for the executor's threads (0: no
  // bound):
  int max_queued_reads = 4096;
  // gRPC's memory quota for the whole server (buffers of calls in flight),
  // in MiB; past it gRPC refuses new calls and streams. 0: gRPC's default.
  int grpc_memory_mib = 1024;
  // Most concurrent calls on one client connection (HTTP/2 streams); more
  // wait in the client until one ends. 0: gRPC's default (no limit).
  int max_concurrent_streams = 1000;
  // While the database cannot be written, how often (real time) a probe
  // write checks whether it can again.
  absl::Duration health_probe_interval = absl::Seconds(1);
  // Tests only: runs on the start-up catch-up's thread before it starts.
  std::function<void()> before_catch_up;
};

// `connection` with the value of any password=... replaced by "***", for
// logs and error messages: every spelling libpq accepts (whitespace or tabs
// between pairs and around '=', single-quoted values).
std::string RedactConnection(const std::string& connection);

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_CONFIG_H_
