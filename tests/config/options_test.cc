#include "config/options.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rtrec::config {
namespace {

using ::testing::HasSubstr;

TEST(OptionsTest, EmptyConfigGivesDefaults) {
  auto c = ParseConfig("", "/base");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->batcher.max_batch_size, 32);
  EXPECT_EQ(c->batcher.max_queue_delay_us, 2000);
  EXPECT_EQ(c->users.history_length, 20);
  EXPECT_EQ(c->model.device, "auto");
  EXPECT_EQ(c->catalog.path, DefaultCatalogPath());
  EXPECT_EQ(c->text_tower.vocab_path, DefaultVocabPath());
}

TEST(OptionsTest, DefaultYamlMatchesBuiltInDefaults) {
  auto file = LoadConfigFile(std::string(RTREC_SOURCE_DIR) + "/config/default.yaml");
  ASSERT_TRUE(file.ok()) << file.status();
  auto builtin = ParseConfig("", ".");
  ASSERT_TRUE(builtin.ok());
  EXPECT_EQ(file->server.listen_address, builtin->server.listen_address);
  EXPECT_EQ(file->server.metrics_address, builtin->server.metrics_address);
  EXPECT_EQ(file->server.max_query_bytes, builtin->server.max_query_bytes);
  EXPECT_EQ(file->server.max_candidates, builtin->server.max_candidates);
  EXPECT_EQ(file->server.max_context_items, builtin->server.max_context_items);
  EXPECT_EQ(file->server.max_upsert_items, builtin->server.max_upsert_items);
  EXPECT_EQ(file->server.max_item_text_bytes, builtin->server.max_item_text_bytes);
  EXPECT_EQ(file->server.max_message_bytes, builtin->server.max_message_bytes);
  EXPECT_EQ(file->server.tls.cert_chain, builtin->server.tls.cert_chain);
  EXPECT_EQ(file->server.tls.private_key, builtin->server.tls.private_key);
  EXPECT_EQ(file->server.tls.client_ca, builtin->server.tls.client_ca);
  EXPECT_EQ(file->server.auth.tokens_file, builtin->server.auth.tokens_file);
  EXPECT_EQ(file->batcher.deadline_admission, builtin->batcher.deadline_admission);
  EXPECT_EQ(file->batcher.max_queued_per_client, builtin->batcher.max_queued_per_client);
  EXPECT_EQ(file->impressions.max_reward_sum, builtin->impressions.max_reward_sum);
  // Loopback by default: exposing the service is a choice.
  EXPECT_EQ(builtin->server.listen_address, "127.0.0.1:50051");
  EXPECT_EQ(builtin->server.metrics_address, "127.0.0.1:9464");
  EXPECT_EQ(file->catalog.path, builtin->catalog.path);
  EXPECT_EQ(file->catalog.max_items, builtin->catalog.max_items);
  EXPECT_EQ(file->users.history_length, builtin->users.history_length);
  EXPECT_EQ(file->users.num_shards, builtin->users.num_shards);
  EXPECT_EQ(file->text_tower.checkpoint_dir, builtin->text_tower.checkpoint_dir);
  EXPECT_EQ(file->text_tower.vocab_path, builtin->text_tower.vocab_path);
  EXPECT_EQ(file->text_tower.hidden_size, builtin->text_tower.hidden_size);
  EXPECT_EQ(file->text_tower.num_layers, builtin->text_tower.num_layers);
  EXPECT_EQ(file->text_tower.num_heads, builtin->text_tower.num_heads);
  EXPECT_EQ(file->text_tower.intermediate_size, builtin->text_tower.intermediate_size);
  EXPECT_EQ(file->text_tower.max_position_embeddings, builtin->text_tower.max_position_embeddings);
  EXPECT_EQ(file->text_tower.max_seq_length, builtin->text_tower.max_seq_length);
  EXPECT_EQ(file->text_tower.pooling, builtin->text_tower.pooling);
  EXPECT_EQ(file->text_tower.encode_batch_size, builtin->text_tower.encode_batch_size);
  EXPECT_EQ(file->text_tower.seed, builtin->text_tower.seed);
  EXPECT_EQ(file->model.device, builtin->model.device);
  EXPECT_EQ(file->model.embedding_dim, builtin->model.embedding_dim);
  EXPECT_EQ(file->model.num_layers, builtin->model.num_layers);
  EXPECT_EQ(file->model.num_heads, builtin->model.num_heads);
  EXPECT_EQ(file->model.ffn_dim, builtin->model.ffn_dim);
  EXPECT_EQ(file->model.seed, builtin->model.seed);
  EXPECT_EQ(file->model.intra_op_threads, builtin->model.intra_op_threads);
  EXPECT_EQ(file->policy.temperature, builtin->policy.temperature);
  EXPECT_EQ(file->policy.epsilon, builtin->policy.epsilon);
  EXPECT_EQ(file->policy.default_k, builtin->policy.default_k);
  EXPECT_EQ(file->policy.max_k, builtin->policy.max_k);
  EXPECT_EQ(file->policy.exclusion, builtin->policy.exclusion);
  EXPECT_EQ(file->learner.replay_ratio, builtin->learner.replay_ratio);
  EXPECT_EQ(file->learner.user_learning_rate, builtin->learner.user_learning_rate);
  EXPECT_EQ(file->learner.replay_capacity, builtin->learner.replay_capacity);
  EXPECT_EQ(file->users.max_consumed_items, builtin->users.max_consumed_items);
  EXPECT_EQ(file->users.learn_taste, builtin->users.learn_taste);
  EXPECT_EQ(file->users.taste_prior_precision, builtin->users.taste_prior_precision);
  EXPECT_EQ(file->users.taste_forgetting, builtin->users.taste_forgetting);
  EXPECT_EQ(file->users.taste_change_surprise, builtin->users.taste_change_surprise);
  EXPECT_EQ(file->users.taste_change_keep, builtin->users.taste_change_keep);
  EXPECT_EQ(file->users.max_cached_users, builtin->users.max_cached_users);
  EXPECT_EQ(file->storage.path, builtin->storage.path);
  EXPECT_EQ(file->storage.sync, builtin->storage.sync);
  EXPECT_EQ(file->storage.group_commit_ms, builtin->storage.group_commit_ms);
  EXPECT_EQ(file->storage.checkpoint_interval_s, builtin->storage.checkpoint_interval_s);
  EXPECT_EQ(file->storage.checkpoints_to_keep, builtin->storage.checkpoints_to_keep);
  EXPECT_EQ(file->storage.user_flush_ms, builtin->storage.user_flush_ms);
  EXPECT_EQ(file->storage.seed_from, builtin->storage.seed_from);
  EXPECT_EQ(file->model.user_buckets, builtin->model.user_buckets);
  EXPECT_EQ(file->model.history_decay, builtin->model.history_decay);
  EXPECT_EQ(file->model.dropout, builtin->model.dropout);
  EXPECT_EQ(file->learner.reward_loss_weight, builtin->learner.reward_loss_weight);
  EXPECT_EQ(file->learner.policy_loss_weight, builtin->learner.policy_loss_weight);
  EXPECT_EQ(file->learner.sparse_learning_rate_multiplier, builtin->learner.sparse_learning_rate_multiplier);
  EXPECT_EQ(file->policy.seed, builtin->policy.seed);
  EXPECT_EQ(file->batcher.max_batch_size, builtin->batcher.max_batch_size);
  EXPECT_EQ(file->batcher.max_queue_delay_us, builtin->batcher.max_queue_delay_us);
  EXPECT_EQ(file->batcher.max_queue_size, builtin->batcher.max_queue_size);
  EXPECT_EQ(file->batcher.num_threads, builtin->batcher.num_threads);
  EXPECT_EQ(file->impressions.capacity, builtin->impressions.capacity);
  EXPECT_EQ(file->impressions.reward_wait_ms, builtin->impressions.reward_wait_ms);
  EXPECT_EQ(file->impressions.default_reward, builtin->impressions.default_reward);
  EXPECT_EQ(file->impressions.experience_capacity, builtin->impressions.experience_capacity);
  EXPECT_EQ(file->impressions.feedback_aggregation, builtin->impressions.feedback_aggregation);
  EXPECT_EQ(file->impressions.late_feedback_memory, builtin->impressions.late_feedback_memory);
  const auto& fl = file->learner;
  const auto& bl = builtin->learner;
  EXPECT_EQ(fl.enabled, bl.enabled);
  EXPECT_EQ(fl.batch_size, bl.batch_size);
  EXPECT_EQ(fl.max_batch_wait_ms, bl.max_batch_wait_ms);
  EXPECT_EQ(fl.learning_rate, bl.learning_rate);
  EXPECT_EQ(fl.grad_clip_norm, bl.grad_clip_norm);
  EXPECT_EQ(fl.importance_weight_cap, bl.importance_weight_cap);
  EXPECT_EQ(fl.baseline_decay, bl.baseline_decay);
  EXPECT_EQ(fl.next_item_loss_weight, bl.next_item_loss_weight);
  EXPECT_EQ(fl.next_item_negatives, bl.next_item_negatives);
  EXPECT_EQ(fl.publish_every, bl.publish_every);
  EXPECT_EQ(fl.publish_interval_ms, bl.publish_interval_ms);
  EXPECT_EQ(fl.guard_window, bl.guard_window);
  EXPECT_EQ(fl.guard_min_examples, bl.guard_min_examples);
  EXPECT_EQ(fl.guard_margin, bl.guard_margin);
  EXPECT_EQ(fl.guard_z, bl.guard_z);
  EXPECT_EQ(fl.seed, bl.seed);
  const auto& ft = file->tuner;
  const auto& bt = builtin->tuner;
  EXPECT_EQ(ft.enabled, bt.enabled);
  EXPECT_EQ(ft.round_size, bt.round_size);
  EXPECT_EQ(ft.round_ms, bt.round_ms);
  EXPECT_EQ(ft.log10_lr_min, bt.log10_lr_min);
  EXPECT_EQ(ft.log10_lr_max, bt.log10_lr_max);
  EXPECT_EQ(ft.exploration_min, bt.exploration_min);
  EXPECT_EQ(ft.exploration_max, bt.exploration_max);
  EXPECT_EQ(ft.max_exploration_step, bt.max_exploration_step);
  EXPECT_EQ(ft.initial_rounds, bt.initial_rounds);
  EXPECT_EQ(ft.acquisition, bt.acquisition);
  EXPECT_EQ(ft.forgetting, bt.forgetting);
  EXPECT_EQ(ft.window, bt.window);
  EXPECT_EQ(ft.seed, bt.seed);
}

