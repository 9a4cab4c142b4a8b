#include "server/case_service.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/audit_engine.h"
#include "server/case_engine.h"
#include "server/rpc_util.h"
#include "workflow/dates.h"

namespace collections::server {
namespace {

// The field an error message starts with ("overdue.penalty_fen must ..."),
// for ImportRowError.field; empty when it does not start with one.
std::string FieldOf(absl::string_view message) {
  size_t end = message.find_first_of(" :");
  absl::string_view head = message.substr(0, end);
  if (head.empty()) return "";
  for (char c : head) {
    if (!(absl::ascii_isalnum(c) || c == '_' || c == '.')) return "";
  }
  return head.find('_') != absl::string_view::npos || head.find('.') != absl::string_view::npos
             ? std::string(head)
             : "";
}

// Streams feed rows into CaseEngine::Import with bounded rows in flight,
// then answers with the counts once every row's outcome is durable.
//
// Frames arrive raw and are decoded here: gRPC's own decoding reports a
// frame that does not parse exactly like the end of the stream, which would
// answer a broken stream as complete. A frame that does not decode stops
// the reading; once the rows before it are durable, the call fails with
// INVALID_ARGUMENT naming the frame's index and the outcome of the rows
// before it (each row is its own command: they stay as they landed), and
// the trailing metadata "collections-import-bad-frame" carries the index.
class ImportReactor final : public grpc::ServerReadReactor<grpc::ByteBuffer> {
 public:
  // Rows awaiting their commit before reading pauses. A group commit takes
  // what waits for the writer, so this also sizes an import's commits (about
  // half of it each): new rows land at random places in indexes ordered by
  // priority or due day (tasks_ready, cases_book), and a commit writes each
  // index page it touched once, however many of its rows went there. At
  // 2,048 a 300,000-row import wrote 5.6 GB and took 48 s; at 16,384 it
  // wrote 2.1 GB and took 27 s; at 1,000,000 rows 16,384 took 83-88 s
  // (12 GB written) and 32,768 70 s (8.8 GB) (bench/RESULTS.md). The price:
  // a command arriving during an import waits for the import's commit in
  // progress (about a second); not for the rows queued after it, which are
  // in the store's bulk lane (CaseEngine::Import).
  static constexpr int kMaxInFlight = 32768;
  // Rows per command at most (CaseEngine::ImportMany): their new cases are
  // written with a few multi-row statements instead of several each. Rows
  // gather only while an earlier chunk is with the writer.
  static constexpr size_t kChunkRows = 128;
  // Errors listed in the response; the count covers the rest.
  static constexpr int kMaxListedErrors = 10000;

  ImportReactor(CaseEngine* engine, grpc::CallbackServerContext* context,
                grpc::ByteBuffer* response, std::string actor)
      : engine_(engine), context_(context), response_(response), actor_(std::move(actor)) {
    StartRead(&frame_);
  }

  void OnReadDone(bool ok) override {
    const int64_t index = next_index_++;
    v1::ImportDelinquenciesRequest request;
    if (!ok ||
        !grpc::SerializationTraits<v1::ImportDelinquenciesRequest>::Deserialize(&frame_, &request)
             .ok()) {
      std::optional<grpc::Status> done;
      Chunk last;
      {
        absl::MutexLock lock(&mu_);
        if (ok) bad_frame_ = index;
        reading_done_ = true;  // nothing after a bad frame is read
        last = TakeChunk();
        done = TakeFinish();
      }
      if (done) {
        Finish(*done);
      } else {
        Submit(std::move(last));  // the last rows; the last outcome finishes the call
      }
      return;
    }
    Chunk ready;
    bool read_on = false;
    {
      absl::MutexLock lock(&mu_);
      ++in_flight_;
      chunk_.rows->push_back({index, request.record().loan_id()});
      chunk_.records.push_back(std::move(*request.mutable_record()));
      // A full chunk goes at once; so does any row while none of this
      // stream's chunks is with the writer (a slow feed's rows never wait
      // for the ones after them), and the rows before reading pauses.
      if (chunk_.records.size() >= kChunkRows || chunks_in_flight_ == 0 ||
          in_flight_ >= kMaxInFlight) {
        ready = TakeChunk();
      }
      if (in_flight_ < kMaxInFlight) {
        read_on = true;
      } else {
        paused_ = true;
      }
    }
    Submit(std::move(ready));
    if (read_on) StartRead(&frame_);
  }

  void OnDone() override { delete this; }

 private:
  struct ChunkRow {
    int64_t index;
    std::string loan_id;
  };
  // Rows read and not yet handed to the engine, or handed as one command.
  struct Chunk {
    std::vector<v1::DelinquencyRecord> records;
    std::shared_ptr<std::vector<ChunkRow>> rows = std::make_shared<std::vector<ChunkRow>>();
  };

