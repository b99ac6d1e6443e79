#include "model/bert_encoder.h"

#include <cmath>

namespace rtrec::model {

BertLinearImpl::BertLinearImpl(int64_t in, int64_t out) {
  weight = register_parameter("weight", torch::empty({out, in}));
  bias = register_parameter("bias", torch::zeros({out}));
  torch::nn::init::normal_(weight, 0.0, 0.02);
}

torch::Tensor BertLinearImpl::forward(const torch::Tensor& x) {
  return torch::nn::functional::linear(x, weight, bias);
}

BertEmbeddingsImpl::BertEmbeddingsImpl(const BertConfig& c) {
  word_embeddings = register_module(
      "word_embeddings", torch::nn::Embedding(c.vocab_size, c.hidden_size));
  position_embeddings = register_module(
      "position_embeddings", torch::nn::Embedding(c.max_position_embeddings, c.hidden_size));
  token_type_embeddings = register_module(
      "token_type_embeddings", torch::nn::Embedding(c.type_vocab_size, c.hidden_size));
  layer_norm = register_module(
      "LayerNorm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden_size})
                                            .eps(c.layer_norm_eps)));
  for (auto* e : {&word_embeddings, &position_embeddings, &token_type_embeddings}) {
    torch::nn::init::normal_((*e)->weight, 0.0, 0.02);
  }
}

torch::Tensor BertEmbeddingsImpl::forward(const torch::Tensor& input_ids) {
  const int64_t t = input_ids.size(1);
  auto positions = torch::arange(t, input_ids.options()).unsqueeze(0);
  auto x = word_embeddings(input_ids) + position_embeddings(positions) +
           token_type_embeddings->weight[0];
  return layer_norm(x);
}

BertSelfAttentionImpl::BertSelfAttentionImpl(const BertConfig& c)
    : heads(c.num_attention_heads), head_dim(c.hidden_size / c.num_attention_heads) {
  query = register_module("query", BertLinear(c.hidden_size, c.hidden_size));
  key = register_module("key", BertLinear(c.hidden_size, c.hidden_size));
  value = register_module("value", BertLinear(c.hidden_size, c.hidden_size));
}

torch::Tensor BertSelfAttentionImpl::forward(const torch::Tensor& x,
                                             const torch::Tensor& additive_mask) {
  const int64_t b = x.size(0), t = x.size(1);
  auto split = [&](const torch::Tensor& y) {
    return y.view({b, t, heads, head_dim}).transpose(1, 2);  // [B, h, T, d]
  };
  auto q = split(query(x)), k = split(key(x)), v = split(value(x));
  auto scores = torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(head_dim));
  auto probs = torch::softmax(scores + additive_mask, -1);
  return torch::matmul(probs, v).transpose(1, 2).reshape({b, t, heads * head_dim});
}

BertResidualOutputImpl::BertResidualOutputImpl(int64_t in, int64_t hidden, double eps) {
  dense = register_module("dense", torch::nn::Linear(in, hidden));
  layer_norm = register_module(
      "LayerNorm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({hidden}).eps(eps)));
  torch::nn::init::normal_(dense->weight, 0.0, 0.02);
  torch::nn::init::zeros_(dense->bias);
}

torch::Tensor BertResidualOutputImpl::forward(const torch::Tensor& x,
                                              const torch::Tensor& residual) {
  return layer_norm(dense(x) + residual);
}

BertAttentionImpl::BertAttentionImpl(const BertConfig& c) {
  self = register_module("self", BertSelfAttention(c));
  output = register_module(
      "output", BertResidualOutput(c.hidden_size, c.hidden_size, c.layer_norm_eps));
}

torch::Tensor BertAttentionImpl::forward(const torch::Tensor& x,
                                         const torch::Tensor& additive_mask) {
  return output(self(x, additive_mask), x);
}

BertLayerImpl::BertLayerImpl(const BertConfig& c) : act(c.hidden_act) {
  attention = register_module("attention", BertAttention(c));
  auto dense = torch::nn::Linear(c.hidden_size, c.intermediate_size);
  torch::nn::init::normal_(dense->weight, 0.0, 0.02);
  torch::nn::init::zeros_(dense->bias);
  intermediate = register_module("intermediate", torch::nn::Sequential());
  intermediate->push_back("dense", dense);
  output = register_module(
      "output", BertResidualOutput(c.intermediate_size, c.hidden_size, c.layer_norm_eps));
}

torch::Tensor BertLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& additive_mask) {
  auto a = attention(x, additive_mask);
  auto h = intermediate->forward(a);
  if (act == "gelu") {
    h = torch::gelu(h);
  } else if (act == "gelu_new") {
    h = torch::gelu(h, "tanh");
  } else {
    h = torch::relu(h);
  }
  return output(h, a);
}

BertModelImpl::BertModelImpl(const BertConfig& c) : config_(c) {
  embeddings = register_module("embeddings", BertEmbeddings(c));
  auto encoder = register_module("encoder", std::make_shared<torch::nn::Module>());
  layers = torch::nn::ModuleList();
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) layers->push_back(BertLayer(c));
  encoder->register_module("layer", layers);
  auto pooler = register_module("pooler", std::make_shared<torch::nn::Module>());
  pooler_dense = torch::nn::Linear(c.hidden_size, c.hidden_size);
  torch::nn::init::normal_(pooler_dense->weight, 0.0, 0.02);
  torch::nn::init::zeros_(pooler_dense->bias);
  pooler->register_module("dense", pooler_dense);
}

torch::Tensor BertModelImpl::forward(const torch::Tensor& input_ids,
                                     const torch::Tensor& attention_mask) {
  auto x = embeddings(input_ids);
  auto additive = (1.0 - attention_mask.to(x.dtype())).view(
                      {attention_mask.size(0), 1, 1, attention_mask.size(1)}) *
                  -10000.0;
  for (const auto& layer : *layers) {
    x = layer->as<BertLayer>()->forward(x, additive);
  }
  return x;
}

torch::Tensor BertModelImpl::Pool(const torch::Tensor& hidden) {
  return torch::tanh(pooler_dense(hidden.select(1, 0)));
}

torch::Tensor PoolHidden(BertModel& model, const torch::Tensor& hidden,
                         const torch::Tensor& attention_mask, const std::string& mode) {
  if (mode == "cls") return hidden.select(1, 0);
  if (mode == "pooler") return model->Pool(hidden);
  auto m = attention_mask.to(hidden.dtype()).unsqueeze(-1);  // [B, T, 1]
  return (hidden * m).sum(1) / m.sum(1).clamp_min(1.0);
}

}  // namespace rtrec::model
