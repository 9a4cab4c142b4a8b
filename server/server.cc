#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <unistd.h>

#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "security/transport.h"
#include "server/access_engine.h"
#include "server/access_service.h"
#include "server/audit_service.h"
#include "server/case_engine.h"
#include "server/case_service.h"
#include "server/daily_aging.h"
#include "server/executor.h"
#include "server/experiment_engine.h"
#include "server/experiment_registry.h"
#include "server/experiment_service.h"
#include "server/handoff_notifier.h"
#include "server/legal_service.h"
#include "server/logging.h"
#include "server/metrics.h"
#include "server/plan_service.h"
#include "server/policy_bootstrap.h"
#include "server/policy_registry.h"
#include "server/policy_service.h"
#include "server/report_service.h"
#include "server/retry_pushback_interceptor.h"
#include "server/rpc_log_interceptor.h"
#include "server/serving_health.h"
#include "server/task_dispatcher.h"
#include "server/task_engine.h"
#include "server/task_service.h"
#include "server/unparsed_request_interceptor.h"
#include "storage/peer_link.h"
#include "workflow/compliance.h"
#include "workflow/dates.h"

namespace collections::server {
namespace {

// "host:port" -> "host" (IPv6 stays bracketed); no port: the whole string.
std::string HostOf(const std::string& address) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || address.back() == ']') return address;
  return address.substr(0, colon);
}

// This process among the replicas: host, pid and 64 random bits (a pid is
// reused after a restart; the random part is not).
std::string NewReplicaId() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  std::random_device random;
  return absl::StrCat(host, "-", getpid(), "-",
                      absl::Hex((uint64_t{random()} << 32) | random(), absl::kZeroPad16));
}

absl::Status Annotate(const absl::Status& status, absl::string_view prefix) {
  return absl::Status(status.code(), absl::StrCat(prefix, status.message()));
}

}  // namespace

const std::vector<std::string>& CollectionsServiceNames() {
  static const std::vector<std::string>* const names = new std::vector<std::string>{
      v1::CaseService::service_full_name(),   v1::TaskService::service_full_name(),
      v1::PlanService::service_full_name(),   v1::LegalService::service_full_name(),
      v1::ReportService::service_full_name(), v1::PolicyService::service_full_name(),
      v1::AuditService::service_full_name(),  v1::ExperimentService::service_full_name(),
      v1::AccessService::service_full_name(),
  };
  return *names;
}

Server::Server(ServerConfig config) : config_(std::move(config)) {
  clock_ = config_.clock;
  if (clock_ == nullptr) {
    // The system clock is a process-wide singleton: share it without owning.
    clock_ = std::shared_ptr<const Clock>(std::shared_ptr<const Clock>(), &SystemClock::Get());
  }
}

Server::~Server() { Shutdown(); }

