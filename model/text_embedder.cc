#include "model/text_embedder.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "model/bert_checkpoint.h"
#include "model/bert_encoder.h"
#include "model/text_embedder_impl.h"
#include "model/wordpiece_tokenizer.h"

namespace rtrec::model {

namespace {

// Freezes the tower (nothing trains it: its text vectors are features of the
// recommender, whose item projection learns), moves it to its device and
// puts it in eval mode. May throw c10::Error.
void ReadyForServing(TextEmbedder::Impl& impl) {
  for (auto& p : impl.model->parameters()) p.set_requires_grad(false);
  impl.model->to(impl.device);
  impl.model->eval();
}

}  // namespace

TextEmbedder::TextEmbedder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TextEmbedder::~TextEmbedder() = default;

absl::StatusOr<std::unique_ptr<TextEmbedder>> TextEmbedder::Create(
    const config::TextTowerOptions& options, const std::string& device) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  try {
    impl->device = torch::Device(device);
    if (!options.checkpoint_dir.empty()) {
      auto loaded = LoadBertCheckpoint(options.checkpoint_dir);
      if (!loaded.ok()) return loaded.status();
      impl->model = loaded->model;
      impl->tokenizer = std::move(loaded->tokenizer);
      const auto& c = loaded->config;
      impl->description = absl::StrCat("bert L", c.num_hidden_layers, "/H", c.hidden_size, "/A",
                                       c.num_attention_heads, " from ", options.checkpoint_dir);
      if (options.max_seq_length > c.max_position_embeddings) {
        return absl::InvalidArgumentError(absl::StrCat(
            "text_tower.max_seq_length: ", options.max_seq_length,
            " exceeds the checkpoint's max_position_embeddings ", c.max_position_embeddings));
      }
    } else {
      auto tokenizer = WordPieceTokenizer::FromVocabFile(options.vocab_path);
      if (!tokenizer.ok()) {
        return absl::Status(tokenizer.status().code(),
                            absl::StrCat("text_tower.vocab_path: ", tokenizer.status().message()));
      }
      impl->tokenizer = std::move(*tokenizer);
      BertConfig c;
      c.vocab_size = impl->tokenizer->vocab_size();
      c.hidden_size = options.hidden_size;
      c.num_hidden_layers = options.num_layers;
      c.num_attention_heads = options.num_heads;
      c.intermediate_size = options.intermediate_size;
      c.max_position_embeddings = options.max_position_embeddings;
      torch::manual_seed(static_cast<uint64_t>(options.seed));
      impl->model = BertModel(c);
      impl->description = absl::StrCat("bert L", c.num_hidden_layers, "/H", c.hidden_size, "/A",
                                       c.num_attention_heads,
                                       " random (no checkpoint: no text semantics)");
    }
    ReadyForServing(*impl);
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("text tower: ", e.what_without_backtrace()));
  }
  return std::unique_ptr<TextEmbedder>(new TextEmbedder(std::move(impl)));
}

torch::Tensor TextEmbedder::Impl::EncodeBatch(const std::vector<std::string>& texts) const {
  EncodedBatch b = tokenizer->EncodeBatch(texts, options.max_seq_length);
  auto ids = torch::from_blob(b.input_ids.data(), {b.batch_size, b.seq_len}, torch::kInt64)
                 .to(device);
  auto mask = torch::from_blob(b.attention_mask.data(), {b.batch_size, b.seq_len}, torch::kInt64)
                  .to(device);
  auto hidden = model->forward(ids, mask);
  return PoolHidden(model, hidden, mask, options.pooling);
}

absl::StatusOr<std::vector<std::vector<float>>> TextEmbedder::Embed(
    const std::vector<std::string>& texts) const {
  std::vector<std::vector<float>> out;
  out.reserve(texts.size());
  try {
    c10::InferenceMode guard;
    const size_t step = static_cast<size_t>(impl_->options.encode_batch_size);
    for (size_t start = 0; start < texts.size(); start += step) {
      std::vector<std::string> chunk(texts.begin() + start,
                                     texts.begin() + std::min(texts.size(), start + step));
      torch::Tensor pooled = impl_->EncodeBatch(chunk).to(torch::kCPU).contiguous();
      const int64_t d = pooled.size(1);
      const float* p = pooled.data_ptr<float>();
      for (int64_t r = 0; r < pooled.size(0); ++r) out.emplace_back(p + r * d, p + (r + 1) * d);
    }
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("text tower failed: ", e.what_without_backtrace()));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<TextEmbedder>> TextEmbedder::Clone() const {
  auto impl = std::make_unique<Impl>();
  impl->options = impl_->options;
  impl->device = impl_->device;
  impl->tokenizer = impl_->tokenizer;
  impl->description = impl_->description;
  try {
    torch::NoGradGuard no_grad;
    impl->model = BertModel(impl_->model->config());
    ReadyForServing(*impl);
    auto source = impl_->model->named_parameters();
    for (auto& kv : impl->model->named_parameters()) {
      kv.value().copy_(source[kv.key()].to(kv.value().device()));
    }
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("cannot copy the text tower: ", e.what_without_backtrace()));
  }
  return std::unique_ptr<TextEmbedder>(new TextEmbedder(std::move(impl)));
}

int64_t TextEmbedder::dim() const { return impl_->model->config().hidden_size; }
std::string TextEmbedder::description() const { return impl_->description; }
const WordPieceTokenizer& TextEmbedder::tokenizer() const { return *impl_->tokenizer; }

}  // namespace rtrec::model
