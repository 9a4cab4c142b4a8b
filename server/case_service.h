// collections.v1.CaseService on the gRPC callback API. ImportDelinquencies
// reads raw frames and decodes them itself, so that a frame that does not
// decode fails the call instead of reading as the end of the stream.
// Thread-safe; the engine behind it does the work.
#ifndef COLLECTIONS_SERVER_CASE_SERVICE_H_
#define COLLECTIONS_SERVER_CASE_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "collections/v1/case_service.grpc.pb.h"
#include "server/service_context.h"

namespace collections::server {

class CaseServiceImpl final : public v1::CaseService::WithRawCallbackMethod_ImportDelinquencies<
                                  v1::CaseService::CallbackService> {
 public:
  explicit CaseServiceImpl(const ServiceContext& context) : context_(context) {}

  // The one method whose handler reads raw frames (grpc::ByteBuffer), not
  // messages: interceptors must not read its messages as protobuf ones.
  static constexpr char kImportMethod[] = "/collections.v1.CaseService/ImportDelinquencies";

  // Raw: `response` receives the encoded ImportDelinquenciesResponse.
  grpc::ServerReadReactor<grpc::ByteBuffer>* ImportDelinquencies(
      grpc::CallbackServerContext* context, grpc::ByteBuffer* response) override;

  grpc::ServerUnaryReactor* RecordPayment(grpc::CallbackServerContext* context,
                                          const v1::RecordPaymentRequest* request,
                                          v1::RecordPaymentResponse* response) override;

  grpc::ServerUnaryReactor* SignalCase(grpc::CallbackServerContext* context,
                                       const v1::SignalCaseRequest* request,
                                       v1::SignalCaseResponse* response) override;

  grpc::ServerUnaryReactor* GetCase(grpc::CallbackServerContext* context,
                                    const v1::GetCaseRequest* request,
                                    v1::GetCaseResponse* response) override;

  grpc::ServerUnaryReactor* ListCases(grpc::CallbackServerContext* context,
                                      const v1::ListCasesRequest* request,
                                      v1::ListCasesResponse* response) override;

  grpc::ServerUnaryReactor* AdvanceBusinessDate(grpc::CallbackServerContext* context,
                                                const v1::AdvanceBusinessDateRequest* request,
                                                v1::AdvanceBusinessDateResponse* response) override;

 private:
  ServiceContext context_;
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_CASE_SERVICE_H_
