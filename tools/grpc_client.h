// Client-side helpers shared by rtrec's gRPC tools (rtrec-sim,
// rtrec-bandit-bench): status conversion and catalog upload.
#ifndef RTREC_TOOLS_GRPC_CLIENT_H_
#define RTREC_TOOLS_GRPC_CLIENT_H_

#include <algorithm>
#include <chrono>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "model/catalog.h"
#include "rtrec/v1/recommender.grpc.pb.h"

namespace rtrec::tools {

inline absl::Status ToAbsl(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
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
