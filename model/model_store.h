// Holds the model snapshot that serving uses, and swaps in new ones.
//
// A ModelSnapshot is immutable once published. Inference takes one
// shared_ptr<const ModelSnapshot> per batch (Current()); Publish() replaces the
// pointer atomically, and the old snapshot is freed when its last batch
// drops it. Nothing on the request path waits for a publish.
//
// Thread safety: all methods may be called from any thread.
#ifndef RTREC_MODEL_MODEL_STORE_H_
#define RTREC_MODEL_MODEL_STORE_H_

#include <cstdint>
#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/mutex.h"

namespace rtrec::model {

struct ModelWeights;  // torch modules; defined in model/recommender_model.h
class TextEmbedder;

struct ModelSnapshot {
  int64_t version = 0;
  std::string device;  // "cpu" or "cuda"
  std::shared_ptr<ModelWeights> weights;
  // The text tower that encodes queries and catalog items for this snapshot.
  // Shared between snapshots while it is frozen; an adapted tower is a new
  // object, and publishing it re-encodes the catalog (learner/model_publisher.h).
  std::shared_ptr<const TextEmbedder> text;
  // When the learner step whose weights these are ended (steady clock);
  // unset for a snapshot that was loaded rather than learned. Serving
  // measures from it how long a step takes to reach a Recommend
  // (rtrec_learner_step_to_served_seconds).
  std::chrono::steady_clock::time_point learned_at{};
};

// Resolves model.device ("auto" picks CUDA when present) to "cpu" or "cuda".
// Refuses "cuda" on a machine or build without it, naming the key.
// Defined in model/recommender_model.cc.
absl::StatusOr<std::string> ResolveDevice(const std::string& configured);

class ModelStore {
 public:
  std::shared_ptr<const ModelSnapshot> Current() const ABSL_LOCKS_EXCLUDED(mu_) {
    rtrec::MutexLock lock(&mu_);
    return current_;
  }
  // Makes `snapshot` the serving model. Counts a swap when one was serving.
  void Publish(std::shared_ptr<const ModelSnapshot> snapshot) ABSL_LOCKS_EXCLUDED(mu_) {
    std::shared_ptr<const ModelSnapshot> old;
    rtrec::MutexLock lock(&mu_);
    if (current_) ++swaps_;
    old = std::move(current_);  // freed after the lock is released
    current_ = std::move(snapshot);
    published_at_ = absl::Now();
  }
  // Counts a snapshot that failed its checks and was not served.
  void RecordRejected() ABSL_LOCKS_EXCLUDED(mu_) {
    rtrec::MutexLock lock(&mu_);
    ++rejected_;
  }
  int64_t swaps() const ABSL_LOCKS_EXCLUDED(mu_) {
    rtrec::MutexLock lock(&mu_);
    return swaps_;
  }
  int64_t rejected() const ABSL_LOCKS_EXCLUDED(mu_) {
    rtrec::MutexLock lock(&mu_);
    return rejected_;
  }
  // Wall-clock time of the last Publish (a metric for operators' alerts;
  // nothing in rtrec decides on it). absl::InfinitePast() before the first.
  absl::Time published_at() const ABSL_LOCKS_EXCLUDED(mu_) {
    rtrec::MutexLock lock(&mu_);
    return published_at_;
  }

 private:
  mutable rtrec::Mutex mu_;
  std::shared_ptr<const ModelSnapshot> current_ ABSL_GUARDED_BY(mu_);
  int64_t swaps_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t rejected_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time published_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace rtrec::model

#endif  // RTREC_MODEL_MODEL_STORE_H_
