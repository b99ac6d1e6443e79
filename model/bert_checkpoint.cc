#include "model/bert_checkpoint.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/json.h"

namespace rtrec::model {
namespace {

// HF name → the name of our parameter, or "" to skip.
std::string CanonicalName(std::string name) {
  if (absl::StartsWith(name, "bert.")) name = name.substr(5);
  if (absl::StartsWith(name, "cls.") || absl::EndsWith(name, "position_ids")) return "";
  // Old TF-converted checkpoints call LayerNorm parameters gamma/beta.
  if (absl::EndsWith(name, "LayerNorm.gamma")) name = name.substr(0, name.size() - 5) + "weight";
  if (absl::EndsWith(name, "LayerNorm.beta")) name = name.substr(0, name.size() - 4) + "bias";
  return name;
}

std::string ShapeString(c10::IntArrayRef s) { return absl::StrCat("[", absl::StrJoin(s, ","), "]"); }

}  // namespace

absl::StatusOr<BertConfig> ParseBertConfigJson(const std::string& text,
                                               const std::string& what) {
  auto obj = ParseJsonObject(text);
  if (!obj.ok()) return absl::InvalidArgumentError(absl::StrCat(what, ": ", obj.status().message()));
  BertConfig c;
  struct IntKey { const char* name; int64_t* out; int64_t lo; int64_t hi; bool required; };
  IntKey keys[] = {
      {"hidden_size", &c.hidden_size, 1, 1 << 16, true},
      {"num_hidden_layers", &c.num_hidden_layers, 1, 256, true},
      {"num_attention_heads", &c.num_attention_heads, 1, 1024, true},
      {"intermediate_size", &c.intermediate_size, 1, 1 << 18, true},
      {"max_position_embeddings", &c.max_position_embeddings, 2, 1 << 20, true},
      {"vocab_size", &c.vocab_size, 5, 1 << 24, true},
      {"type_vocab_size", &c.type_vocab_size, 1, 1 << 10, false},
  };
  for (const auto& k : keys) {
    if (!obj->fields().count(k.name)) {
      if (k.required) return absl::InvalidArgumentError(absl::StrCat(what, ": ", k.name, ": missing"));
      continue;
    }
    auto v = JsonInt(*obj, k.name, what);
    if (!v.ok()) return v.status();
    if (*v < k.lo || *v > k.hi) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": ", k.name, ": out of range (", *v, ")"));
    }
    *k.out = *v;
  }
  if (obj->fields().count("layer_norm_eps")) {
    auto v = JsonNumber(*obj, "layer_norm_eps", what);
    if (!v.ok()) return v.status();
    if (!(*v > 0 && *v < 1)) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": layer_norm_eps: out of range"));
    }
    c.layer_norm_eps = *v;
  }
  if (obj->fields().count("hidden_act")) {
    auto v = JsonString(*obj, "hidden_act", what);
    if (!v.ok()) return v.status();
    if (*v != "gelu" && *v != "gelu_new" && *v != "relu") {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": hidden_act: '", *v, "' is not supported (gelu, gelu_new, relu)"));
    }
    c.hidden_act = *v;
  }
  if (c.hidden_size % c.num_attention_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": num_attention_heads: ", c.num_attention_heads, " does not divide hidden_size ",
        c.hidden_size));
  }
  return c;
}

absl::Status LoadBertWeights(BertModel& model, const SafetensorsFile& file,
                             const std::string& what, std::vector<std::string>* skipped) {
  std::map<std::string, torch::Tensor> params;
  for (auto& kv : model->named_parameters()) {
    params.emplace(kv.key(), kv.value());
  }
  std::vector<std::string> unexpected, mismatched, duplicated;
  std::map<std::string, bool> loaded;
  torch::NoGradGuard no_grad;
  for (const auto& t : file.tensors()) {
    std::string name = CanonicalName(t.name);
    if (name.empty()) {
      if (skipped) skipped->push_back(t.name);
      continue;
    }
    auto it = params.find(name);
    if (it == params.end()) {
      unexpected.push_back(t.name);
      continue;
    }
    if (!IsFloatDtype(t.dtype)) {
      mismatched.push_back(absl::StrCat(t.name, " has dtype ", t.dtype,
                                        ", only F32, F16 and BF16 weights are read"));
      continue;
    }
    if (loaded[name]) {
      duplicated.push_back(t.name);
      continue;
    }
    torch::Tensor& p = it->second;
    if (!std::equal(p.sizes().begin(), p.sizes().end(), t.shape.begin(), t.shape.end())) {
      mismatched.push_back(absl::StrCat(t.name, " has shape ", ShapeString(t.shape),
                                        ", the model needs ", ShapeString(p.sizes())));
      continue;
    }
    std::vector<float> values = file.ToFloat32(t);
    p.copy_(torch::from_blob(values.data(), {static_cast<int64_t>(values.size())},
                             torch::kFloat32)
                .view(p.sizes())
                .to(p.device()));
    loaded[name] = true;
  }
  std::vector<std::string> missing;
  for (const auto& kv : params) {
    if (!loaded[kv.first]) missing.push_back(kv.first);
  }
  std::vector<std::string> problems;
  if (!missing.empty()) problems.push_back(absl::StrCat("missing tensors: ", absl::StrJoin(missing, ", ")));
  if (!unexpected.empty()) problems.push_back(absl::StrCat("unexpected tensors: ", absl::StrJoin(unexpected, ", ")));
  if (!mismatched.empty()) problems.push_back(absl::StrCat("mis-shaped tensors: ", absl::StrJoin(mismatched, "; ")));
  if (!duplicated.empty()) problems.push_back(absl::StrCat("tensors given twice: ", absl::StrJoin(duplicated, ", ")));
  if (!problems.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", absl::StrJoin(problems, "; ")));
  }
  return absl::OkStatus();
}