  // The rows waiting, as a chunk to Submit (empty when none wait).
  Chunk TakeChunk() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Chunk taken = std::move(chunk_);
    chunk_ = Chunk();
    if (!taken.records.empty()) ++chunks_in_flight_;
    return taken;
  }

  // Hands a chunk to the engine as one command; call without mu_ (rows
  // the engine refuses at once are counted synchronously).
  void Submit(Chunk chunk) {
    if (chunk.records.empty()) return;
    auto rows = chunk.rows;
    auto left = std::make_shared<size_t>(rows->size());  // guarded by mu_
    engine_->ImportMany(
        std::move(chunk.records), actor_,
        [this, rows, left](size_t i, absl::StatusOr<ImportKind> result) {
          OnImported((*rows)[i].index, (*rows)[i].loan_id, result, left.get());
        },
        // Finished only once every row's outcome is in: alive until then.
        AliveCheck(context_));
  }

  // One row's outcome; `left` counts its chunk's rows still without one.
  void OnImported(int64_t index, const std::string& loan_id,
                  const absl::StatusOr<ImportKind>& result, size_t* left) {
    std::optional<grpc::Status> done;
    Chunk next;
    {
      absl::MutexLock lock(&mu_);
      if (--*left == 0) {
        // The chunk is done: the rows read meanwhile go now.
        --chunks_in_flight_;
        next = TakeChunk();
      }
      done = Count(index, loan_id, result);
    }
    // Outside the lock: OnDone may delete this reactor on another thread as
    // soon as Finish is called (never while rows wait: they count in
    // in_flight_).
    if (done) {
      Finish(*done);
    } else {
      Submit(std::move(next));
    }
  }

  // Counts one row's outcome; the status to finish with once it was the
  // last one.
  std::optional<grpc::Status> Count(int64_t index, const std::string& loan_id,
                                    const absl::StatusOr<ImportKind>& result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    --in_flight_;
    if (result.ok()) {
      switch (*result) {
        case ImportKind::kOpened:
          answer_.set_opened(answer_.opened() + 1);
          break;
        case ImportKind::kUpdated:
          answer_.set_updated(answer_.updated() + 1);
          break;
        case ImportKind::kUnchanged:
          answer_.set_unchanged(answer_.unchanged() + 1);
          break;
      }
    } else {
      answer_.set_rejected(answer_.rejected() + 1);
      if (answer_.errors_size() < kMaxListedErrors) {
        v1::ImportRowError* e = answer_.add_errors();
        e->set_index(index);
        e->set_loan_id(loan_id.substr(0, 64));
        const absl::Status& s = result.status();
        e->set_field(FieldOf(s.message()));
        // Bad rows are INVALID_ARGUMENT; anything else (a database that
        // went away) is worth retrying: say which.
        e->set_message(s.code() == absl::StatusCode::kInvalidArgument ||
                               s.code() == absl::StatusCode::kFailedPrecondition
                           ? std::string(s.message())
                           : s.ToString());
      }
    }
    if (paused_ && in_flight_ < kMaxInFlight / 2 && !reading_done_) {
      paused_ = false;
      StartRead(&frame_);
    }
    return TakeFinish();
  }

  // Once reading is done and every row has its outcome (and only once): the
  // status to finish the call with. The caller calls Finish after releasing
  // mu_, because OnDone may delete this reactor as soon as Finish is called.
  std::optional<grpc::Status> TakeFinish() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!reading_done_ || in_flight_ != 0 || finished_) return std::nullopt;
    finished_ = true;
    if (bad_frame_ >= 0) {
      context_->AddTrailingMetadata("collections-import-bad-frame", absl::StrCat(bad_frame_));
      return grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          absl::StrCat("frame ", bad_frame_,
                       " of the stream (0-based) is not an ImportDelinquenciesRequest that decodes "
                       "(is every string valid UTF-8?); nothing from it on was read. The ",
                       bad_frame_,
                       " rows before it were each processed on its own and stay as they "
                       "landed: ",
                       answer_.opened(), " opened, ", answer_.updated(), " updated, ",
                       answer_.unchanged(), " unchanged, ", answer_.rejected(),
                       " rejected. Fix the row and send the stream again from frame ", bad_frame_,
                       " (sending the earlier rows again is harmless: rows are idempotent per "
                       "loan_id and as_of)."));
    }
    // Errors listed in stream order.
    std::sort(answer_.mutable_errors()->begin(), answer_.mutable_errors()->end(),
              [](const v1::ImportRowError& a, const v1::ImportRowError& b) {
                return a.index() < b.index();
              });
    bool own_buffer = false;
    return grpc::SerializationTraits<v1::ImportDelinquenciesResponse>::Serialize(answer_, response_,
                                                                                 &own_buffer);
  }

  CaseEngine* const engine_;
  grpc::CallbackServerContext* const context_;
  grpc::ByteBuffer* const response_;
  const std::string actor_;
  grpc::ByteBuffer frame_;  // touched by one read at a time
  int64_t next_index_ = 0;  // likewise
  absl::Mutex mu_;
  v1::ImportDelinquenciesResponse answer_ ABSL_GUARDED_BY(mu_);
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;  // rows without an outcome yet
  Chunk chunk_ ABSL_GUARDED_BY(mu_);        // rows read, not yet submitted
  int chunks_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  bool reading_done_ ABSL_GUARDED_BY(mu_) = false;
  int64_t bad_frame_ ABSL_GUARDED_BY(mu_) = -1;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

