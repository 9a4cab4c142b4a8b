// collections-legal-receiver: the reference receiver for legal-counsel
// systems. It subscribes to one firm's handoffs, writes each as a JSON file
// into a folder, and acknowledges a handoff only once its file is durably on
// disk. After a restart it resumes from the last sequence it stored, so
// nothing is lost; a handoff delivered again (at-least-once) is ignored.
// An acknowledgement the server has not answered is never dropped: it is
// recorded on disk before the stored sequence moves past its handoff, and
// retried (with backoff, also after a restart) until the server answers.
//
//   collections-legal-receiver --server=127.0.0.1:50051 --firm=firm-shanghai
//       --dir=/var/lib/counsel/inbox [--once]
//       [--tls_ca=FILE --tls_cert=FILE --tls_key=FILE] [--token_file=FILE]
//
// The firm's receiver presents its client certificate (mutual TLS); the
// server maps it to the firm and shows it only that firm's handoffs.
//
// A handoff with history_truncated set (its history holds only the most
// recent events) is stored with the case's whole history: before its file is
// written, the receiver pages through GetHandoffHistory and puts every event
// up to the handoff, oldest first, into the file's history (and
// history_truncated is false there). Until that succeeds the handoff is
// neither stored nor acknowledged: failures the server may get over are
// retried with the acknowledgements' backoff (below), for as long as the
// receiver runs (--once: 10 failed attempts in a row, then exit 1); any
// other answer stops the receiver with exit status 1, and the next start
// receives the handoff again.
//
// Files in <dir>:
//   handoff-<sequence>.json   the Handoff message as JSON (with the whole
//                             history, see above)
//   LAST_SEQUENCE             the highest sequence stored
//   pending-acks/ack-<sequence>
//                             an acknowledgement owed to the server; written
//                             (fsync) before LAST_SEQUENCE moves past the
//                             handoff, removed once the server accepted it
//   pending-acks/ack-<sequence>.refused
//                             the server refused it for good (the file says
//                             why); not retried until renamed back
// Every file is written to a temporary name, fsynced, renamed and the
// folder fsynced.
//
// Acknowledgements are sent in sequence order by a thread of their own, so
// storing never waits for them. A failure the server may get over
// (UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, RESOURCE_EXHAUSTED, INTERNAL,
// UNKNOWN, CANCELLED) is retried after 0.5 s, doubling up to 10 s, for as
// long as the receiver runs; any other answer (e.g. NOT_FOUND) is final and
// leaves a .refused file.
//
// SIGINT/SIGTERM stop it promptly: the stream being read is cancelled at
// once (a handoff being stored is finished first), and so is an
// acknowledgement in flight.
//
// Exit status: 0 after --once drained what was there and every
// acknowledgement was answered, or on SIGINT/SIGTERM (pending
// acknowledgements stay on disk for the next start); 1 on a lasting error
// (--once: also when acknowledgements are still pending after 10 failed
// attempts in a row); 2 for bad usage.
//
// Test-only: when the environment variable
// COLLECTIONS_LEGAL_RECEIVER_TEST_HOLD_ACKS names a file, no acknowledgement
// is sent while that file exists (they wait in pending-acks), so that a test
// can stop the server between a stored file and its acknowledgement.
// Likewise COLLECTIONS_LEGAL_RECEIVER_TEST_HOLD_HISTORY: while the file it
// names exists, the whole history of a truncated handoff is not fetched
// (nothing is stored), so that a test can stop the server before it.
//
// The parts, in clients/legal_receiver/: stop_request.h (SIGINT/SIGTERM),
// durable_files (the files and LAST_SEQUENCE), ack_sender (the owed
// acknowledgements), history (a truncated handoff's whole history). This
// file holds the flags, the stream loop and main().
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "clients/common/args.h"
#include "clients/common/channel.h"
#include "clients/common/grpc_status.h"
#include "clients/legal_receiver/ack_sender.h"
#include "clients/legal_receiver/durable_files.h"
#include "clients/legal_receiver/history.h"
#include "clients/legal_receiver/stop_request.h"
#include "collections/v1/legal_service.grpc.pb.h"
#include "google/protobuf/util/json_util.h"

