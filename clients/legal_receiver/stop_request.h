// StopRequest: how collections-legal-receiver takes SIGINT and SIGTERM (a
// thread of its own with sigwait, cancelling the stream being read).
#ifndef COLLECTIONS_CLIENTS_LEGAL_RECEIVER_STOP_REQUEST_H_
#define COLLECTIONS_CLIENTS_LEGAL_RECEIVER_STOP_REQUEST_H_

#include <grpcpp/grpcpp.h>
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace collections::legal_receiver {

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

}  // namespace collections::legal_receiver

#endif  // COLLECTIONS_CLIENTS_LEGAL_RECEIVER_STOP_REQUEST_H_