grpc::ServerReadReactor<grpc::ByteBuffer>* CaseServiceImpl::ImportDelinquencies(
    grpc::CallbackServerContext* context, grpc::ByteBuffer* response) {
  absl::StatusOr<security::Principal> caller = context_.gate->Admit(*context, kImportMethod);
  if (!caller.ok()) {
    return new FinishNowReactor<grpc::ServerReadReactor<grpc::ByteBuffer>>(
        ToGrpcStatus(caller.status()));
  }
  return new ImportReactor(context_.cases, context, response, caller->name);
}

grpc::ServerUnaryReactor* CaseServiceImpl::RecordPayment(grpc::CallbackServerContext* context,
                                                         const v1::RecordPaymentRequest* request,
                                                         v1::RecordPaymentResponse* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.CaseService/RecordPayment");
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  context_.cases->RecordPayment(*request, caller->name, AnswerWith(reactor, response),
                                AliveCheck(context));
  return reactor;
}

grpc::ServerUnaryReactor* CaseServiceImpl::SignalCase(grpc::CallbackServerContext* context,
                                                      const v1::SignalCaseRequest* request,
                                                      v1::SignalCaseResponse* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.CaseService/SignalCase");
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  context_.cases->Signal(*request, caller->name, AnswerWith(reactor, response),
                         AliveCheck(context));
  return reactor;
}

grpc::ServerUnaryReactor* CaseServiceImpl::GetCase(grpc::CallbackServerContext* context,
                                                   const v1::GetCaseRequest* request,
                                                   v1::GetCaseResponse* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.CaseService/GetCase");
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // The row names the case and the page, never what the case file holds.
  const std::string page = request->events_page_token().empty()
                               ? std::string("first events page")
                               : absl::StrCat("events page ", request->events_page_token());
  ScheduleUnary(context, context_.executor, reactor,
                [this, reactor, request, response, page,
                 audit = AuditEntryFor(*caller, "GetCase", 0, "")]() mutable {
                  absl::StatusOr<v1::GetCaseResponse> result;
                  if (request->target_case() == v1::GetCaseRequest::kCaseId) {
                    // The case is known: record while reading.
                    audit.case_id = request->case_id();
                    audit.detail = page;
                    absl::Status recorded = RecordedRead(*context_.store, std::move(audit), [&] {
                      result = context_.cases->GetCase(*request);
                    });
                    if (!recorded.ok()) result = recorded;
                  } else {
                    result = context_.cases->GetCase(*request);
                    if (result.ok()) {
                      audit.case_id = result->case_().case_id();
                      audit.detail = absl::StrCat("by loan id, ", page);
                      absl::Status recorded = RecordAfterRead(*context_.store, std::move(audit));
                      if (!recorded.ok()) result = recorded;
                    }
                  }
                  FinishWith(reactor, response, std::move(result));
                });
  return reactor;
}

grpc::ServerUnaryReactor* CaseServiceImpl::ListCases(grpc::CallbackServerContext* context,
                                                     const v1::ListCasesRequest* request,
                                                     v1::ListCasesResponse* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.CaseService/ListCases");
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ScheduleUnary(context, context_.executor, reactor, [this, reactor, request, response] {
    FinishWith(reactor, response, context_.cases->ListCases(*request));
  });
  return reactor;
}

grpc::ServerUnaryReactor* CaseServiceImpl::AdvanceBusinessDate(
    grpc::CallbackServerContext* context, const v1::AdvanceBusinessDateRequest* request,
    v1::AdvanceBusinessDateResponse* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.CaseService/AdvanceBusinessDate");
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  absl::StatusOr<absl::CivilDay> to = workflow::DayFromProto(request->to(), "to");
  if (!to.ok()) return FinishUnary(context, ToGrpcStatus(to.status()));
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ScheduleUnary(context, context_.executor, reactor,
                [this, reactor, response, day = *to,
                 by = AuditEntryFor(*caller, "AdvanceBusinessDate", 0, "")] {
                  FinishWith(reactor, response, context_.cases->AdvanceTo(day, by));
                });
  return reactor;
}

}  // namespace collections::server
