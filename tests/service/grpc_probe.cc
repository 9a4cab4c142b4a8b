#include "tests/service/grpc_probe.h"

#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/generic/generic_stub.h>

#include <string>
#include <vector>

#include "tests/service/call_context.h"

namespace collections::testing {
namespace {

using google::protobuf::UnknownField;
using google::protobuf::UnknownFieldSet;

grpc::ByteBuffer ToBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::string FromBuffer(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const grpc::Slice& s : slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

// Waits for the one outstanding operation on `cq`.
bool Await(grpc::CompletionQueue& cq, void* expected) {
  void* tag = nullptr;
  bool ok = false;
  if (!cq.Next(&tag, &ok)) return false;
  return ok && tag == expected;
}

void Drain(grpc::CompletionQueue& cq) {
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }
}

grpc::Status Malformed(const std::string& what) {
  return grpc::Status(grpc::StatusCode::INTERNAL, "malformed " + what + " from the server");
}

}  // namespace

grpc::Status CheckHealth(const std::shared_ptr<grpc::Channel>& channel, const std::string& service,
                         absl::Duration timeout, bool wait_for_ready, Serving* serving) {
  // HealthCheckRequest { string service = 1; }
  UnknownFieldSet request;
  if (!service.empty()) request.AddLengthDelimited(1, service);
  std::string request_bytes;
  request.SerializeToString(&request_bytes);

  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  context.set_wait_for_ready(wait_for_ready);
  grpc::CompletionQueue cq;
  grpc::GenericStub stub(channel);
  grpc::ByteBuffer request_buffer = ToBuffer(request_bytes);
  grpc::ByteBuffer response;
  grpc::Status status;
  {
    auto call =
        stub.PrepareUnaryCall(&context, "/grpc.health.v1.Health/Check", request_buffer, &cq);
    call->StartCall();
    call->Finish(&response, &status, &response);
    Await(cq, &response);
  }
  Drain(cq);
  if (!status.ok()) return status;

  // HealthCheckResponse { ServingStatus status = 1; }
  UnknownFieldSet fields;
  if (!fields.ParseFromString(FromBuffer(response))) {
    return Malformed("HealthCheckResponse");
  }
  *serving = Serving::kUnknown;
  for (int i = 0; i < fields.field_count(); ++i) {
    const UnknownField& f = fields.field(i);
    if (f.number() == 1 && f.type() == UnknownField::TYPE_VARINT) {
      *serving = static_cast<Serving>(f.varint());
    }
  }
  return grpc::Status::OK;
}

grpc::Status ListServices(const std::shared_ptr<grpc::Channel>& channel, absl::Duration timeout,
                          std::vector<std::string>* services) {
  // ServerReflectionRequest { oneof { string list_services = 7; } }
  UnknownFieldSet request;
  request.AddLengthDelimited(7, "*");
  std::string request_bytes;
  request.SerializeToString(&request_bytes);

  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  // Reflection is open to every authenticated caller; health to anyone.
  SetCaller(context, kTester);
  grpc::CompletionQueue cq;
  grpc::GenericStub stub(channel);
  grpc::ByteBuffer request_buffer = ToBuffer(request_bytes);
  grpc::ByteBuffer response;
  grpc::Status status;
  bool got_response = false;
  {
    auto call = stub.PrepareCall(
        &context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
    int start, write, writes_done, read, finish;
    call->StartCall(&start);
    if (Await(cq, &start)) {
      call->Write(request_buffer, &write);
      if (Await(cq, &write)) {
        call->WritesDone(&writes_done);
        if (Await(cq, &writes_done)) {
          call->Read(&response, &read);
          got_response = Await(cq, &read);
        }
      }
    }
    call->Finish(&status, &finish);
    Await(cq, &finish);
  }
  Drain(cq);
  if (!status.ok()) return status;
  if (!got_response) return Malformed("empty reflection stream");

  // ServerReflectionResponse { ListServiceResponse list_services_response = 6;
  //                            ErrorResponse error_response = 7; }
  // ListServiceResponse { repeated ServiceResponse service = 1; }
  // ServiceResponse { string name = 1; }
  // ErrorResponse { int32 error_code = 1; string error_message = 2; }
  UnknownFieldSet fields;
  if (!fields.ParseFromString(FromBuffer(response))) {
    return Malformed("ServerReflectionResponse");
  }
  services->clear();
  for (int i = 0; i < fields.field_count(); ++i) {
    const UnknownField& f = fields.field(i);
    if (f.type() != UnknownField::TYPE_LENGTH_DELIMITED) continue;
    UnknownFieldSet inner;
    if (!inner.ParseFromString(f.length_delimited())) {
      return Malformed("reflection sub-message");
    }
    if (f.number() == 7) {
      std::string message = "reflection error";
      for (int j = 0; j < inner.field_count(); ++j) {
        if (inner.field(j).number() == 2 &&
            inner.field(j).type() == UnknownField::TYPE_LENGTH_DELIMITED) {
          message = inner.field(j).length_delimited();
        }
      }
      return grpc::Status(grpc::StatusCode::UNKNOWN, message);
    }
    if (f.number() != 6) continue;
    for (int j = 0; j < inner.field_count(); ++j) {
      const UnknownField& svc = inner.field(j);
      if (svc.number() != 1 || svc.type() != UnknownField::TYPE_LENGTH_DELIMITED) {
        continue;
      }
      UnknownFieldSet service_fields;
      if (!service_fields.ParseFromString(svc.length_delimited())) {
        return Malformed("ServiceResponse");
      }
      for (int k = 0; k < service_fields.field_count(); ++k) {
        const UnknownField& name = service_fields.field(k);
        if (name.number() == 1 && name.type() == UnknownField::TYPE_LENGTH_DELIMITED) {
          services->push_back(name.length_delimited());
        }
      }
    }
  }
  return grpc::Status::OK;
}

}  // namespace collections::testing