namespace {

using collections::legal_receiver::AckSender;
using collections::legal_receiver::FetchWholeHistory;
using collections::legal_receiver::HistoryFetch;
using collections::legal_receiver::ReadLastSequence;
using collections::legal_receiver::StopRequest;
using collections::legal_receiver::WriteDurably;

struct Flags {
  std::string server = "127.0.0.1:50051";
  std::string firm;
  std::string dir;
  bool once = false;  // stop when caught up instead of waiting for more
  // --tls_ca, --tls_cert, --tls_key, --token_file, --tls_server_name.
  std::map<std::string, std::string> connection;
};

bool ParseFlags(int argc, char** argv, Flags* f) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    const std::optional<collections::clients::FlagWord> flag =
        collections::clients::SplitFlagWord(a);
    auto value = [&](const char* name, std::string* out) {
      if (!flag || flag->name != name || !flag->value) return false;
      *out = *flag->value;
      return true;
    };
    if (value("server", &f->server) || value("firm", &f->firm) || value("dir", &f->dir)) continue;
    if (flag && flag->value && !collections::clients::ConnectionFlagEnv(flag->name).empty()) {
      f->connection[flag->name] = *flag->value;
      continue;
    }
    if (flag && flag->name == "once" && !flag->value) {
      f->once = true;
      continue;
    }
    if (a == "--help" || a == "-h") return false;
    fprintf(stderr, "unknown argument: %s\n", a.c_str());
    return false;
  }
  if (f->firm.empty() || f->dir.empty()) {
    fprintf(stderr, "--firm and --dir are required\n");
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, &flags)) {
    fprintf(stderr,
            "usage: collections-legal-receiver --firm=FIRM --dir=FOLDER "
            "[--server=HOST:PORT] [--once]\n"
            "  [--tls_ca=FILE] [--tls_cert=FILE --tls_key=FILE] [--token_file=FILE]\n"
            "  [--tls_server_name=NAME] (defaults: COLLECTIONS_TLS_CA, COLLECTIONS_TLS_CERT,\n"
            "  COLLECTIONS_TLS_KEY, COLLECTIONS_TOKEN_FILE, COLLECTIONS_TLS_SERVER_NAME)\n"
            "A firm's receiver normally presents its client certificate (mutual TLS).\n");
    return 2;
  }
  // The handoffs carry borrowers' personal data: owner-only, whatever the
  // caller's umask.
  umask(077);
  mkdir(flags.dir.c_str(), 0700);
  signal(SIGPIPE, SIG_IGN);
  StopRequest stop;
  StopRequest::BlockSignals();  // before gRPC starts its threads
  stop.Start();

  // Reconnect within seconds of a server coming back (gRPC's default
  // backoff grows to two minutes).
  grpc::ChannelArguments channel_args;
  channel_args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 500);
  channel_args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  absl::StatusOr<collections::clients::ConnectionOptions> connection =
      collections::clients::ConnectionOptionsFrom(
          flags.server, [&](const std::string& name) -> std::optional<std::string> {
            auto it = flags.connection.find(name);
            if (it == flags.connection.end()) return std::nullopt;
            return it->second;
          });
  absl::StatusOr<std::shared_ptr<grpc::Channel>> opened =
      connection.ok() ? collections::clients::OpenChannel(*connection, channel_args)
                      : absl::StatusOr<std::shared_ptr<grpc::Channel>>(connection.status());
  if (!opened.ok()) {
    fprintf(stderr, "receiver: %s\n", std::string(opened.status().message()).c_str());
    stop.Join();
    return 2;
  }
  std::shared_ptr<grpc::Channel> channel = *std::move(opened);
  auto stub = collections::v1::LegalService::NewStub(channel);
  int64_t last = ReadLastSequence(flags.dir);
  fprintf(stderr, "receiver: firm %s, folder %s, resuming after sequence %lld\n",
          flags.firm.c_str(), flags.dir.c_str(), static_cast<long long>(last));
  AckSender acks(stub.get(), flags.firm, flags.dir);
  if (std::string error = acks.Open(); !error.empty()) {
    fprintf(stderr, "receiver: %s\n", error.c_str());
    stop.Join();
    return 1;
  }
  if (size_t owed = acks.Pending(); owed > 0) {
    fprintf(stderr,
            "receiver: %zu acknowledgement(s) pending from an earlier run (from sequence %lld)\n",
            owed, static_cast<long long>(*acks.Owed().begin()));
  }
  std::thread ack_thread([&acks] { acks.Run(); });
  const auto finish = [&](int code) {
    acks.Stop();
    ack_thread.join();
    stop.Join();
    if (size_t owed = acks.Pending(); owed > 0) {
      fprintf(stderr,
              "receiver: %zu acknowledgement(s) still pending in %s/pending-acks; the "
              "next start retries them\n",
              owed, flags.dir.c_str());
    }
    return code;
  };

  int failures = 0;
  while (!stop.requested()) {
    grpc::ClientContext context;
    // Short-lived streams: a stop request or a lost server is noticed within
    // this bound, and each new stream resumes from the stored sequence.
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(flags.once ? 2 : 5));
    collections::v1::StreamHandoffsRequest request;
    request.set_firm_id(flags.firm);
    request.set_after_sequence(last);
    auto reader = stub->StreamHandoffs(&context, request);
    stop.SetStream(&context);
    collections::v1::Handoff handoff;
    int received = 0;
    while (!stop.requested() && reader->Read(&handoff)) {
      if (handoff.sequence() <= last) continue;  // a re-delivery: stored already
      if (handoff.history_truncated()) {
        // The whole case file first: the handoff counts as stored (and its
        // acknowledgement is owed) only with every event on disk.
        std::string error;
        const HistoryFetch fetched =
            FetchWholeHistory(stub.get(), flags.firm, flags.once, &stop, &handoff, &error);
        stop.SetStream(&context);
        if (fetched == HistoryFetch::kStopped) break;
        if (fetched == HistoryFetch::kFailed) {
          fprintf(stderr, "receiver: %s; handoff %lld is not stored or acknowledged\n",
                  error.c_str(), static_cast<long long>(handoff.sequence()));
          stop.SetStream(nullptr);
          return finish(1);
        }
        fprintf(stderr, "receiver: fetched the whole history of handoff %lld (%d events)\n",
                static_cast<long long>(handoff.sequence()), handoff.history_size());
      }
      std::string json;
      google::protobuf::util::JsonPrintOptions options;
      options.add_whitespace = true;
      options.preserve_proto_field_names = true;
      if (!google::protobuf::util::MessageToJsonString(handoff, &json, options).ok()) {
        fprintf(stderr, "receiver: cannot encode handoff %lld\n",
                static_cast<long long>(handoff.sequence()));
        stop.SetStream(nullptr);
        return finish(1);
      }
      const std::string name = "handoff-" + std::to_string(handoff.sequence()) + ".json";
      // The file, then the acknowledgement owed, then the cursor: a crash
      // between any two leaves the handoff delivered again or its
      // acknowledgement still owed, never neither.
      std::string error = WriteDurably(flags.dir, name, json);
      if (error.empty()) error = acks.Record(handoff.sequence());
      if (error.empty()) {
        error = WriteDurably(flags.dir, "LAST_SEQUENCE", std::to_string(handoff.sequence()) + "\n");
      }
      if (!error.empty()) {
        fprintf(stderr, "receiver: %s\n", error.c_str());
        stop.SetStream(nullptr);
        return finish(1);
      }
      last = handoff.sequence();
      ++received;
      fprintf(stderr, "receiver: stored %s (%s, case %lld)\n", name.c_str(),
              collections::v1::HandoffKind_Name(handoff.kind()).c_str(),
              static_cast<long long>(handoff.case_id()));
    }
    stop.SetStream(nullptr);
    if (stop.requested()) {
      context.TryCancel();
      reader->Finish();
      break;
    }
    grpc::Status status = reader->Finish();
    const bool expected_end =
        status.ok() || status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
    if (flags.once && expected_end && received == 0) {
      // Caught up; done once the server has answered every acknowledgement.
      while (!stop.requested() && acks.Pending() > 0 && acks.FailuresInARow() < 10) {
        stop.SleepFor(std::chrono::milliseconds(100));
      }
      if (!stop.requested() && acks.Pending() > 0) {
        fprintf(stderr, "receiver: giving up: the server does not answer acknowledgements\n");
        return finish(1);
      }
      break;
    }
    if (expected_end) {
      failures = 0;
      continue;
    }
    // The server is away (restarting): back off a little and resume.
    if (++failures > 60) {
      fprintf(stderr, "receiver: giving up: %s\n", status.error_message().c_str());
      return finish(1);
    }
    fprintf(stderr, "receiver: stream ended (%s); resuming after %lld\n",
            status.error_message().c_str(), static_cast<long long>(last));
    // Meanwhile drive the connection: an idle gRPC channel only notices a
    // server that came back at its next background poll (5 s), so a bare
    // sleep here kept the receiver failing for seconds after a restart.
    const auto resume_at = std::chrono::system_clock::now() + std::chrono::milliseconds(500);
    while (!stop.requested() && std::chrono::system_clock::now() < resume_at) {
      const grpc_connectivity_state state = channel->GetState(/*try_to_connect=*/true);
      channel->WaitForStateChange(state, std::min(resume_at, std::chrono::system_clock::now() +
                                                                 std::chrono::milliseconds(100)));
    }
  }
  fprintf(stderr, "receiver: stopped at sequence %lld\n", static_cast<long long>(last));
  return finish(0);
}
