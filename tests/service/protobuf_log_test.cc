// Protobuf's log through the server's logger: a flood of requests with
// invalid UTF-8 in a string field (raw bytes through a generic stub, as a
// fuzzer or a broken client in another language sends them) writes a
// bounded number of log lines, while the counter counts every message and
// each request still gets a clear status.
#include <gmock/gmock.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "collections/v1/case_service.grpc.pb.h"
#include "server/logging.h"
#include "tests/service/server_fixture.h"

namespace collections {
namespace {

using ::testing::HasSubstr;

class ProtobufLogTest : public testing::ServerFixture {
 protected:
  // CaseService.GetCase with `body` as the request's bytes.
  grpc::Status CallGetCase(const std::string& body) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    testing::SetCaller(context, testing::kTester);
    grpc::CompletionQueue cq;
    grpc::GenericStub stub(channel_);
    grpc::Slice slice(body);
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer response;
    grpc::Status status;
    {
      auto call =
          stub.PrepareUnaryCall(&context, "/collections.v1.CaseService/GetCase", request, &cq);
      call->StartCall();
      call->Finish(&response, &status, &response);
      void* tag = nullptr;
      bool ok = false;
      EXPECT_TRUE(cq.Next(&tag, &ok));
    }
    cq.Shutdown();
    void* tag;
    bool ok;
    while (cq.Next(&tag, &ok)) {
    }
    return status;
  }

  static int LinesWith(const std::string& log, const std::string& text) {
    int n = 0;
    for (absl::string_view line : absl::StrSplit(log, '\n')) {
      if (line.find(text) != absl::string_view::npos) ++n;
    }
    return n;
  }
};

TEST_P(ProtobufLogTest, InvalidUtf8FloodIsRateLimitedAndCounted) {
  server::RouteProtobufLogging(clock_);
  const server::ProtobufLogCounts before = server::GetProtobufLogCounts();

  // A GetCaseRequest whose loan_id is not UTF-8 ("\xc3\x28").
  v1::GetCaseRequest valid;
  valid.set_loan_id("L-@@");
  std::string body = valid.SerializeAsString();
  body.replace(body.find("@@"), 2, "\xc3\x28");

  constexpr int kRequests = 40;
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < kRequests; ++i) {
    grpc::Status s = CallGetCase(body);
    // gRPC cannot parse the request, so the service never sees it; the
    // caller is told that its request is bad (gRPC 1.51's callback API by
    // itself answers UNIMPLEMENTED with no message).
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr("could not be parsed"));
  }
  // A minute later the next one is logged again, after the summary.
  clock_->Advance(absl::Seconds(61));
  EXPECT_EQ(CallGetCase(body).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  const std::string log = ::testing::internal::GetCapturedStderr();

  EXPECT_EQ(LinesWith(log, "invalid UTF-8"), server::kProtobufLinesPerMinute + 1) << log;
  EXPECT_EQ(LinesWith(log, absl::StrCat(kRequests - server::kProtobufLinesPerMinute,
                                        " more like this suppressed")),
            1)
      << log;
  EXPECT_THAT(log, HasSubstr("GetCaseRequest.loan_id")) << log;
  const server::ProtobufLogCounts after = server::GetProtobufLogCounts();
  EXPECT_EQ(after.messages - before.messages, kRequests + 1);
  EXPECT_EQ(after.suppressed - before.suppressed, kRequests - server::kProtobufLinesPerMinute);

  // A valid request is answered as usual.
  EXPECT_EQ(CallGetCase(valid.SerializeAsString()).error_code(), grpc::StatusCode::NOT_FOUND);
}

COLLECTIONS_INSTANTIATE_BACKENDS(ProtobufLogTest);

}  // namespace
}  // namespace collections