absl::StatusOr<std::unique_ptr<Server>> Server::Start(ServerConfig config) {
  std::unique_ptr<Server> server(new Server(std::move(config)));
  const ServerConfig& cfg = server->config_;

  // Who may call, and on what kind of listener, before anything else: a
  // server that would serve everyone must not even open the database.
  if (cfg.access_config.empty()) {
    return absl::InvalidArgumentError(
        "--access_config is required: it says who may call and as what (scripts/"
        "dev_credentials.sh DIR makes one for development; see docs/security.md)");
  }
  if (cfg.idempotency_retention <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--idempotency_retention must be positive");
  }
  if (cfg.max_queued_writes < 0 || cfg.max_queued_reads < 0 || cfg.grpc_memory_mib < 0 ||
      cfg.max_concurrent_streams < 0) {
    return absl::InvalidArgumentError(
        "--max_queued_writes, --max_queued_reads, --grpc_memory_mib and "
        "--max_concurrent_streams must not be negative (0: no bound)");
  }
  ASSIGN_OR_RETURN(server->gate_, security::CallGate::FromFile(cfg.access_config));
  security::TransportOptions transport;
  transport.listen = cfg.listen;
  transport.tls_cert = cfg.tls_cert;
  transport.tls_key = cfg.tls_key;
  transport.tls_client_ca = cfg.tls_client_ca;
  transport.insecure_listen = cfg.insecure_listen;
  ASSIGN_OR_RETURN(security::ListenerCredentials listener,
                   security::CredentialsFor(transport, server->gate_->Processor()));
  if (!listener.warning.empty()) LogWarning("%s", listener.warning);

  // The policy next: a bad file must not touch the database.
  ASSIGN_OR_RETURN(server->policy_, LoadPolicy(cfg.policy_file));
  LogInfo("policy: loaded %s (name \"%s\")",
          cfg.policy_file.empty() ? std::string("the shipped default")
                                  : absl::StrCat("file ", cfg.policy_file),
          server->policy_.name());

  const std::string db_for_log = RedactConnection(cfg.db);
  LogInfo("database: opening %s", db_for_log);
  storage::StoreOptions options;
  options.connection = cfg.db;
  options.writer_connections = cfg.db_writers;
  // SQLite's default page size, 4 KiB (storage/sql.cc leaves it).
  options.sqlite_wal_autocheckpoint_pages = cfg.sqlite_wal_checkpoint_mib * 256;
  const bool replicated = absl::StartsWith(cfg.db, "postgresql://");
  // On PostgreSQL every commit tells the other replicas what it changed.
  if (replicated) options.replica_id = NewReplicaId();
  // The times the store records come from the server's clock.
  options.now = [clock = server->clock_] { return clock->Now(); };
  // Commits that make tasks ready wake the claims waiting for them.
  server->task_dispatcher_ = std::make_unique<TaskDispatcher>(server->clock_.get());
  options.on_tasks_ready =
      [d = server->task_dispatcher_.get()](const std::vector<storage::ReadyTask>& ready) {
        d->OnTasksReady(ready);
      };
  // Commits that create handoffs wake the counsel streams that caught up.
  server->handoff_notifier_ = std::make_unique<HandoffNotifier>();
  options.on_handoffs = [n = server->handoff_notifier_.get()] { n->Notify(); };
  // Every commit's outcome tells health whether the database can be written.
  server->health_ = std::make_unique<ServingHealth>(server->clock_.get(), CollectionsServiceNames(),
                                                    v1::ReportService::service_full_name());
  options.on_write_outcome = [h = server->health_.get()](const absl::Status& outcome) {
    h->OnWriteOutcome(outcome);
  };
  options.max_queued_commands = cfg.max_queued_writes;
  absl::StatusOr<std::unique_ptr<storage::Store>> store = storage::Store::Open(options);
  if (!store.ok()) {
    return Annotate(store.status(), absl::StrCat("cannot open database ", db_for_log, ": "));
  }
  server->store_ = *std::move(store);
  LogInfo("database: %s, schema version %d",
          server->store_->backend() == storage::Backend::kSqlite ? "sqlite3" : "postgresql",
          server->store_->schema_version());

  absl::StatusOr<StoredPolicy> stored = EnsurePolicyStored(*server->store_, server->policy_);
  if (!stored.ok()) {
    return Annotate(stored.status(), "cannot store the policy: ");
  }
  server->policy_version_ = stored->version;
  server->policy_added_ = stored->added;
  server->policy_.set_version(stored->version);
  if (stored->added) {
    LogInfo("policy: stored as new version %d", stored->version);
  } else {
    LogInfo("policy: unchanged, version %d is current", stored->version);
  }

  // The access rules: the database's, or the file's as its first version.
  absl::StatusOr<StartupAccessRules> access =
      EnsureAccessRulesStored(*server->store_, server->gate_->file_rules(), server->clock_->Now());
  if (!access.ok()) return Annotate(access.status(), "cannot store the access rules: ");
  if (absl::StatusOr<bool> used = server->gate_->UseRules(access->rules); !used.ok()) {
    return Annotate(used.status(),
                    absl::StrCat("the database's access rules version ", access->rules.version(),
                                 " are not valid for this server: "));
  }
  if (access->added) {
    LogInfo("access rules: stored the certificates and methods of %s as version %d",
            cfg.access_config, access->rules.version());
  } else if (!SameAccessRules(access->rules, server->gate_->file_rules())) {
    LogWarning(
        "access rules: the certificates and methods in %s differ from the database's version %d; "
        "the database's rules are used (change them with AccessService.PutAccessRules, "
        "collectionsctl access put; docs/security.md)",
        cfg.access_config, access->rules.version());
  } else {
    LogInfo("access rules: version %d, the same as %s", access->rules.version(), cfg.access_config);
  }

  absl::TimeZone zone;
  if (!absl::LoadTimeZone(cfg.business_time_zone, &zone)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown business time zone ", cfg.business_time_zone));
  }
  server->policies_ = std::make_unique<PolicyRegistry>(server->store_.get(), server->policy_);
  server->executor_ = std::make_unique<Executor>(4, cfg.max_queued_reads);
  server->experiment_registry_ = std::make_unique<ExperimentRegistry>(server->store_.get());
  if (absl::Status s = server->experiment_registry_->Refresh(); !s.ok()) {
    return Annotate(s, "cannot load the live experiment: ");
  }
  server->case_engine_ = std::make_unique<CaseEngine>(
      server->store_.get(), server->clock_.get(), server->policies_.get(),
      cfg.idempotency_retention, server->experiment_registry_.get());
  if (absl::Status s = server->case_engine_->Start(cfg.business_time_zone); !s.ok()) {
    return Annotate(s, "cannot load the business date: ");
  }
  server->task_engine_ =
      std::make_unique<TaskEngine>(server->store_.get(), server->clock_.get(),
                                   server->policies_.get(), server->case_engine_.get());
  if (cfg.daily_aging_minute >= 0) {
    DailyAging::Leadership leadership = [] { return std::optional<int64_t>(0); };
    if (replicated) {
      leadership = [server = server.get()]() -> std::optional<int64_t> {
        const int64_t epoch =
            server->peer_link_ == nullptr ? 0 : server->peer_link_->leader_epoch();
        if (epoch == 0) return std::nullopt;
        return epoch;
      };
    }
    server->daily_aging_ = std::make_unique<DailyAging>(
        server->case_engine_.get(), server->clock_.get(), zone, cfg.daily_aging_minute,
        cfg.daily_aging_max_days, std::move(leadership));
  }

  ServiceContext context;
  context.store = server->store_.get();
  context.clock = server->clock_.get();
  context.policies = server->policies_.get();
  context.executor = server->executor_.get();
  context.cases = server->case_engine_.get();
  context.handoffs = server->handoff_notifier_.get();
  context.task_dispatcher = server->task_dispatcher_.get();
  context.tasks = server->task_engine_.get();
  context.gate = server->gate_.get();
  server->case_service_ = std::make_unique<CaseServiceImpl>(context);
  server->task_service_ = std::make_unique<TaskServiceImpl>(context);
  server->plan_service_ = std::make_unique<PlanServiceImpl>(context);
  server->legal_service_ = std::make_unique<LegalServiceImpl>(context);
  server->policy_service_ = std::make_unique<PolicyServiceImpl>(context);
  server->experiment_engine_ = std::make_unique<ExperimentEngine>(
      server->store_.get(), server->clock_.get(), server->policies_.get(),
      server->case_engine_.get(), &server->policy_service_->engine(),
      server->experiment_registry_.get());
  context.experiments = server->experiment_engine_.get();
  server->report_service_ = std::make_unique<ReportServiceImpl>(context);
  server->audit_service_ = std::make_unique<AuditServiceImpl>(context);
  server->experiment_service_ = std::make_unique<ExperimentServiceImpl>(context);
  server->access_engine_ = std::make_unique<AccessEngine>(
      server->store_.get(), server->clock_.get(), server->gate_.get());
  server->access_service_ =
      std::make_unique<AccessServiceImpl>(context, server->access_engine_.get());

  if (!cfg.metrics_listen.empty()) {
    Metrics::Sources sources;
    sources.writer = [store = server->store_.get()] { return store->writer_stats(); };
    sources.business_date = [cases = server->case_engine_.get()] { return cases->BusinessDate(); };
    sources.now = [clock = server->clock_] { return clock->Now(); };
    sources.open_work = [store = server->store_.get()](absl::Time now) {
      return store->CountOpenWork(now, workflow::kHoldKindPrefixLength);
    };
    sources.last_aging_run = [cases = server->case_engine_.get()] { return cases->LastAgingRun(); };
    sources.reader_pool_size = options.read_pool_size;
    sources.readers_in_use = [store = server->store_.get()] { return store->readers_in_use(); };
    sources.writer_connections = server->store_->writer_connections();
    ASSIGN_OR_RETURN(server->metrics_,
                     Metrics::Start(cfg.metrics_listen, cfg.insecure_listen, std::move(sources)));
    LogInfo("metrics: serving /metrics on port %d", server->metrics_->port());
  }

  // Both are process-wide switches that must precede the builder.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default: a second server on the same port
  // would then start silently and share the traffic. Refuse instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Admission control in gRPC itself: a memory quota for calls in flight
  // and a bound on concurrent calls per connection.
  if (cfg.grpc_memory_mib > 0) {
    grpc::ResourceQuota quota("collectionsd");
    quota.Resize(static_cast<size_t>(cfg.grpc_memory_mib) << 20);
    builder.SetResourceQuota(quota);
  }
  if (cfg.max_concurrent_streams > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, cfg.max_concurrent_streams);
  }
  // A request gRPC cannot parse is answered INVALID_ARGUMENT, not
  // UNIMPLEMENTED.
  {
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
    creators.push_back(std::make_unique<UnparsedRequestInterceptorFactory>());
    // RESOURCE_EXHAUSTED answers carry grpc-retry-pushback-ms.
    creators.push_back(std::make_unique<RetryPushbackInterceptorFactory>());
    // After the one above, so that it counts the status the caller gets.
    if (server->metrics_ != nullptr) creators.push_back(server->metrics_->InterceptorFactory());
    // One log line per RPC (debug for OK calls), with the status the caller gets.
    creators.push_back(std::make_unique<RpcLogInterceptorFactory>(
        server->gate_.get(), std::set<std::string>{CaseServiceImpl::kImportMethod}));
    builder.experimental().SetInterceptorCreators(std::move(creators));
  }
  int selected_port = 0;
  builder.AddListeningPort(cfg.listen, listener.credentials, &selected_port);
  builder.RegisterService(server->case_service_.get());
  builder.RegisterService(server->task_service_.get());
  builder.RegisterService(server->plan_service_.get());
  builder.RegisterService(server->legal_service_.get());
  builder.RegisterService(server->report_service_.get());
  builder.RegisterService(server->policy_service_.get());
  builder.RegisterService(server->audit_service_.get());
  builder.RegisterService(server->experiment_service_.get());
  builder.RegisterService(server->access_service_.get());
  server->grpc_server_ = builder.BuildAndStart();
  if (server->grpc_server_ == nullptr || selected_port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", cfg.listen,
                                               " (address in use, or not a local address?)"));
  }
  server->port_ = selected_port;
  server->address_ = absl::StrCat(HostOf(cfg.listen), ":", selected_port);

  // Listening first, then the catch-up in the background (it takes minutes
  // at a large book): ReportService says NOT_SERVING until it is done.
  server->health_->SetCatchingUp(true);
  server->health_->Start(server->grpc_server_->GetHealthCheckService(), server->store_.get(),
                         cfg.health_probe_interval);
  server->catch_up_ = std::thread([s = server.get()] {
    if (s->config_.before_catch_up) s->config_.before_catch_up();
    const absl::Time started = absl::Now();
    LogInfo("start-up catch-up: finishing the run of business date %s in the background",
            workflow::FormatDay(s->case_engine_->BusinessDate()));
    if (absl::Status done = s->case_engine_->CatchUp(); !done.ok()) {
      // The next business-date run (daily aging, AdvanceBusinessDate)
      // finishes what is left.
      LogError("start-up catch-up failed (the next business-date run finishes it): %s",
               done.ToString());
    } else {
      LogInfo("start-up catch-up: done in %s", absl::FormatDuration(absl::Now() - started));
    }
    s->health_->SetCatchingUp(false);
    s->catch_up_done_.Notify();
  });
  if (replicated) {
    RETURN_IF_ERROR(server->StartPeerLink(options.replica_id));
    server->access_watch_ = std::thread([s = server.get()] { s->WatchAccessRules(); });
  }
  if (server->daily_aging_ != nullptr) server->daily_aging_->Start();
  std::function<bool()> leads;
  if (replicated) {
    leads = [server = server.get()] { return server->peer_link_->leader_epoch() != 0; };
  }
  server->task_dispatcher_->Start(server->store_.get(), cfg.lease_reap_interval, std::move(leads));
  LogInfo("serving on %s (%s): %d collections.v1 services, health, reflection", server->address_,
          listener.mode, CollectionsServiceNames().size());
  return server;
}

