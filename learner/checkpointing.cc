#include "learner/checkpointing.h"

#include <sstream>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "model/recommender_model.h"

namespace rtrec::learner {
namespace {

std::string ShapeOf(const torch::Tensor& t) {
  std::string out = "[";
  for (int64_t i = 0; i < t.dim(); ++i) absl::StrAppend(&out, i ? "," : "", t.size(i));
  return out + "]";
}

}  // namespace

std::string SerializeWeights(const model::ModelWeights& weights) {
  torch::NoGradGuard no_grad;
  torch::serialize::OutputArchive archive;
  for (const auto& p : weights.model->named_parameters()) {
    archive.write(p.key(), p.value().detach().to(torch::kCPU));
  }
  for (const auto& b : weights.model->named_buffers()) {
    archive.write(b.key(), b.value().to(torch::kCPU), /*is_buffer=*/true);
  }
  std::ostringstream out;
  archive.save_to(out);
  return out.str();
}

absl::Status LoadWeights(const std::string& archive_bytes, const std::string& source,
                         model::ModelWeights* weights) {
  torch::NoGradGuard no_grad;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;  // into, from
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(archive_bytes.data(), archive_bytes.size(), torch::kCPU);
    auto take = [&](const std::string& name, torch::Tensor into, bool buffer) -> absl::Status {
      torch::Tensor from;
      if (!archive.try_read(name, from, buffer)) {
        return absl::FailedPreconditionError(
            absl::StrCat(source, ": has no tensor '", name, "' (made by another model version)"));
      }
      if (!from.sizes().equals(into.sizes())) {
        return absl::FailedPreconditionError(absl::StrCat(
            source, ": tensor '", name, "' is ", ShapeOf(from), ", this model's is ", ShapeOf(into),
            " (the checkpoint was made with other model or catalog settings)"));
      }
      copies.emplace_back(into, from);
      return absl::OkStatus();
    };
    for (const auto& p : weights->model->named_parameters()) {
      if (auto s = take(p.key(), p.value(), false); !s.ok()) return s;
    }
    for (const auto& b : weights->model->named_buffers()) {
      if (auto s = take(b.key(), b.value(), true); !s.ok()) return s;
    }
    for (auto& [into, from] : copies) into.copy_(from.to(into.device(), into.scalar_type()));
  } catch (const c10::Error& e) {
    return absl::DataLossError(
        absl::StrCat(source, ": the weights are not a readable torch archive: ", e.what_without_backtrace()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<model::ModelSnapshot>> SnapshotFromArchive(
    const model::ModelSnapshot& like, const std::string& archive, const std::string& source,
    int64_t version) {
  std::shared_ptr<model::ModelSnapshot> snapshot;
  try {
    snapshot = model::CloneSnapshot(like, version);
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("cannot copy the model: ", e.what_without_backtrace()));
  }
  if (auto s = LoadWeights(archive, source, snapshot->weights.get()); !s.ok()) return s;
  return snapshot;
}

}  // namespace rtrec::learner
