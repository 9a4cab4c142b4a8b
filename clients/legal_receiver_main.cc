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
#include <dirent.h>
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "clients/common/args.h"
#include "collections/v1/legal_service.grpc.pb.h"
#include "google/protobuf/util/json_util.h"

namespace {

// A stop request (SIGINT or SIGTERM), taken by a thread of its own with
// sigwait so that it can cancel the stream being read at once: the receiver
// exits promptly instead of when the stream's deadline comes. BlockSignals()
// must run before any other thread starts (gRPC's included), so that only
// that thread receives them. Thread-safe.
class StopRequest {
 public:
  static void BlockSignals() {
    sigset_t set = Signals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
  }

  void Start() {
    thread_ = std::thread([this] {
      const sigset_t set = Signals();
      int sig = 0;
      while (sigwait(&set, &sig) != 0) {
      }
      if (sig == SIGUSR1) return;  // Join(): the receiver is finishing
      std::lock_guard<std::mutex> lock(mu_);
      requested_ = true;
      if (stream_ != nullptr) stream_->TryCancel();
      cv_.notify_all();
    });
  }

  // Ends the thread (when no signal came).
  void Join() {
    if (!thread_.joinable()) return;
    pthread_kill(thread_.native_handle(), SIGUSR1);
    thread_.join();
  }

  bool requested() {
    std::lock_guard<std::mutex> lock(mu_);
    return requested_;
  }

  // The stream being read, cancelled by a stop request; nullptr before the
  // context is destroyed.
  void SetStream(grpc::ClientContext* context) {
    std::lock_guard<std::mutex> lock(mu_);
    stream_ = context;
    if (requested_ && stream_ != nullptr) stream_->TryCancel();
  }

  // Waits `d`, or less when a stop is requested.
  void SleepFor(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, d, [&] { return requested_; });
  }

 private:
  static sigset_t Signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    return set;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool requested_ = false;
  grpc::ClientContext* stream_ = nullptr;
  std::thread thread_;
};

struct Flags {
  std::string server = "127.0.0.1:50051";
  std::string firm;
  std::string dir;
  bool once = false;  // stop when caught up instead of waiting for more
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

// fsync of a folder, after a file in it was created, renamed or removed.
std::string SyncFolder(const std::string& dir) {
  int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return "open " + dir + ": " + strerror(errno);
  const int rc = fsync(dfd);
  close(dfd);
  if (rc != 0) return "fsync " + dir + ": " + strerror(errno);
  return "";
}

bool Transient(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::CANCELLED:
      return true;
    default:
      return false;
  }
}

// The acknowledgements owed to the server: one file each in
// <dir>/pending-acks, sent in sequence order by Run() (its own thread) until
// the server answers. Thread-safe.
class AckSender {
 public:
  AckSender(collections::v1::LegalService::Stub* stub, std::string firm, const std::string& dir)
      : stub_(stub), firm_(std::move(firm)), dir_(dir + "/pending-acks") {
    if (const char* gate = std::getenv("COLLECTIONS_LEGAL_RECEIVER_TEST_HOLD_ACKS")) hold_ = gate;
  }

