// Client-side helpers shared by rtrec's gRPC tools (rtrec-sim,
// rtrec-bandit-bench, rtrec-cli) and the server tests: status conversion,
// the google.rpc details of an error, and catalog upload.
#ifndef RTREC_TOOLS_GRPC_CLIENT_H_
#define RTREC_TOOLS_GRPC_CLIENT_H_

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "model/catalog.h"
#include "rtrec/v1/recommender.grpc.pb.h"

namespace rtrec::tools {

inline absl::Status ToAbsl(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

// The google.rpc details of an error status (server/grpc_status.h), decoded.
struct ErrorDetails {
  bool present = false;   // a google.rpc.Status with the call's code came with it
  std::string reason;     // ErrorInfo.reason
  std::string domain;     // ErrorInfo.domain
  int64_t retry_ms = -1;  // RetryInfo.retry_delay; -1 when absent
  std::vector<std::pair<std::string, std::string>> violations;  // BadRequest
};

inline ErrorDetails DecodeErrorDetails(const grpc::Status& status) {
  ErrorDetails out;
  google::rpc::Status details;
  if (status.error_details().empty() || !details.ParseFromString(status.error_details())) return out;
  out.present = details.code() == static_cast<int>(status.error_code());
  for (const auto& any : details.details()) {
    google::rpc::ErrorInfo info;
    google::rpc::RetryInfo retry;
    google::rpc::BadRequest bad;
    if (any.UnpackTo(&info)) {
      out.reason = info.reason();
      out.domain = info.domain();
    } else if (any.UnpackTo(&retry)) {
      out.retry_ms = retry.retry_delay().seconds() * 1000 + retry.retry_delay().nanos() / 1000000;
    } else if (any.UnpackTo(&bad)) {
      for (const auto& v : bad.field_violations()) out.violations.emplace_back(v.field(), v.description());
    }
  }
  return out;
}

// Upserts `items` in chunks of 100 (60 s deadline each).
inline absl::Status UpsertCatalogItems(rtrec::v1::Recommender::Stub& stub,
                                       const std::vector<model::CatalogItem>& items) {
  constexpr size_t kChunk = 100;
  for (size_t from = 0; from < items.size(); from += kChunk) {
    rtrec::v1::UpsertItemsRequest req;
    for (size_t i = from; i < std::min(items.size(), from + kChunk); ++i) {
      auto* out = req.add_items();
      out->set_item_id(items[i].item_id);
      out->set_title(items[i].title);
      out->set_text(items[i].text);
      for (const auto& tag : items[i].tags) out->add_tags(tag);
    }
    rtrec::v1::UpsertItemsResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    if (auto s = ToAbsl(stub.UpsertItems(&ctx, req, &resp)); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace rtrec::tools

#endif  // RTREC_TOOLS_GRPC_CLIENT_H_