TEST(OptionsTest, ShippedDemoConfigIsTheDefaultsOnTheDemoCatalog) {
  auto demo = LoadConfigFile(std::string(RTREC_SOURCE_DIR) + "/config/demo.yaml");
  ASSERT_TRUE(demo.ok()) << demo.status();
  auto builtin = ParseConfig("", ".");
  ASSERT_TRUE(builtin.ok());
  EXPECT_EQ(demo->catalog.path, builtin->catalog.path);
  EXPECT_EQ(demo->impressions.reward_wait_ms, builtin->impressions.reward_wait_ms);
  EXPECT_EQ(demo->model.embedding_dim, builtin->model.embedding_dim);
  EXPECT_EQ(demo->learner.learning_rate, builtin->learner.learning_rate);
  EXPECT_EQ(demo->policy.temperature, builtin->policy.temperature);
  EXPECT_TRUE(demo->learner.enabled);
}

TEST(OptionsTest, ParsesValuesAndResolvesRelativePaths) {
  auto c = ParseConfig(R"(
batcher:
  max_batch_size: 8
  max_queue_delay_us: 500
policy:
  temperature: 0.5
  exclusion: none
catalog:
  path: items.jsonl
text_tower:
  checkpoint_dir: /abs/bert
)", "/etc/rtrec");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->batcher.max_batch_size, 8);
  EXPECT_EQ(c->batcher.max_queue_delay_us, 500);
  EXPECT_DOUBLE_EQ(c->policy.temperature, 0.5);
  EXPECT_EQ(c->policy.exclusion, "none");
  EXPECT_EQ(c->catalog.path, "/etc/rtrec/items.jsonl");
  EXPECT_EQ(c->text_tower.checkpoint_dir, "/abs/bert");
}

