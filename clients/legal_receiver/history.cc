#include "clients/legal_receiver/history.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "clients/legal_receiver/ack_sender.h"

namespace collections::legal_receiver {

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

}  // namespace collections::legal_receiver