  // Creates the folder and loads what an earlier run left owed.
  std::string Open() {
    if (mkdir(dir_.c_str(), 0755) != 0 && errno != EEXIST) {
      return "mkdir " + dir_ + ": " + strerror(errno);
    }
    std::string error = SyncFolder(dir_ + "/..");
    if (!error.empty()) return error;
    DIR* d = opendir(dir_.c_str());
    if (d == nullptr) return "open " + dir_ + ": " + strerror(errno);
    std::lock_guard<std::mutex> lock(mu_);
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      char* end = nullptr;
      if (name.rfind("ack-", 0) != 0) continue;
      const long long seq = std::strtoll(name.c_str() + 4, &end, 10);
      if (seq > 0 && end != nullptr && *end == '\0') owed_.insert(seq);
    }
    closedir(d);
    return "";
  }

  // Durably records that `sequence` is owed an acknowledgement. Call before
  // the stored sequence moves past it.
  std::string Record(int64_t sequence) {
    std::string error = WriteDurably(dir_, Name(sequence), std::to_string(sequence) + "\n");
    if (!error.empty()) return error;
    {
      std::lock_guard<std::mutex> lock(mu_);
      owed_.insert(sequence);
    }
    cv_.notify_all();
    return "";
  }

  size_t Pending() {
    std::lock_guard<std::mutex> lock(mu_);
    return owed_.size();
  }
  std::set<int64_t> Owed() {
    std::lock_guard<std::mutex> lock(mu_);
    return owed_;
  }
  int FailuresInARow() {
    std::lock_guard<std::mutex> lock(mu_);
    return failures_in_a_row_;
  }

  // Sends until Stop(); an acknowledgement in flight is cancelled then (and
  // stays owed).
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      if (owed_.empty() || Clock::now() < next_attempt_) {
        if (owed_.empty()) {
          cv_.wait(lock, [&] { return stop_ || !owed_.empty(); });
        } else {
          cv_.wait_until(lock, next_attempt_, [&] { return stop_; });
        }
        continue;
      }
      if (!hold_.empty() && access(hold_.c_str(), F_OK) == 0) {
        cv_.wait_for(lock, std::chrono::milliseconds(50), [&] { return stop_; });
        continue;
      }
      const int64_t sequence = *owed_.begin();
      grpc::ClientContext context;
      context.set_deadline(Clock::now() + std::chrono::seconds(10));
      in_flight_ = &context;
      lock.unlock();
      collections::v1::AcknowledgeHandoffRequest ack;
      ack.set_firm_id(firm_);
      ack.set_sequence(sequence);
      ack.set_accepted(true);
      collections::v1::AcknowledgeHandoffResponse ignored;
      const grpc::Status s = stub_->AcknowledgeHandoff(&context, ack, &ignored);
      const std::string name = Name(sequence);
      std::string note;
      if (s.ok()) {
        if (unlink((dir_ + "/" + name).c_str()) != 0 && errno != ENOENT) {
          note = std::string("; cannot remove it: ") + strerror(errno);
        } else {
          note = SyncFolder(dir_);
          if (!note.empty()) note = "; " + note;
        }
        fprintf(stderr, "receiver: acknowledged handoff-%lld.json%s\n",
                static_cast<long long>(sequence), note.c_str());
      } else if (!Transient(s.error_code())) {
        note = WriteDurably(dir_, name + ".refused",
                            "sequence " + std::to_string(sequence) + ": code " +
                                std::to_string(s.error_code()) + ": " + s.error_message() + "\n");
        if (note.empty() && unlink((dir_ + "/" + name).c_str()) != 0) {
          note = std::string("cannot remove ") + name + ": " + strerror(errno);
        }
        if (note.empty()) note = SyncFolder(dir_);
        fprintf(stderr,
                "receiver: the server refused the acknowledgement of handoff-%lld.json for good "
                "(code %d: %s); kept as pending-acks/%s.refused, not retried%s%s\n",
                static_cast<long long>(sequence), static_cast<int>(s.error_code()),
                s.error_message().c_str(), name.c_str(), note.empty() ? "" : "; ", note.c_str());
      }
      lock.lock();
      in_flight_ = nullptr;
      if (s.ok() || !Transient(s.error_code())) {
        owed_.erase(sequence);
        failures_in_a_row_ = 0;
        backoff_ = kFirstBackoff;
        continue;
      }
      // The server did not answer: everything owed waits, then the oldest
      // is tried again.
      ++failures_in_a_row_;
      next_attempt_ = Clock::now() + backoff_;
      fprintf(stderr,
              "receiver: could not acknowledge handoff-%lld.json (%s); %zu pending, retrying in "
              "%lld ms\n",
              static_cast<long long>(sequence), s.error_message().c_str(), owed_.size(),
              static_cast<long long>(backoff_.count()));
      backoff_ = std::min(backoff_ * 2, kLastBackoff);
    }
  }

  void Stop() {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    if (in_flight_ != nullptr) in_flight_->TryCancel();
    cv_.notify_all();
  }

 private:
  using Clock = std::chrono::system_clock;
  static constexpr std::chrono::milliseconds kFirstBackoff{500};
  static constexpr std::chrono::milliseconds kLastBackoff{10000};

  static std::string Name(int64_t sequence) { return "ack-" + std::to_string(sequence); }

  collections::v1::LegalService::Stub* const stub_;
  const std::string firm_;
  const std::string dir_;
  std::string hold_;  // test-only gate (see the top of the file)

  std::mutex mu_;
  std::condition_variable cv_;
  std::set<int64_t> owed_;
  bool stop_ = false;
  grpc::ClientContext* in_flight_ = nullptr;
  Clock::time_point next_attempt_;
  std::chrono::milliseconds backoff_ = kFirstBackoff;
  int failures_in_a_row_ = 0;
};

// How fetching a handoff's whole history ended.
enum class HistoryFetch { kDone, kStopped, kFailed };