struct BadConfig {
  const char* yaml;
  const char* key_in_message;
};

class OptionsErrorTest : public ::testing::TestWithParam<BadConfig> {};

TEST_P(OptionsErrorTest, ErrorNamesTheKey) {
  auto c = ParseConfig(GetParam().yaml, ".");
  ASSERT_FALSE(c.ok()) << GetParam().yaml;
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr(GetParam().key_in_message));
}

INSTANTIATE_TEST_SUITE_P(
    Table, OptionsErrorTest,
    ::testing::Values(
        BadConfig{"batcher:\n  max_batch_sise: 4\n", "'batcher.max_batch_sise': unknown key"},
        BadConfig{"batchr:\n  max_batch_size: 4\n", "'batchr': unknown key"},
        BadConfig{"batcher:\n  max_batch_size: four\n", "'batcher.max_batch_size': must be an integer"},
        BadConfig{"batcher:\n  max_batch_size: 0\n", "'batcher.max_batch_size': must be between 1"},
        BadConfig{"batcher:\n  max_batch_size: 2.5\n", "'batcher.max_batch_size'"},
        BadConfig{"policy:\n  temperature: -1\n", "'policy.temperature'"},
        BadConfig{"policy:\n  epsilon: 1.5\n", "'policy.epsilon'"},
        BadConfig{"policy:\n  exclusion: maybe\n", "'policy.exclusion'"},
        BadConfig{"policy:\n  default_k: 50\n  max_k: 10\n", "'policy.default_k'"},
        BadConfig{"model:\n  device: tpu\n", "'model.device': must be one of auto|cpu|cuda"},
        BadConfig{"model:\n  embedding_dim: 10\n  num_heads: 4\n", "'model.num_heads'"},
        BadConfig{"text_tower:\n  pooling: max\n", "'text_tower.pooling'"},
        BadConfig{"text_tower:\n  max_seq_length: 1000\n", "'text_tower.max_seq_length'"},
        BadConfig{"users:\n  history_length: [1, 2]\n", "'users.history_length'"},
        BadConfig{"users:\n  taste_forgetting: 0.1\n", "'users.taste_forgetting'"},
        BadConfig{"users:\n  taste_change_surprise: -1\n", "'users.taste_change_surprise'"},
        BadConfig{"users:\n  taste_change_keep: 1.5\n", "'users.taste_change_keep'"},
        BadConfig{"users:\n  max_cached_users: 0\n", "'users.max_cached_users'"},
        BadConfig{"storage:\n  sync: sometimes\n", "'storage.sync'"},
        BadConfig{"storage:\n  group_commit_ms: 0\n", "'storage.group_commit_ms'"},
        BadConfig{"storage:\n  checkpoints_to_keep: 0\n", "'storage.checkpoints_to_keep'"},
        BadConfig{"storage:\n  checkpoint_interval_s: -1\n", "'storage.checkpoint_interval_s'"},
        BadConfig{"storage:\n  colour: red\n", "'storage.colour': unknown key"},
        BadConfig{"users:\n  learn_taste: maybe\n", "'users.learn_taste'"},
        BadConfig{"server: 5\n", "'server': must be a mapping"},
        BadConfig{"impressions:\n  reward_wait_ms: 0\n", "'impressions.reward_wait_ms'"},
        BadConfig{"impressions:\n  feedback_aggregation: max\n",
                  "'impressions.feedback_aggregation'"},
        BadConfig{"learner:\n  learning_rate: 0\n", "'learner.learning_rate'"},
        BadConfig{"learner:\n  publish_every: 0\n", "'learner.publish_every'"},
        BadConfig{"learner:\n  batchsize: 8\n", "'learner.batchsize'"},
        BadConfig{"tuner:\n  acquisition: pi\n", "'tuner.acquisition'"},
        BadConfig{"tuner:\n  log10_lr_min: -2\n  log10_lr_max: -3\n", "'tuner.log10_lr_max'"},
        BadConfig{"server:\n  listen_address: \"\"\n", "'server.listen_address'"},
        BadConfig{"batcher: {max_batch_size: 4\n", "not valid YAML"},
        BadConfig{"server:\n  tls:\n    cert_chain: a.pem\n", "'server.tls.private_key'"},
        BadConfig{"server:\n  tls:\n    client_ca: ca.pem\n", "'server.tls.client_ca'"},
        BadConfig{"server:\n  tls:\n    ciphers: all\n", "'server.tls.ciphers': unknown key"},
        BadConfig{"server:\n  auth:\n    tokens: x\n", "'server.auth.tokens': unknown key"},
        BadConfig{"server:\n  max_upsert_items: 1000000\n  max_item_text_bytes: 16777216\n",
                  "over gRPC's 2 GB message limit"},
        BadConfig{"batcher:\n  max_queued_per_client: -1\n", "'batcher.max_queued_per_client'"},
        BadConfig{"batcher:\n  deadline_admission: sometimes\n", "'batcher.deadline_admission'"},
        BadConfig{"impressions:\n  max_reward_sum: 0\n", "'impressions.max_reward_sum'"},
        BadConfig{"batcher:\n  max_batch_size: 4\nbatcher:\n  max_batch_size: 8\n",
                  "'batcher': appears twice (line 3)"},
        BadConfig{"policy:\n  epsilon: 0.1\n  epsilon: 0.2\n", "'policy.epsilon': appears twice"}));

