// BERT encoder as torch::nn modules whose parameter names match Hugging Face
// BERT checkpoints: embeddings.word_embeddings.weight,
// encoder.layer.N.attention.self.query.weight, ..., pooler.dense.weight.
//
// Thread safety: forward() does not mutate the module and may run on several
// threads at once (serving uses eval mode under InferenceMode).
#ifndef RTREC_MODEL_BERT_ENCODER_H_
#define RTREC_MODEL_BERT_ENCODER_H_

#include <string>

#include <torch/torch.h>

namespace rtrec::model {

struct BertConfig {
  int64_t vocab_size = 30522;
  int64_t hidden_size = 128;
  int64_t num_hidden_layers = 2;
  int64_t num_attention_heads = 2;
  int64_t intermediate_size = 512;
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;
  double layer_norm_eps = 1e-12;
  std::string hidden_act = "gelu";  // gelu | gelu_new | relu
};

// Linear layer y = xWᵀ + b initialised as BERT's (W ~ N(0, 0.02²), b = 0).
class BertLinearImpl : public torch::nn::Module {
 public:
  BertLinearImpl(int64_t in, int64_t out);
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight, bias;
};
TORCH_MODULE(BertLinear);

class BertEmbeddingsImpl : public torch::nn::Module {
 public:
  explicit BertEmbeddingsImpl(const BertConfig& c);
  torch::Tensor forward(const torch::Tensor& input_ids);
  torch::nn::Embedding word_embeddings{nullptr}, position_embeddings{nullptr},
      token_type_embeddings{nullptr};
  torch::nn::LayerNorm layer_norm{nullptr};
};
TORCH_MODULE(BertEmbeddings);

class BertSelfAttentionImpl : public torch::nn::Module {
 public:
  explicit BertSelfAttentionImpl(const BertConfig& c);
  // additive_mask: [B, 1, 1, T], 0 for tokens and a large negative for padding.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& additive_mask);
  BertLinear query{nullptr}, key{nullptr}, value{nullptr};
  int64_t heads, head_dim;
};
TORCH_MODULE(BertSelfAttention);

// dense + dropout-free residual LayerNorm, shared by attention.output and output.
class BertResidualOutputImpl : public torch::nn::Module {
 public:
  BertResidualOutputImpl(int64_t in, int64_t hidden, double eps);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& residual);
  torch::nn::Linear dense{nullptr};
  torch::nn::LayerNorm layer_norm{nullptr};
};
TORCH_MODULE(BertResidualOutput);

class BertAttentionImpl : public torch::nn::Module {
 public:
  explicit BertAttentionImpl(const BertConfig& c);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& additive_mask);
  BertSelfAttention self{nullptr};
  BertResidualOutput output{nullptr};
};
TORCH_MODULE(BertAttention);

class BertLayerImpl : public torch::nn::Module {
 public:
  explicit BertLayerImpl(const BertConfig& c);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& additive_mask);
  BertAttention attention{nullptr};
  torch::nn::Sequential intermediate{nullptr};  // "dense"
  BertResidualOutput output{nullptr};
  std::string act;
};
TORCH_MODULE(BertLayer);

class BertModelImpl : public torch::nn::Module {
 public:
  explicit BertModelImpl(const BertConfig& c);
  // input_ids, attention_mask: [B, T] int64. Returns the last hidden states
  // [B, T, H].
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask);
  // BERT's pooler: tanh(dense(hidden[:, 0])).
  torch::Tensor Pool(const torch::Tensor& hidden);

  const BertConfig& config() const { return config_; }

  BertEmbeddings embeddings{nullptr};
  torch::nn::ModuleList layers{nullptr};  // registered as encoder.layer
  torch::nn::Linear pooler_dense{nullptr};

 private:
  BertConfig config_;
};
TORCH_MODULE(BertModel);

// Pools last hidden states [B, T, H] into [B, H]: "mean" over unmasked tokens,
// "cls" the first token, "pooler" BERT's pooler.
torch::Tensor PoolHidden(BertModel& model, const torch::Tensor& hidden,
                         const torch::Tensor& attention_mask, const std::string& mode);

}  // namespace rtrec::model

#endif  // RTREC_MODEL_BERT_ENCODER_H_
