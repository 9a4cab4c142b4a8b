#include "clients/legal_receiver/ack_sender.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "clients/legal_receiver/durable_files.h"

namespace collections::legal_receiver {

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

std::string AckSender::Open() {
  if (mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
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

std::string AckSender::Record(int64_t sequence) {
  std::string error = WriteDurably(dir_, Name(sequence), std::to_string(sequence) + "\n");
  if (!error.empty()) return error;
  {
    std::lock_guard<std::mutex> lock(mu_);
    owed_.insert(sequence);
  }
  cv_.notify_all();
  return "";
}

void AckSender::Run() {
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

void AckSender::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  stop_ = true;
  if (in_flight_ != nullptr) in_flight_->TryCancel();
  cv_.notify_all();
}

}  // namespace collections::legal_receiver
