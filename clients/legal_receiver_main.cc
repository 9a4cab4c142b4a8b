// collections-legal-receiver: the reference receiver for legal-counsel
// systems. It subscribes to one firm's handoffs, writes each as a JSON file
// into a folder, and acknowledges a handoff only once its file is durably on
// disk. After a restart it resumes from the last sequence it stored, so
// nothing is lost; a handoff delivered again (at-least-once) is ignored.
//
//   collections-legal-receiver --server=127.0.0.1:50051 --firm=firm-shanghai
//       --dir=/var/lib/counsel/inbox [--once]
//
// Files: <dir>/handoff-<sequence>.json (the Handoff message as JSON) and
// <dir>/LAST_SEQUENCE (the highest sequence stored). Exit status: 0 after
// --once drained what was there, or on SIGINT/SIGTERM; 1 on a lasting
// error; 2 for bad usage.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "collections/v1/legal_service.grpc.pb.h"
#include "google/protobuf/util/json_util.h"

namespace {

std::atomic<bool> g_stop{false};

extern "C" void OnSignal(int) {
  g_stop = true;
  // TryCancel is not async-signal-safe in general; set a flag and let the
  // read loop's deadline notice it.
}

struct Flags {
  std::string server = "127.0.0.1:50051";
  std::string firm;
  std::string dir;
  bool once = false;  // stop when caught up instead of waiting for more
};

bool ParseFlags(int argc, char** argv, Flags* f) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* name, std::string* out) {
      std::string prefix = std::string("--") + name + "=";
      if (a.rfind(prefix, 0) != 0) return false;
      *out = a.substr(prefix.size());
      return true;
    };
    if (value("server", &f->server) || value("firm", &f->firm) || value("dir", &f->dir)) continue;
    if (a == "--once") {
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

// Writes `text` to `path` durably: a temporary file, fsync, rename, fsync
// of the folder. Returns an error message, empty on success.
std::string WriteDurably(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string tmp = dir + "/." + name + ".tmp";
  const std::string path = dir + "/" + name;
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return "open " + tmp + ": " + strerror(errno);
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = write(fd, text.data() + off, text.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::string e = "write " + tmp + ": " + strerror(errno);
      close(fd);
      return e;
    }
    off += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) {
    std::string e = "fsync " + tmp + ": " + strerror(errno);
    close(fd);
    return e;
  }
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0) return "rename " + path + ": " + strerror(errno);
  int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return "open " + dir + ": " + strerror(errno);
  const int rc = fsync(dfd);
  close(dfd);
  if (rc != 0) return "fsync " + dir + ": " + strerror(errno);
  return "";
}

int64_t ReadLastSequence(const std::string& dir) {
  std::ifstream in(dir + "/LAST_SEQUENCE");
  int64_t last = 0;
  if (in >> last) return last;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, &flags)) {
    fprintf(stderr,
            "usage: collections-legal-receiver --firm=FIRM --dir=FOLDER "
            "[--server=HOST:PORT] [--once]\n");
    return 2;
  }
  mkdir(flags.dir.c_str(), 0755);
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  signal(SIGPIPE, SIG_IGN);

  auto channel = grpc::CreateChannel(flags.server, grpc::InsecureChannelCredentials());
  auto stub = collections::v1::LegalService::NewStub(channel);
  int64_t last = ReadLastSequence(flags.dir);
  fprintf(stderr, "receiver: firm %s, folder %s, resuming after sequence %lld\n",
          flags.firm.c_str(), flags.dir.c_str(), static_cast<long long>(last));

  int failures = 0;
  while (!g_stop) {
    grpc::ClientContext context;
    // Short-lived streams: a stop request or a lost server is noticed within
    // this bound, and each new stream resumes from the stored sequence.
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(flags.once ? 2 : 5));
    collections::v1::StreamHandoffsRequest request;
    request.set_firm_id(flags.firm);
    request.set_after_sequence(last);
    auto reader = stub->StreamHandoffs(&context, request);
    collections::v1::Handoff handoff;
    int received = 0;
    while (!g_stop && reader->Read(&handoff)) {
      if (handoff.sequence() <= last) continue;  // a re-delivery: stored already
      std::string json;
      google::protobuf::util::JsonPrintOptions options;
      options.add_whitespace = true;
      options.preserve_proto_field_names = true;
      if (!google::protobuf::util::MessageToJsonString(handoff, &json, options).ok()) {
        fprintf(stderr, "receiver: cannot encode handoff %lld\n",
                static_cast<long long>(handoff.sequence()));
        return 1;
      }
      const std::string name = "handoff-" + std::to_string(handoff.sequence()) + ".json";
      std::string error = WriteDurably(flags.dir, name, json);
      if (error.empty()) {
        error = WriteDurably(flags.dir, "LAST_SEQUENCE", std::to_string(handoff.sequence()) + "\n");
      }
      if (!error.empty()) {
        fprintf(stderr, "receiver: %s\n", error.c_str());
        return 1;
      }
      last = handoff.sequence();
      ++received;
      // Only now, with the file durable, tell the server the firm has it.
      grpc::ClientContext ack_context;
      ack_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      collections::v1::AcknowledgeHandoffRequest ack;
      ack.set_firm_id(flags.firm);
      ack.set_sequence(handoff.sequence());
      ack.set_accepted(true);
      collections::v1::AcknowledgeHandoffResponse ignored;
      grpc::Status s = stub->AcknowledgeHandoff(&ack_context, ack, &ignored);
      if (!s.ok()) {
        // Stored anyway; the acknowledgement is retried by the counsel
        // system's own process. Say so.
        fprintf(stderr, "receiver: stored %s but could not acknowledge it: %s\n", name.c_str(),
                s.error_message().c_str());
      }
      fprintf(stderr, "receiver: stored %s (%s, case %lld)\n", name.c_str(),
              collections::v1::HandoffKind_Name(handoff.kind()).c_str(),
              static_cast<long long>(handoff.case_id()));
    }
    grpc::Status status = reader->Finish();
    const bool expected_end = status.ok() || status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
    if (flags.once && expected_end && received == 0) break;
    if (expected_end) {
      failures = 0;
      continue;
    }
    // The server is away (restarting): back off a little and resume.
    if (++failures > 60) {
      fprintf(stderr, "receiver: giving up: %s\n", status.error_message().c_str());
      return 1;
    }
    fprintf(stderr, "receiver: stream ended (%s); resuming after %lld\n",
            status.error_message().c_str(), static_cast<long long>(last));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  fprintf(stderr, "receiver: stopped at sequence %lld\n", static_cast<long long>(last));
  return 0;
}
