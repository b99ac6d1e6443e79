// The text tower as the rest of rtrec sees it: text in, one vector per text
// out. Behind it a WordPiece tokenizer and a BERT encoder, either loaded from
// a Hugging Face checkpoint folder (text_tower.checkpoint_dir) or, when none is
// configured, initialised at random with the configured shape (demo only: a
// random BERT has no text semantics).
//
// Thread safety: Embed() may be called from any thread concurrently.
#ifndef RTREC_MODEL_TEXT_EMBEDDER_H_
#define RTREC_MODEL_TEXT_EMBEDDER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "config/options.h"

namespace rtrec::model {

class WordPieceTokenizer;

class TextEmbedder {
 public:
  // `device` is "cpu" or "cuda".
  static absl::StatusOr<std::unique_ptr<TextEmbedder>> Create(
      const config::TextTowerOptions& options, const std::string& device);
  ~TextEmbedder();

  // Pooled BERT output per text, in batches of text_tower.encode_batch_size.
  absl::StatusOr<std::vector<std::vector<float>>> Embed(
      const std::vector<std::string>& texts) const;

  // A deep copy of the weights that can be changed without touching this
  // one (a snapshot with a tower of its own; see learner/model_publisher.h).
  absl::StatusOr<std::unique_ptr<TextEmbedder>> Clone() const;

  int64_t dim() const;
  // e.g. "bert L2/H128/A2 random (no checkpoint)".
  std::string description() const;
  const WordPieceTokenizer& tokenizer() const;

  // Torch internals, for the model code (model/*.cc) only.
  struct Impl;
  Impl* impl() const { return impl_.get(); }

 private:
  explicit TextEmbedder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rtrec::model

#endif  // RTREC_MODEL_TEXT_EMBEDDER_H_