// Replaces the history of `handoff` (history_truncated set: only the most
// recent events came with it) with the case's whole history up to the
// handoff, fetched page by page with GetHandoffHistory, and clears
// history_truncated: the stored file then holds the complete case file.
// A failure the server may get over is retried with the acknowledgements'
// backoff (0.5 s, doubling up to 10 s) for as long as the receiver runs
// (--once: up to 10 failed attempts in a row); the handoff is never stored
// or acknowledged without its whole history. `*error` says why on kFailed.
HistoryFetch FetchWholeHistory(collections::v1::LegalService::Stub* stub, const std::string& firm,
                               bool once, StopRequest* stop, collections::v1::Handoff* handoff,
                               std::string* error) {
  constexpr std::chrono::milliseconds kFirstBackoff{500};
  constexpr std::chrono::milliseconds kLastBackoff{10000};
  std::chrono::milliseconds backoff = kFirstBackoff;
  int failures_in_a_row = 0;
  const char* hold = std::getenv("COLLECTIONS_LEGAL_RECEIVER_TEST_HOLD_HISTORY");
  if (hold != nullptr && access(hold, F_OK) == 0) {
    fprintf(stderr, "receiver: test gate: holding the history fetch of handoff %lld\n",
            static_cast<long long>(handoff->sequence()));
    while (!stop->requested() && access(hold, F_OK) == 0) {
      stop->SleepFor(std::chrono::milliseconds(50));
    }
  }
  while (!stop->requested()) {
    // The whole history is fetched again after a failure: a page token is
    // only good for the answer it came with.
    google::protobuf::RepeatedPtrField<collections::v1::CaseEvent> events;
    std::string page_token;
    grpc::Status status;
    do {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      stop->SetStream(&context);
      collections::v1::GetHandoffHistoryRequest request;
      request.set_firm_id(firm);
      request.set_sequence(handoff->sequence());
      request.set_page_size(500);
      request.set_page_token(page_token);
      collections::v1::GetHandoffHistoryResponse page;
      status = stub->GetHandoffHistory(&context, request, &page);
      stop->SetStream(nullptr);
      if (!status.ok()) break;
      if (page.case_id() != handoff->case_id()) {
        *error = "GetHandoffHistory for handoff " + std::to_string(handoff->sequence()) +
                 " answered for case " + std::to_string(page.case_id()) + ", not case " +
                 std::to_string(handoff->case_id());
        return HistoryFetch::kFailed;
      }
      for (collections::v1::CaseEvent& event : *page.mutable_events()) {
        const int64_t previous = events.empty() ? 0 : events.rbegin()->sequence();
        if (event.sequence() <= previous) {
          *error = "GetHandoffHistory for handoff " + std::to_string(handoff->sequence()) +
                   " answered event " + std::to_string(event.sequence()) + " after event " +
                   std::to_string(previous);
          return HistoryFetch::kFailed;
        }
        *events.Add() = std::move(event);
      }
      if (!page.next_page_token().empty() && page.next_page_token() == page_token) {
        *error = "GetHandoffHistory for handoff " + std::to_string(handoff->sequence()) +
                 " answered the same page token twice";
        return HistoryFetch::kFailed;
      }
      page_token = page.next_page_token();
    } while (!page_token.empty());
    if (status.ok()) {
      const int64_t last_event = events.empty() ? 0 : events.rbegin()->sequence();
      if (last_event != handoff->case_().version()) {
        *error = "GetHandoffHistory for handoff " + std::to_string(handoff->sequence()) +
                 " ended at event " + std::to_string(last_event) + ", the handoff's case is at " +
                 std::to_string(handoff->case_().version());
        return HistoryFetch::kFailed;
      }
      handoff->mutable_history()->Swap(&events);
      handoff->set_history_truncated(false);
      return HistoryFetch::kDone;
    }
    if (stop->requested()) break;
    if (!Transient(status.error_code())) {
      *error = "the server refused the history of handoff " + std::to_string(handoff->sequence()) +
               " (code " + std::to_string(status.error_code()) + ": " + status.error_message() +
               ")";
      return HistoryFetch::kFailed;
    }
    if (once && ++failures_in_a_row >= 10) {
      *error = "giving up: the server does not answer GetHandoffHistory for handoff " +
               std::to_string(handoff->sequence()) + " (" + status.error_message() + ")";
      return HistoryFetch::kFailed;
    }
    fprintf(stderr,
            "receiver: could not fetch the whole history of handoff %lld (%s); not stored or "
            "acknowledged yet, retrying in %lld ms\n",
            static_cast<long long>(handoff->sequence()), status.error_message().c_str(),
            static_cast<long long>(backoff.count()));
    stop->SleepFor(backoff);
    backoff = std::min(backoff * 2, kLastBackoff);
  }
  return HistoryFetch::kStopped;
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
  signal(SIGPIPE, SIG_IGN);
  StopRequest stop;
  StopRequest::BlockSignals();  // before gRPC starts its threads
  stop.Start();

  // Reconnect within seconds of a server coming back (gRPC's default
  // backoff grows to two minutes).
  grpc::ChannelArguments channel_args;
  channel_args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 500);
  channel_args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  auto channel =
      grpc::CreateCustomChannel(flags.server, grpc::InsecureChannelCredentials(), channel_args);
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