TEST(OptionsTest, NestedSectionsAndTheDerivedMessageLimit) {
  auto c = ParseConfig(
      "server:\n  tls:\n    cert_chain: tls/cert.pem\n    private_key: tls/key.pem\n"
      "    client_ca: /etc/ca.pem\n  auth:\n    tokens_file: tokens\n"
      "  max_upsert_items: 10\n  max_item_text_bytes: 1048576\n",
      "/etc/rtrec");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server.tls.cert_chain, "/etc/rtrec/tls/cert.pem");
  EXPECT_EQ(c->server.tls.private_key, "/etc/rtrec/tls/key.pem");
  EXPECT_EQ(c->server.tls.client_ca, "/etc/ca.pem");
  EXPECT_EQ(c->server.auth.tokens_file, "/etc/rtrec/tokens");
  EXPECT_TRUE(c->server.tls.enabled());
  // Ten items of 1 MiB and their ids and tags: over gRPC's 4 MiB default.
  EXPECT_EQ(c->server.MaxMessageBytes(), 10 * (1048576 + 16 * 264 + 64));
  c->server.max_message_bytes = 123456;
  EXPECT_EQ(c->server.MaxMessageBytes(), 123456);
  // The defaults: never below gRPC's own 4 MiB.
  EXPECT_GE(ParseConfig("", ".")->server.MaxMessageBytes(), 4 << 20);
}

TEST(OptionsTest, ReportsEveryBadKeyAtOnce) {
  auto c = ParseConfig("batcher:\n  num_threads: 0\npolicy:\n  max_k: 0\n", ".");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("batcher.num_threads"));
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("policy.max_k"));
}

TEST(OptionsTest, MissingFileIsNotFound) {
  auto c = LoadConfigFile("/nonexistent/rtrec.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace rtrec::config
