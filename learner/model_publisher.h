// Puts a new model snapshot into serving.
//
// When the snapshot's text tower is the one already serving (what the
// learner publishes: it never trains the tower), publishing is one atomic
// pointer swap. When a snapshot brings a tower of its own, every catalog
// item is first re-encoded with the new tower, off the request path, and the
// catalog's embeddings are swapped just before the weights, so serving never
// scores items encoded by one tower with the projection learned for another
// for longer than the instant between the two swaps.
//
// The work runs on the catalog writer thread, the same one that encodes
// UpsertItems, so no upsert interleaves with a re-encode.
//
// Thread safety: PublishAsync/Publish may be called from any thread.
#ifndef RTREC_LEARNER_MODEL_PUBLISHER_H_
#define RTREC_LEARNER_MODEL_PUBLISHER_H_

#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "common/serial_executor.h"
#include "common/logging.h"
#include "model/catalog.h"
#include "model/model_store.h"

namespace rtrec::learner {

class ModelPublisher {
 public:
  // REQUIRES: all three outlive the publisher.
  ModelPublisher(model::ModelStore* store, model::Catalog* catalog,
                 SerialExecutor* catalog_writer)
      : store_(store), catalog_(catalog), catalog_writer_(catalog_writer) {}

  // Publishes in the background; `done` receives the outcome.
  void PublishAsync(std::shared_ptr<const model::ModelSnapshot> snapshot,
                    std::function<void(absl::Status)> done);
  // Publishes and waits for it.
  absl::Status Publish(std::shared_ptr<const model::ModelSnapshot> snapshot);

 private:
  absl::Status PublishNow(std::shared_ptr<const model::ModelSnapshot> snapshot);

  model::ModelStore* const store_;
  model::Catalog* const catalog_;
  SerialExecutor* const catalog_writer_;
  // One line per 10 s at most: the learner publishes every second.
  logging::RateLimitedLog swap_log_{absl::Seconds(10)};
};

}  // namespace rtrec::learner

#endif  // RTREC_LEARNER_MODEL_PUBLISHER_H_
