#include "server/legal_service.h"

#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/audit_engine.h"
#include "server/handoff_notifier.h"
#include "server/rpc_util.h"

namespace collections::server {
namespace {

// One firm's subscription: records its opening in the audit log (the
// handoffs carry borrowers' names, phones and addresses), then sends its
// handoffs after `after` in order and waits for more. Nothing is sent
// before the audit row is durable; if it cannot be written the stream ends
// with that error. Lifetime: deleted when gRPC is done with it and no
// fetch, wait or audit write still refers to it.
class HandoffStream final : public grpc::ServerWriteReactor<v1::Handoff> {
 public:
  HandoffStream(const ServiceContext& context, const LegalEngine& engine, std::string firm,
                int64_t after, storage::AuditEntry audit)
      : context_(context), engine_(engine), firm_(std::move(firm)), after_(after) {
    Hold();
    RecordRead(*context_.store, std::move(audit), [this](absl::Status recorded) {
      if (recorded.ok()) {
        Fetch();
      } else {
        absl::MutexLock lock(&mu_);
        FinishLocked(grpc::Status(static_cast<grpc::StatusCode>(recorded.code()),
                                  absl::StrCat("the stream could not be recorded in the audit "
                                               "log: ",
                                               recorded.message())));
      }
      Release();
    });
  }

  void OnWriteDone(bool ok) override {
    bool fetch = false;
    {
      absl::MutexLock lock(&mu_);
      if (finishing_) return;
      if (!ok) {
        FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "stream broken"));
        return;
      }
      after_ = queue_.front().sequence();
      queue_.pop_front();
      if (!queue_.empty()) {
        StartWrite(&queue_.front());
      } else {
        fetch = true;
      }
    }
    if (fetch) Fetch();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client"));
  }

  void OnDone() override {
    bool last = false;
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
      last = outstanding_ == 0;
    }
    if (last) delete this;
  }

 private:
  // Reads what came after `after_` off the gRPC threads.
  void Fetch() {
    Hold();
    const uint64_t epoch = context_.handoffs->epoch();
    int64_t after;
    {
      absl::MutexLock lock(&mu_);
      after = after_;
    }
    context_.executor->Schedule([this, epoch, after] {
      Fetched(epoch, engine_.NextHandoffs(firm_, after));
      Release();
    });
  }

  void Fetched(uint64_t epoch, absl::StatusOr<std::vector<v1::Handoff>> result) {
    absl::MutexLock lock(&mu_);
    if (finishing_) return;
    if (!result.ok()) {
      FinishLocked(ToGrpcStatus(result.status()));
      return;
    }
    if (result->empty()) {
      ++outstanding_;
      mu_.Unlock();
      context_.handoffs->Wait(epoch, [this](bool stopping) {
        if (stopping) {
          absl::MutexLock lock(&mu_);
          FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                    "the server is shutting down; resume from the last sequence"));
        } else {
          Fetch();
        }
        Release();
      });
      mu_.Lock();
      return;
    }
    for (v1::Handoff& h : *result) queue_.push_back(std::move(h));
    StartWrite(&queue_.front());
  }

  void FinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finishing_) return;
    finishing_ = true;
    Finish(std::move(status));
  }

  void Hold() {
    absl::MutexLock lock(&mu_);
    ++outstanding_;
  }
  void Release() {
    bool last = false;
    {
      absl::MutexLock lock(&mu_);
      last = --outstanding_ == 0 && done_;
    }
    if (last) delete this;
  }

  const ServiceContext context_;
  const LegalEngine engine_;
  const std::string firm_;
  absl::Mutex mu_;
  int64_t after_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::Handoff> queue_ ABSL_GUARDED_BY(mu_);  // front: being written
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  int outstanding_ ABSL_GUARDED_BY(mu_) = 0;  // fetches and waits in flight
};

// A firm sees and reports on only its own handoffs: the firm a request
// names must be the caller's (from its certificate or token).
absl::StatusOr<security::Principal> SpeaksForFirm(security::Principal caller,
                                                  const std::string& firm_id) {
  if (caller.firm_id.empty()) {
    return absl::PermissionDeniedError(absl::StrCat(
        caller.name,
        " speaks for no legal firm (its certificate mapping or token has no firm_id)"));
  }
  if (firm_id != caller.firm_id) {
    return absl::PermissionDeniedError(
        absl::StrCat(caller.name, " speaks for firm ", caller.firm_id, ", not \"", firm_id, "\""));
  }
  return caller;
}

}  // namespace

