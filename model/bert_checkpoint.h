// Loading (and saving) Hugging Face format BERT checkpoint folders:
// config.json, vocab.txt and model.safetensors (F32, F16 or BF16).
//
// Parameter names may carry the "bert." prefix or not. Pre-training heads
// ("cls.*") and the "position_ids" buffer are skipped and listed; every other
// unexpected tensor, every missing tensor and every shape mismatch is an
// error that names the tensor. All problems are reported at once.
//
// Thread safety: free functions; the returned model is owned by the caller.
#ifndef RTREC_MODEL_BERT_CHECKPOINT_H_
#define RTREC_MODEL_BERT_CHECKPOINT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "model/bert_encoder.h"
#include "model/safetensors.h"
#include "model/wordpiece_tokenizer.h"

namespace rtrec::model {

// Parses config.json text. Errors name the key. `what` names the source.
absl::StatusOr<BertConfig> ParseBertConfigJson(const std::string& text,
                                               const std::string& what);

// Copies the file's tensors into the model's parameters (converted to float).
// On error the model may be partly written.
absl::Status LoadBertWeights(BertModel& model, const SafetensorsFile& file,
                             const std::string& what,
                             std::vector<std::string>* skipped = nullptr);

struct LoadedBert {
  BertConfig config;
  BertModel model{nullptr};
  std::unique_ptr<WordPieceTokenizer> tokenizer;
  std::vector<std::string> skipped_tensors;
};

absl::StatusOr<LoadedBert> LoadBertCheckpoint(const std::string& dir);

// Writes config.json, vocab.txt and model.safetensors (dtype F32/F16/BF16).
absl::Status SaveBertCheckpoint(BertModel& model, const std::vector<std::string>& vocab,
                                const std::string& dir, const std::string& dtype);

}  // namespace rtrec::model

#endif  // RTREC_MODEL_BERT_CHECKPOINT_H_
