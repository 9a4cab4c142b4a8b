// FetchWholeHistory: the whole case history of a handoff that came with
// only its most recent events, for the legal receiver.
#ifndef COLLECTIONS_CLIENTS_LEGAL_RECEIVER_HISTORY_H_
#define COLLECTIONS_CLIENTS_LEGAL_RECEIVER_HISTORY_H_

#include <string>

#include "clients/legal_receiver/stop_request.h"
#include "collections/v1/legal_service.grpc.pb.h"

namespace collections::legal_receiver {

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
                               std::string* error);

}  // namespace collections::legal_receiver

#endif  // COLLECTIONS_CLIENTS_LEGAL_RECEIVER_HISTORY_H_
