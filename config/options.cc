#include "config/options.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "yaml-cpp/yaml.h"

namespace rtrec::config {
namespace {

// Reads one YAML mapping into typed fields, remembering every key it was asked
// for so that Finish() can name the keys nobody asked for. Each error names
// the full dotted key. yaml-cpp exceptions stop here.
class Section {
 public:
  Section(const YAML::Node& node, std::string path,
          std::vector<std::string>* errors)
      : node_(node), path_(std::move(path)), errors_(errors) {
    if (node_ && !node_.IsNull() && !node_.IsMap()) {
      Error(path_, "must be a mapping");
      valid_ = false;
    }
  }

  void Int(const char* key, int64_t* out, int64_t lo, int64_t hi) {
    YAML::Node v = Take(key);
    if (!v) return;
    int64_t value = 0;
    try {
      if (!v.IsScalar()) throw YAML::Exception(YAML::Mark(), "not scalar");
      value = v.as<int64_t>();
    } catch (const YAML::Exception&) {
      Error(Key(key), absl::StrCat("must be an integer, got '", Show(v), "'"));
      return;
    }
    if (value < lo || value > hi) {
      Error(Key(key), absl::StrCat("must be between ", lo, " and ", hi,
                                   ", got ", value));
      return;
    }
    *out = value;
  }

  void Double(const char* key, double* out, double lo, double hi) {
    YAML::Node v = Take(key);
    if (!v) return;
    double value = 0;
    try {
      if (!v.IsScalar()) throw YAML::Exception(YAML::Mark(), "not scalar");
      value = v.as<double>();
    } catch (const YAML::Exception&) {
      Error(Key(key), absl::StrCat("must be a number, got '", Show(v), "'"));
      return;
    }
    if (!std::isfinite(value) || value < lo || value > hi) {
      Error(Key(key), absl::StrCat("must be between ", lo, " and ", hi,
                                   ", got ", value));
      return;
    }
    *out = value;
  }

  void Bool(const char* key, bool* out) {
    YAML::Node v = Take(key);
    if (!v) return;
    try {
      if (!v.IsScalar()) throw YAML::Exception(YAML::Mark(), "not scalar");
      *out = v.as<bool>();
    } catch (const YAML::Exception&) {
      Error(Key(key), absl::StrCat("must be true or false, got '", Show(v), "'"));
    }
  }

  void String(const char* key, std::string* out) {
    YAML::Node v = Take(key);
    if (!v) return;
    if (v.IsNull()) {
      out->clear();
      return;
    }
    if (!v.IsScalar()) {
      Error(Key(key), "must be a string");
      return;
    }
    *out = v.Scalar();
  }

  void Enum(const char* key, std::string* out,
            std::initializer_list<const char*> allowed) {
    std::string value = *out;
    String(key, &value);
    for (const char* a : allowed) {
      if (value == a) {
        *out = value;
        return;
      }
    }
    Error(Key(key), absl::StrCat("must be one of ", absl::StrJoin(allowed, "|"),
                                 ", got '", value, "'"));
  }

  void Path(const char* key, std::string* out, const std::string& base_dir) {
    String(key, out);
    if (!out->empty() && std::filesystem::path(*out).is_relative()) {
      *out = (std::filesystem::path(base_dir) / *out).lexically_normal().string();
    }
  }

  // A nested mapping (server.tls): marks the key as known.
  YAML::Node Child(const char* key) { return Take(key); }

  // Reports keys present in the YAML that no field asked for.
  void Finish() {
    if (!valid_ || !node_ || !node_.IsMap()) return;
    for (const auto& kv : node_) {
      std::string k = kv.first.as<std::string>("");
      if (!seen_.count(k)) Error(Key(k.c_str()), "unknown key");
    }
  }

