// The torch side of checkpoints (storage/checkpoints.h): a model's weights
// as a torch archive, and a snapshot restored from one.
#ifndef RTREC_LEARNER_CHECKPOINTING_H_
#define RTREC_LEARNER_CHECKPOINTING_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "model/model_store.h"

namespace rtrec::learner {

// Every named parameter and buffer of `weights`, as a torch archive.
std::string SerializeWeights(const model::ModelWeights& weights);

// Copies the archive's tensors into `weights`. Refuses, naming `source`,
// an archive that lacks one of the model's tensors or holds one of another
// shape (a checkpoint of another model configuration), or is not a torch
// archive; `weights` is unchanged then.
absl::Status LoadWeights(const std::string& archive, const std::string& source,
                         model::ModelWeights* weights);

// A new snapshot: `like` (its device and text tower) with the archive's
// weights, as `version`.
absl::StatusOr<std::shared_ptr<model::ModelSnapshot>> SnapshotFromArchive(
    const model::ModelSnapshot& like, const std::string& archive, const std::string& source,
    int64_t version);

}  // namespace rtrec::learner

#endif  // RTREC_LEARNER_CHECKPOINTING_H_