absl::Status Server::StartPeerLink(const std::string& replica_id) {
  storage::PeerLink::Options link;
  link.connection = config_.db;
  link.replica_id = replica_id;
  link.now = [clock = clock_] { return clock->Now(); };
  link.on_notice = [this](const storage::PeerNotice& notice) {
    if (!notice.ready.empty()) task_dispatcher_->OnTasksReady(notice.ready);
    if (notice.handoffs) handoff_notifier_->Notify();
    if (notice.shared_state) RefreshSharedState();
  };
  link.on_leadership = [this](int64_t epoch) {
    if (epoch != 0) {
      LogInfo("replicas: this replica (%s) leads the singleton jobs, epoch %d", replica_id_, epoch);
      if (daily_aging_ != nullptr) daily_aging_->Wake();
    } else {
      LogWarning("replicas: this replica no longer leads the singleton jobs");
    }
  };
  link.on_connection = [this](bool connected) {
    if (connected) {
      // Whatever changed while we could not hear it.
      RefreshSharedState();
    } else {
      LogWarning("replicas: lost the coordination session to the database; reconnecting");
      // The database is likely gone for the writers too: NOT_SERVING now,
      // and health's probe writes say when it is back.
      if (health_ != nullptr) {
        health_->OnWriteOutcome(
            absl::UnavailableError("lost the connection to the database (coordination session)"));
      }
    }
  };
  replica_id_ = replica_id;
  absl::StatusOr<std::unique_ptr<storage::PeerLink>> started =
      storage::PeerLink::Start(std::move(link));
  if (!started.ok()) return started.status();
  peer_link_ = *std::move(started);
  LogInfo("replicas: this replica is %s; listening for the others' commits", replica_id);
  return absl::OkStatus();
}

