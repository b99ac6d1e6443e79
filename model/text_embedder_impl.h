// Torch internals of TextEmbedder; included by model/*.cc only.
#ifndef RTREC_MODEL_TEXT_EMBEDDER_IMPL_H_
#define RTREC_MODEL_TEXT_EMBEDDER_IMPL_H_

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "config/options.h"
#include "model/bert_encoder.h"
#include "model/text_embedder.h"
#include "model/wordpiece_tokenizer.h"

namespace rtrec::model {

struct TextEmbedder::Impl {
  config::TextTowerOptions options;
  torch::Device device{torch::kCPU};
  mutable BertModel model{nullptr};
  std::shared_ptr<const WordPieceTokenizer> tokenizer;
  std::string description;

  // Pooled embeddings [B, H] on `device`. Call under InferenceMode or NoGrad
  // for serving; with grad enabled, gradients reach the trainable parameters.
  torch::Tensor EncodeBatch(const std::vector<std::string>& texts) const;
};

}  // namespace rtrec::model

#endif  // RTREC_MODEL_TEXT_EMBEDDER_IMPL_H_
