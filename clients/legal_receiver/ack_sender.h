// AckSender: the acknowledgements the legal receiver owes the server, kept
// on disk in <dir>/pending-acks and sent in order by a thread of their own
// until the server answers; and Transient, the gRPC codes it retries.
#ifndef COLLECTIONS_CLIENTS_LEGAL_RECEIVER_ACK_SENDER_H_
#define COLLECTIONS_CLIENTS_LEGAL_RECEIVER_ACK_SENDER_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>

#include "collections/v1/legal_service.grpc.pb.h"

namespace collections::legal_receiver {

// A failure the server may get over (retried).
bool Transient(grpc::StatusCode code);

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
  std::string Open();

  // Durably records that `sequence` is owed an acknowledgement. Call before
  // the stored sequence moves past it.
  std::string Record(int64_t sequence);

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
  void Run();

  void Stop();

 private:
  using Clock = std::chrono::system_clock;
  static constexpr std::chrono::milliseconds kFirstBackoff{500};
  static constexpr std::chrono::milliseconds kLastBackoff{10000};

  static std::string Name(int64_t sequence) { return "ack-" + std::to_string(sequence); }

  collections::v1::LegalService::Stub* const stub_;
  const std::string firm_;
  const std::string dir_;
  std::string hold_;  // test-only gate (see the top of legal_receiver_main.cc)

  std::mutex mu_;
  std::condition_variable cv_;
  std::set<int64_t> owed_;
  bool stop_ = false;
  grpc::ClientContext* in_flight_ = nullptr;
  Clock::time_point next_attempt_;
  std::chrono::milliseconds backoff_ = kFirstBackoff;
  int failures_in_a_row_ = 0;
};

}  // namespace collections::legal_receiver

#endif  // COLLECTIONS_CLIENTS_LEGAL_RECEIVER_ACK_SENDER_H_