 private:
  YAML::Node Take(const char* key) {
    seen_.insert(key);
    if (!valid_ || !node_ || !node_.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    YAML::Node v = node_[key];
    if (!v.IsDefined()) return YAML::Node(YAML::NodeType::Undefined);
    return v;
  }
  std::string Key(const char* key) const { return absl::StrCat(path_, ".", key); }
  static std::string Show(const YAML::Node& v) {
    if (v.IsScalar()) return v.Scalar();
    std::stringstream ss;
    ss << v;
    return ss.str();
  }
  void Error(const std::string& key, const std::string& what) {
    errors_->push_back(absl::StrCat("config key '", key, "': ", what));
  }

  YAML::Node node_;
  std::string path_;
  std::vector<std::string>* errors_;
  std::set<std::string> seen_;
  bool valid_ = true;
};

constexpr int64_t kMaxInt = int64_t{1} << 40;

// yaml-cpp keeps every pair of a mapping, and a lookup returns the first:
// a repeated key would be silently shadowed, so it is refused.
void FindDuplicateKeys(const YAML::Node& node, const std::string& path,
                       std::vector<std::string>* errors) {
  if (node.IsMap()) {
    std::set<std::string> seen;
    for (const auto& kv : node) {
      const std::string k = kv.first.IsScalar() ? kv.first.Scalar() : "?";
      const std::string key = path.empty() ? k : absl::StrCat(path, ".", k);
      if (!seen.insert(k).second) {
        errors->push_back(absl::StrCat("config key '", key, "': appears twice (line ",
                                       kv.first.Mark().line + 1, ")"));
      }
      FindDuplicateKeys(kv.second, key, errors);
    }
  } else if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i) {
      FindDuplicateKeys(node[i], absl::StrCat(path, "[", i, "]"), errors);
    }
  }
}

}  // namespace

int64_t ServerOptions::MaxMessageBytes() const {
  if (max_message_bytes > 0) return max_message_bytes;
  constexpr int64_t kIdBytes = 256 + 8;  // an id and its framing
  const int64_t recommend =
      max_query_bytes + (max_candidates + max_context_items + 1) * kIdBytes + 4096;
  // An item: its text budget, its id and room for tags.
  const int64_t upsert = max_upsert_items * (max_item_text_bytes + 16 * kIdBytes + 64);
  return std::max<int64_t>({recommend, upsert, int64_t{4} << 20});
}

std::string DefaultCatalogPath() {
  return std::string(RTREC_SOURCE_DIR) + "/data/demo_catalog.jsonl";
}
std::string DefaultVocabPath() {
  return std::string(RTREC_SOURCE_DIR) + "/data/bert-base-uncased-vocab.txt";
}