LegalServiceImpl::LegalServiceImpl(const ServiceContext& context)
    : context_(context), engine_(context.store, context.clock, context.policies, context.cases) {}

grpc::ServerWriteReactor<v1::Handoff>* LegalServiceImpl::StreamHandoffs(
    grpc::CallbackServerContext* context, const v1::StreamHandoffsRequest* request) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.LegalService/StreamHandoffs");
  if (caller.ok()) caller = SpeaksForFirm(*std::move(caller), request->firm_id());
  if (!caller.ok()) {
    return new FinishNowReactor<grpc::ServerWriteReactor<v1::Handoff>>(
        ToGrpcStatus(caller.status()));
  }
  if (absl::Status invalid = LegalEngine::CheckStream(*request); !invalid.ok()) {
    return new FinishNowReactor<grpc::ServerWriteReactor<v1::Handoff>>(ToGrpcStatus(invalid));
  }
  return new HandoffStream(
      context_, engine_, request->firm_id(), request->after_sequence(),
      AuditEntryFor(*caller, "StreamHandoffs", 0,
                    absl::StrCat("firm ", request->firm_id(), ", handoffs after sequence ",
                                 request->after_sequence())));
}

grpc::ServerUnaryReactor* LegalServiceImpl::AcknowledgeHandoff(
    grpc::CallbackServerContext* context, const v1::AcknowledgeHandoffRequest* request,
    v1::AcknowledgeHandoffResponse* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.LegalService/AcknowledgeHandoff");
  if (caller.ok()) caller = SpeaksForFirm(*std::move(caller), request->firm_id());
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  if (absl::Status invalid = LegalEngine::CheckAcknowledge(*request); !invalid.ok()) {
    return FinishUnary(context, ToGrpcStatus(invalid));
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  engine_.Acknowledge(*request, caller->name, AnswerWith(reactor, response), AliveCheck(context));
  return reactor;
}

grpc::ServerUnaryReactor* LegalServiceImpl::ReportLegalMilestone(
    grpc::CallbackServerContext* context, const v1::ReportLegalMilestoneRequest* request,
    v1::ReportLegalMilestoneResponse* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.LegalService/ReportLegalMilestone");
  if (caller.ok()) caller = SpeaksForFirm(*std::move(caller), request->milestone().firm_id());
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  if (absl::Status invalid = LegalEngine::CheckMilestone(*request); !invalid.ok()) {
    return FinishUnary(context, ToGrpcStatus(invalid));
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  engine_.ReportMilestone(*request, caller->name, AnswerWith(reactor, response),
                          AliveCheck(context));
  return reactor;
}

grpc::ServerUnaryReactor* LegalServiceImpl::GetHandoffHistory(
    grpc::CallbackServerContext* context, const v1::GetHandoffHistoryRequest* request,
    v1::GetHandoffHistoryResponse* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.LegalService/GetHandoffHistory");
  if (caller.ok()) caller = SpeaksForFirm(*std::move(caller), request->firm_id());
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  absl::StatusOr<int64_t> after = LegalEngine::CheckHistory(*request);
  if (!after.ok()) return FinishUnary(context, ToGrpcStatus(after.status()));
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ScheduleUnary(context, context_.executor, reactor,
                [this, reactor, request, response, after = *after,
                 audit = AuditEntryFor(*caller, "GetHandoffHistory", 0, "")]() mutable {
                  absl::StatusOr<v1::GetHandoffHistoryResponse> result =
                      engine_.History(*request, after);
                  if (result.ok()) {
                    audit.case_id = result->case_id();
                    audit.detail = absl::StrCat("firm ", request->firm_id(), ", handoff ",
                                                request->sequence(), ", events after ", after);
                    absl::Status recorded = RecordAfterRead(*context_.store, std::move(audit));
                    if (!recorded.ok()) result = recorded;
                  }
                  FinishWith(reactor, response, std::move(result));
                });
  return reactor;
}

}  // namespace collections::server