void Server::RefreshSharedState() {
  if (absl::Status s = case_engine_->RefreshBusinessDate(); !s.ok()) {
    LogWarning("replicas: cannot re-read the business date: %s", s.ToString());
  }
  if (absl::Status s = policies_->RefreshCurrent(); !s.ok()) {
    LogWarning("replicas: cannot re-read the current policy: %s", s.ToString());
  }
  if (absl::Status s = experiment_registry_->Refresh(); !s.ok()) {
    LogWarning("replicas: cannot re-read the live experiment: %s", s.ToString());
  }
  if (absl::Status s = access_engine_->Refresh(); !s.ok()) {
    LogWarning("replicas: cannot re-read the access rules: %s", s.ToString());
  }
}

void Server::WatchAccessRules() {
  while (!access_watch_stop_.WaitForNotificationWithTimeout(config_.access_rules_interval)) {
    if (absl::Status s = access_engine_->Refresh(); !s.ok()) {
      LogWarning("replicas: cannot re-read the access rules: %s", s.ToString());
    }
  }
}

int Server::metrics_port() const { return metrics_ == nullptr ? 0 : metrics_->port(); }

void Server::Shutdown() { Shutdown(config_.shutdown_grace); }

void Server::Shutdown(absl::Duration grace) {
  absl::MutexLock lock(&shutdown_mu_);
  if (shut_down_) return;
  shut_down_ = true;
  if (grpc_server_ != nullptr) {
    LogInfo("shutting down: refusing new RPCs, running ones have %s", absl::FormatDuration(grace));
    if (health_ != nullptr) health_->Stop();  // publishes nothing more
    if (grpc::HealthCheckServiceInterface* health = grpc_server_->GetHealthCheckService()) {
      health->Shutdown();  // NOT_SERVING from now on
    }
    // Waiting claims answer now (empty) instead of holding the grace period.
    if (task_dispatcher_ != nullptr) task_dispatcher_->Stop();
    // A long AdvanceBusinessDate stops between days instead of outliving
    // the grace period.
    if (case_engine_ != nullptr) case_engine_->Stop();
    if (handoff_notifier_ != nullptr) handoff_notifier_->Stop();
    grpc_server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
    grpc_server_->Wait();
    grpc_server_.reset();
    LogInfo("gRPC server stopped");
  }
  if (health_ != nullptr) health_->Stop();
  // Stops between days (case_engine_->Stop() above).
  if (catch_up_.joinable()) catch_up_.join();
  // Its scrapes read the store and the case engine: it goes before them.
  metrics_.reset();
  access_watch_stop_.Notify();
  if (access_watch_.joinable()) access_watch_.join();
  if (daily_aging_ != nullptr) daily_aging_->Stop();
  // Gives up the lead (its session ends) and stops waking this replica;
  // after the jobs that ask it whether they lead.
  peer_link_.reset();
  executor_.reset();  // runs what was scheduled, then joins
  daily_aging_.reset();
  case_service_.reset();
  task_service_.reset();
  plan_service_.reset();
  legal_service_.reset();
  report_service_.reset();
  experiment_service_.reset();
  experiment_engine_.reset();
  access_service_.reset();
  policy_service_.reset();
  audit_service_.reset();
  if (store_ != nullptr) {
    const storage::WriterStats w = store_->writer_stats();
    LogInfo("writer: %d commands in %d commits (largest batch %d), %d failed", w.commands,
            w.commits, w.largest_batch, w.failed_commands);
    store_.reset();  // drains the writer
    case_engine_.reset();
    task_engine_.reset();
    experiment_registry_.reset();
    policies_.reset();
    access_engine_.reset();
    LogInfo("database closed");
  }
  task_dispatcher_.reset();  // after the writer that calls it
  handoff_notifier_.reset();
}

}  // namespace collections::server