absl::StatusOr<RtrecConfig> ParseConfig(const std::string& yaml_text,
                                        const std::string& base_dir) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("config is not valid YAML: ", e.what()));
  }
  RtrecConfig c;
  std::vector<std::string> errors;
  if (root && !root.IsNull() && !root.IsMap()) {
    return absl::InvalidArgumentError("config: top level must be a mapping");
  }
  if (root) FindDuplicateKeys(root, "", &errors);
  static const std::set<std::string> kSections = {
      "server", "catalog", "users", "text_tower", "model",
      "policy", "batcher", "retrieval", "impressions", "learner", "tuner", "storage"};
  if (root && root.IsMap()) {
    for (const auto& kv : root) {
      std::string k = kv.first.as<std::string>("");
      if (!kSections.count(k)) {
        errors.push_back(absl::StrCat("config key '", k, "': unknown key"));
      }
    }
  }
  auto node = [&](const char* name) {
    return root && root.IsMap() ? root[name] : YAML::Node();
  };

  {
    Section s(node("server"), "server", &errors);
    auto& o = c.server;
    s.String("listen_address", &o.listen_address);
    s.String("metrics_address", &o.metrics_address);
    s.Int("max_query_bytes", &o.max_query_bytes, 1, 1 << 20);
    s.Int("max_candidates", &o.max_candidates, 1, 10000000);
    s.Int("max_context_items", &o.max_context_items, 0, 10000);
    s.Int("max_upsert_items", &o.max_upsert_items, 1, 1000000);
    s.Int("max_item_text_bytes", &o.max_item_text_bytes, 1, 1 << 24);
    s.Int("max_message_bytes", &o.max_message_bytes, 0, int64_t{2000} << 20);
    {
      Section t(s.Child("tls"), "server.tls", &errors);
      t.Path("cert_chain", &o.tls.cert_chain, base_dir);
      t.Path("private_key", &o.tls.private_key, base_dir);
      t.Path("client_ca", &o.tls.client_ca, base_dir);
      t.Finish();
      if (o.tls.cert_chain.empty() != o.tls.private_key.empty()) {
        errors.push_back("config key 'server.tls.private_key': server.tls.cert_chain and "
                         "server.tls.private_key are set together or not at all");
      }
      if (!o.tls.client_ca.empty() && o.tls.cert_chain.empty()) {
        errors.push_back("config key 'server.tls.client_ca': needs server.tls.cert_chain and "
                         "server.tls.private_key");
      }
    }
    {
      Section a(s.Child("auth"), "server.auth", &errors);
      a.Path("tokens_file", &o.auth.tokens_file, base_dir);
      a.Finish();
    }
    s.Finish();
    if (o.MaxMessageBytes() > (int64_t{2000} << 20)) {
      errors.push_back(absl::StrCat(
          "config key 'server.max_upsert_items': server.max_upsert_items x "
          "server.max_item_text_bytes allows requests of ", o.MaxMessageBytes(),
          " bytes, over gRPC's 2 GB message limit"));
    }
    if (o.listen_address.empty()) {
      errors.push_back("config key 'server.listen_address': must not be empty");
    }
  }
  {
    Section s(node("catalog"), "catalog", &errors);
    s.Path("path", &c.catalog.path, base_dir);
    s.Int("max_items", &c.catalog.max_items, 1, 100000000);
    s.Finish();
  }
  {
    Section s(node("users"), "users", &errors);
    s.Int("history_length", &c.users.history_length, 1, 1000);
    s.Int("num_shards", &c.users.num_shards, 1, 4096);
    s.Int("max_consumed_items", &c.users.max_consumed_items, 1, 1000000);
    s.Int("max_cached_users", &c.users.max_cached_users, 1, kMaxInt);
    s.Bool("learn_taste", &c.users.learn_taste);
    s.Double("taste_prior_precision", &c.users.taste_prior_precision, 1e-6, 1e6);
    s.Double("taste_forgetting", &c.users.taste_forgetting, 0.5, 1.0);
    s.Double("taste_change_surprise", &c.users.taste_change_surprise, 0.0, 1e6);
    s.Double("taste_change_keep", &c.users.taste_change_keep, 0.0, 1.0);
    s.Finish();
  }
  {
    Section s(node("text_tower"), "text_tower", &errors);
    auto& o = c.text_tower;
    s.Path("checkpoint_dir", &o.checkpoint_dir, base_dir);
    s.Path("vocab_path", &o.vocab_path, base_dir);
    s.Int("hidden_size", &o.hidden_size, 8, 4096);
    s.Int("num_layers", &o.num_layers, 1, 48);
    s.Int("num_heads", &o.num_heads, 1, 64);
    s.Int("intermediate_size", &o.intermediate_size, 8, 16384);
    s.Int("max_position_embeddings", &o.max_position_embeddings, 8, 8192);
    s.Int("max_seq_length", &o.max_seq_length, 3, 8192);
    s.Enum("pooling", &o.pooling, {"mean", "cls", "pooler"});
    s.Int("encode_batch_size", &o.encode_batch_size, 1, 4096);
    s.Int("seed", &o.seed, 0, kMaxInt);
    s.Finish();
    if (o.hidden_size % o.num_heads != 0) {
      errors.push_back(absl::StrCat(
          "config key 'text_tower.num_heads': must divide text_tower.hidden_size (",
          o.hidden_size, "), got ", o.num_heads));
    }
    if (o.max_seq_length > o.max_position_embeddings) {
      errors.push_back(absl::StrCat(
          "config key 'text_tower.max_seq_length': must not exceed "
          "text_tower.max_position_embeddings (", o.max_position_embeddings,
          "), got ", o.max_seq_length));
    }
  }
  {
    Section s(node("model"), "model", &errors);
    auto& o = c.model;
    s.Enum("device", &o.device, {"auto", "cpu", "cuda"});
    s.Int("embedding_dim", &o.embedding_dim, 4, 4096);
    s.Int("num_layers", &o.num_layers, 1, 24);
    s.Int("num_heads", &o.num_heads, 1, 64);
    s.Int("ffn_dim", &o.ffn_dim, 4, 16384);
    s.Int("seed", &o.seed, 0, kMaxInt);
    s.Int("intra_op_threads", &o.intra_op_threads, 1, 256);
    s.Int("user_buckets", &o.user_buckets, 0, 100000000);
    s.Double("history_decay", &o.history_decay, 0.0, 1.0);
    s.Double("dropout", &o.dropout, 0.0, 0.9);
    s.Finish();
    if (o.embedding_dim % o.num_heads != 0) {
      errors.push_back(absl::StrCat(
          "config key 'model.num_heads': must divide model.embedding_dim (",
          o.embedding_dim, "), got ", o.num_heads));
    }
  }
  {
    Section s(node("policy"), "policy", &errors);
    auto& o = c.policy;
    s.Double("temperature", &o.temperature, 1e-3, 1e3);
    s.Double("epsilon", &o.epsilon, 0.0, 1.0);
    s.Int("default_k", &o.default_k, 1, 10000);
    s.Int("max_k", &o.max_k, 1, 10000);
    s.Enum("exclusion", &o.exclusion, {"none", "recent", "consumed"});
    s.Int("seed", &o.seed, 0, kMaxInt);
    s.Finish();
    if (o.default_k > o.max_k) {
      errors.push_back(absl::StrCat(
          "config key 'policy.default_k': must not exceed policy.max_k (",
          o.max_k, "), got ", o.default_k));
    }
  }
  {
    Section s(node("batcher"), "batcher", &errors);
    auto& o = c.batcher;
    s.Int("max_batch_size", &o.max_batch_size, 1, 4096);
    s.Int("max_queue_delay_us", &o.max_queue_delay_us, 0, 10000000);
    s.Int("max_queue_size", &o.max_queue_size, 1, 10000000);
    s.Int("num_threads", &o.num_threads, 1, 256);
    s.Bool("deadline_admission", &o.deadline_admission);
    s.Int("max_queued_per_client", &o.max_queued_per_client, 0, 10000000);
    s.Finish();
  }
  {
    Section s(node("retrieval"), "retrieval", &errors);
    auto& o = c.retrieval;
    s.Int("min_items", &o.min_items, 0, 1000000000);
    s.Int("candidates", &o.candidates, 1, 100000);
    s.Int("lists", &o.lists, 0, 10000000);
    s.Int("probes", &o.probes, 1, 10000000);
    s.Int("train_sample", &o.train_sample, 1000, 100000000);
    s.Int("reindex_interval_ms", &o.reindex_interval_ms, 0, int64_t{30} * 24 * 3600 * 1000);
    s.Finish();
  }
  {
    Section s(node("impressions"), "impressions", &errors);
    auto& o = c.impressions;
    s.Int("capacity", &o.capacity, 1, 1000000000);
    s.Int("reward_wait_ms", &o.reward_wait_ms, 1, int64_t{30} * 24 * 3600 * 1000);
    s.Double("default_reward", &o.default_reward, -1000, 1000);
    s.Enum("feedback_aggregation", &o.feedback_aggregation, {"first", "sum"});
    s.Double("max_reward_sum", &o.max_reward_sum, 1e-6, 1e9);
    s.Int("late_feedback_memory", &o.late_feedback_memory, 0, 1000000000);
    s.Int("experience_capacity", &o.experience_capacity, 1, 1000000000);
    s.Finish();
  }
  {
    Section s(node("learner"), "learner", &errors);
    auto& o = c.learner;
    s.Bool("enabled", &o.enabled);
    s.Int("batch_size", &o.batch_size, 1, 65536);
    s.Int("max_batch_wait_ms", &o.max_batch_wait_ms, 0, 3600000);
    s.Double("learning_rate", &o.learning_rate, 1e-7, 1.0);
    s.Double("grad_clip_norm", &o.grad_clip_norm, 1e-6, 1e6);
    s.Double("importance_weight_cap", &o.importance_weight_cap, 1.0, 1e6);
    s.Double("baseline_decay", &o.baseline_decay, 0.0, 0.999999);
    s.Double("reward_loss_weight", &o.reward_loss_weight, 0.0, 1000.0);
    s.Double("policy_loss_weight", &o.policy_loss_weight, 0.0, 1000.0);
    s.Double("sparse_learning_rate_multiplier", &o.sparse_learning_rate_multiplier, 1e-3, 1e4);
    s.Double("user_learning_rate", &o.user_learning_rate, 0.0, 100.0);
    s.Double("replay_ratio", &o.replay_ratio, 0.0, 100.0);
    s.Int("replay_capacity", &o.replay_capacity, 1, 100000000);
    s.Double("next_item_loss_weight", &o.next_item_loss_weight, 0.0, 1000.0);
    s.Int("next_item_negatives", &o.next_item_negatives, 1, 100000);
    s.Int("publish_every", &o.publish_every, 1, 100000000);
    s.Int("publish_interval_ms", &o.publish_interval_ms, 0, int64_t{30} * 24 * 3600 * 1000);
    s.Int("guard_window", &o.guard_window, 1, 10000000);
    s.Double("max_steps_per_second", &o.max_steps_per_second, 0.0, 1e6);
    s.Int("intra_op_threads", &o.intra_op_threads, 0, 1024);
    s.Int("nice", &o.nice, 0, 19);
    s.Int("guard_min_examples", &o.guard_min_examples, 0, 10000000);
    s.Double("guard_margin", &o.guard_margin, 0.0, 1e6);
    s.Double("guard_z", &o.guard_z, 0.0, 100.0);
    s.Int("seed", &o.seed, 0, kMaxInt);
    s.Finish();
  }
  {
    Section s(node("tuner"), "tuner", &errors);
    auto& o = c.tuner;
    s.Bool("enabled", &o.enabled);
    s.Int("round_size", &o.round_size, 1, 1000000000);
    s.Int("round_ms", &o.round_ms, 0, int64_t{30} * 24 * 3600 * 1000);
    s.Double("log10_lr_min", &o.log10_lr_min, -7, 0);
    s.Double("log10_lr_max", &o.log10_lr_max, -7, 0);
    s.Double("exploration_min", &o.exploration_min, 0, 1);
    s.Double("exploration_max", &o.exploration_max, 0, 1);
    s.Double("max_exploration_step", &o.max_exploration_step, 0, 1);
    s.Int("initial_rounds", &o.initial_rounds, 1, 1000);
    s.Enum("acquisition", &o.acquisition, {"ei", "ucb", "random"});
    s.Double("forgetting", &o.forgetting, 0.01, 1.0);
    s.Int("window", &o.window, 2, 100000);
    s.Int("seed", &o.seed, 0, kMaxInt);
    s.Finish();
    if (o.log10_lr_min >= o.log10_lr_max) {
      errors.push_back("config key 'tuner.log10_lr_max': must be above tuner.log10_lr_min");
    }
    if (o.exploration_min > o.exploration_max) {
      errors.push_back("config key 'tuner.exploration_max': must not be below tuner.exploration_min");
    }
  }
  {
    Section s(node("storage"), "storage", &errors);
    auto& o = c.storage;
    s.Path("path", &o.path, base_dir);
    s.Enum("sync", &o.sync, {"group_commit", "per_write"});
    s.Int("group_commit_ms", &o.group_commit_ms, 1, 60000);
    s.Int("checkpoint_interval_s", &o.checkpoint_interval_s, 0, int64_t{30} * 24 * 3600);
    s.Int("checkpoints_to_keep", &o.checkpoints_to_keep, 1, 1000);
    s.Int("user_flush_ms", &o.user_flush_ms, 1, 3600000);
    s.Path("seed_from", &o.seed_from, base_dir);
    s.Finish();
  }
  if (!errors.empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(errors, "; "));
  }
  if (c.catalog.path.empty()) c.catalog.path = DefaultCatalogPath();
  if (c.text_tower.vocab_path.empty()) c.text_tower.vocab_path = DefaultVocabPath();
  return c;
}

absl::StatusOr<RtrecConfig> LoadConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot open config file ", path));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string base = std::filesystem::path(path).parent_path().string();
  if (base.empty()) base = ".";
  auto c = ParseConfig(ss.str(), base);
  if (!c.ok()) {
    return absl::Status(c.status().code(),
                        absl::StrCat(path, ": ", c.status().message()));
  }
  return c;
}

}  // namespace rtrec::config
