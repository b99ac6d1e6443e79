#include "learner/model_publisher.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "common/mutex.h"
#include "model/text_embedder.h"

namespace rtrec::learner {

void ModelPublisher::PublishAsync(std::shared_ptr<const model::ModelSnapshot> snapshot,
                                  std::function<void(absl::Status)> done) {
  catalog_writer_->Add([this, snapshot = std::move(snapshot), done = std::move(done)]() mutable {
    done(PublishNow(std::move(snapshot)));
  });
}

absl::Status ModelPublisher::Publish(std::shared_ptr<const model::ModelSnapshot> snapshot) {
  rtrec::Notification finished;
  absl::Status result;
  PublishAsync(std::move(snapshot), [&](absl::Status s) {
    result = std::move(s);
    finished.Notify();
  });
  finished.WaitForNotification();
  return result;
}

absl::Status ModelPublisher::PublishNow(std::shared_ptr<const model::ModelSnapshot> snapshot) {
  if (!snapshot || !snapshot->weights || !snapshot->text) {
    return absl::InvalidArgumentError("snapshot has no weights or no text tower");
  }
  auto serving = store_->Current();
  if (serving && serving->text != snapshot->text) {
    auto catalog = catalog_->Snapshot();
    std::vector<std::string> texts;
    texts.reserve(catalog->size());
    for (int64_t i = 0; i < catalog->size(); ++i) {
      texts.push_back(model::ItemTextForEncoding(catalog->item(i)));
    }
    auto embeddings = snapshot->text->Embed(texts);
    if (!embeddings.ok()) {
      store_->RecordRejected();
      logging::Warning("publisher", absl::StrCat("snapshot v", snapshot->version,
                                                 " refused: the catalog could not be re-encoded: ",
                                                 embeddings.status().message()));
      return embeddings.status();
    }
    auto replaced = catalog_->ReplaceTextEmbeddings(catalog->version(), std::move(*embeddings));
    if (!replaced.ok()) {
      store_->RecordRejected();
      logging::Warning("publisher", absl::StrCat("snapshot v", snapshot->version, " refused: ",
                                                 replaced.status().message()));
      return replaced.status();
    }
  }
  const int64_t version = snapshot->version;
  store_->Publish(std::move(snapshot));
  swap_log_.Log(logging::Level::kInfo, "publisher",
                absl::StrCat("model v", version, " swapped into serving (", store_->swaps(),
                             " swaps since start)"),
                absl::Now());
  return absl::OkStatus();
}

}  // namespace rtrec::learner