absl::StatusOr<LoadedBert> LoadBertCheckpoint(const std::string& dir) {
  namespace fs = std::filesystem;
  for (const char* f : {"config.json", "vocab.txt", "model.safetensors"}) {
    if (!fs::exists(fs::path(dir) / f)) {
      return absl::NotFoundError(absl::StrCat("BERT checkpoint ", dir, ": ", f, " is missing"));
    }
  }
  std::ifstream in(fs::path(dir) / "config.json");
  std::stringstream ss;
  ss << in.rdbuf();
  auto config = ParseBertConfigJson(ss.str(), (fs::path(dir) / "config.json").string());
  if (!config.ok()) return config.status();
  auto tokenizer = WordPieceTokenizer::FromVocabFile((fs::path(dir) / "vocab.txt").string());
  if (!tokenizer.ok()) return tokenizer.status();
  if ((*tokenizer)->vocab_size() != config->vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        dir, ": vocab.txt has ", (*tokenizer)->vocab_size(), " tokens but config.json says vocab_size ",
        config->vocab_size));
  }
  const std::string weights_path = (fs::path(dir) / "model.safetensors").string();
  auto file = SafetensorsFile::Read(weights_path);
  if (!file.ok()) return file.status();
  LoadedBert out;
  out.config = *config;
  try {
    out.model = BertModel(*config);
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(absl::StrCat(dir, ": cannot build BERT: ", e.what_without_backtrace()));
  }
  if (auto s = LoadBertWeights(out.model, *file, weights_path, &out.skipped_tensors); !s.ok()) return s;
  out.tokenizer = std::move(*tokenizer);
  return out;
}

absl::Status SaveBertCheckpoint(BertModel& model, const std::vector<std::string>& vocab,
                                const std::string& dir, const std::string& dtype) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  const BertConfig& c = model->config();
  {
    std::ofstream out(fs::path(dir) / "config.json");
    out << "{\n  \"architectures\": [\"BertModel\"],\n  \"model_type\": \"bert\",\n"
        << "  \"hidden_size\": " << c.hidden_size << ",\n  \"num_hidden_layers\": "
        << c.num_hidden_layers << ",\n  \"num_attention_heads\": " << c.num_attention_heads
        << ",\n  \"intermediate_size\": " << c.intermediate_size
        << ",\n  \"max_position_embeddings\": " << c.max_position_embeddings
        << ",\n  \"vocab_size\": " << c.vocab_size << ",\n  \"type_vocab_size\": "
        << c.type_vocab_size << ",\n  \"layer_norm_eps\": " << c.layer_norm_eps
        << ",\n  \"hidden_act\": \"" << c.hidden_act << "\"\n}\n";
    if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", dir, "/config.json"));
  }
  {
    std::ofstream out(fs::path(dir) / "vocab.txt");
    for (const auto& t : vocab) out << t << "\n";
  }
  std::vector<TensorToWrite> tensors;
  for (auto& kv : model->named_parameters()) {
    torch::Tensor t = kv.value().detach().to(torch::kCPU).contiguous();
    TensorToWrite w;
    w.name = kv.key();
    w.shape.assign(t.sizes().begin(), t.sizes().end());
    w.values.assign(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
    tensors.push_back(std::move(w));
  }
  return WriteSafetensors((fs::path(dir) / "model.safetensors").string(), tensors, dtype);
}

}  // namespace rtrec::model
