// Typed options for every rtrec component, read from one YAML file.
//
// config/default.yaml documents every key with its default; the defaults below
// must match it (a test checks that parsing default.yaml yields these values).
// Unknown keys, wrong types and out-of-range values are refused by
// LoadConfigFile/ParseConfig with a message that names the key.
//
// Relative paths in a config file are resolved against the directory that
// holds the file. An empty path means the copy shipped in the repository.
//
// Thread safety: plain values; parse once at start and pass copies down.
#ifndef RTREC_CONFIG_OPTIONS_H_
#define RTREC_CONFIG_OPTIONS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace rtrec::config {

// server.tls: TLS for the gRPC port (the metrics port stays plain HTTP).
// All PEM files. Certificates are re-read on SIGHUP (a pair that does not
// load is refused and the old one keeps serving).
struct TlsOptions {
  // Certificate chain and its private key; both set turns TLS on.
  // Default: "" (plaintext).
  std::string cert_chain;
  std::string private_key;
  // CA that signs client certificates; set means mutual TLS: a client
  // without a certificate signed by it cannot connect. Default: "".
  std::string client_ca;
  bool enabled() const { return !cert_chain.empty(); }
};

// server.auth: bearer tokens ("authorization: Bearer <token>" metadata).
struct AuthOptions {
  // File of "<name> <role> <token>" lines (role serve or admin; admin may
  // also serve); '#' starts a comment. Set: every Recommender and Admin call
  // needs a token. Empty: serve calls are open, admin calls (UpsertItems,
  // rtrec.v1.Admin) only on a loopback listener. Re-read on SIGHUP.
  // Default: "".
  std::string tokens_file;
};

struct ServerOptions {
  // host:port for gRPC. Port 0 picks a free port (printed at start). Give
  // 0.0.0.0 (or a public address) to serve other hosts; see server.auth.
  // Default: "127.0.0.1:50051".
  std::string listen_address = "127.0.0.1:50051";
  // host:port for the Prometheus /metrics endpoint; empty disables it.
  // Default: "127.0.0.1:9464".
  std::string metrics_address = "127.0.0.1:9464";
  // Longest accepted Recommend.query, in bytes. Default: 1024.
  int64_t max_query_bytes = 1024;
  // Most candidate_item_ids in one Recommend. Default: 10000.
  int64_t max_candidates = 10000;
  // Most context_item_ids in one Recommend. Default: 100.
  int64_t max_context_items = 100;
  // Most items in one UpsertItems call. Default: 1000.
  int64_t max_upsert_items = 1000;
  // Longest accepted item title + text, in bytes. Default: 65536.
  int64_t max_item_text_bytes = 65536;
  // Largest gRPC message accepted; 0 derives it from the limits above (the
  // largest request they allow: MaxMessageBytes()). Default: 0.
  int64_t max_message_bytes = 0;
  TlsOptions tls;
  AuthOptions auth;

  // The gRPC receive limit: max_message_bytes, or the largest Recommend or
  // UpsertItems request the other limits allow.
  int64_t MaxMessageBytes() const;
};

struct CatalogOptions {
  // JSONL file, one {"item_id","title","text","tags"} object a line.
  // Default: "" (the demo catalog, data/demo_catalog.jsonl).
  std::string path;
  // Capacity of the catalog, including items added by UpsertItems; also the
  // size of the model's id-embedding table. Default: 100000.
  int64_t max_items = 100000;
};

struct UserStateOptions {
  // Items of recent history kept per user (the user tower's window).
  // Default: 20.
  int64_t history_length = 20;
  // Independent lock shards of the user table. Default: 64.
  int64_t num_shards = 64;
  // Distinct items remembered per user as consumed (positive feedback), for
  // policy.exclusion "consumed"; the oldest are forgotten first.
  // Default: 1000.
  int64_t max_consumed_items = 1000;
  // Learn each user's taste vector t_u from the user's joined feedback, at
  // once (an online Newton step of a Bayesian logistic regression over the
  // serving model's item vectors; state/user_state.h). Default: true.
  bool learn_taste = true;
  // Prior precision λ of a taste vector (1 / its prior variance per
  // dimension). Larger values move a taste less per example. Default: 20.
  double taste_prior_precision = 20.0;
  // Forgetting γ per example: the taste's precision P becomes
  // γ·P + (1 − γ)·λ·I before each update, so old evidence fades and a
  // change of taste is followed within a few requests. 1 never forgets.
  // Default: 0.97.
  double taste_forgetting = 0.97;
  // Change of taste: when the clicks the taste predicted for the user's
  // reports since their last click add up to this many (the sum of P(click)
  // over consecutive unclicked reports), the user's taste is taken to have
  // changed: the taste's evidence shrinks to taste_change_keep of itself and
  // the user tower reads only the behaviour after the change (the history
  // itself, and what exclusion leaves out, stay). 0 never detects a change.
  // Default: 4.
  double taste_change_surprise = 4.0;
  // Users kept in memory (least recently used evicted first). With a store
  // (storage.path) an evicted user is written to it and read back at their
  // next request; without one the user's history and taste are forgotten
  // (counted, rtrec_users_evicted_total). Default: 1,000,000.
  int64_t max_cached_users = 1000000;
  // Share of the taste's precision kept at a detected change (0..1).
  // Default: 0.02.
  double taste_change_keep = 0.02;
};

struct TextTowerOptions {
  // Hugging Face BERT folder (config.json, vocab.txt, model.safetensors).
  // Empty: a randomly initialised BERT of the shape below, for demos only.
  // Default: "".
  std::string checkpoint_dir;
  // WordPiece vocabulary used when checkpoint_dir is empty.
  // Default: "" (data/bert-base-uncased-vocab.txt, the original BERT uncased).
  std::string vocab_path;
  // Shape of the random BERT used when checkpoint_dir is empty.
  int64_t hidden_size = 128;          // Default: 128.
  int64_t num_layers = 2;             // Default: 2.
  int64_t num_heads = 2;              // Default: 2.
  int64_t intermediate_size = 512;    // Default: 512.
  int64_t max_position_embeddings = 512;  // Default: 512.
  // Tokens per text after [CLS]/[SEP] are added; longer text is truncated.
  // Default: 64.
  int64_t max_seq_length = 64;
  // How a text becomes one vector: "mean" over tokens, "cls" (last hidden
  // state of [CLS]) or "pooler" (BERT's dense+tanh pooler). Default: "mean".
  std::string pooling = "mean";
  // Texts per encoder call when encoding the catalog. Default: 32.
  int64_t encode_batch_size = 32;
  // Seed of the random BERT. Default: 7.
  int64_t seed = 7;
};

struct ModelOptions {
  // "auto" (CUDA when present, else CPU), "cpu" or "cuda". Default: "auto".
  std::string device = "auto";
  // Width of item and user vectors. Default: 64.
  int64_t embedding_dim = 64;
  // Causal Transformer layers of the user tower. Default: 2.
  int64_t num_layers = 2;
  // Attention heads; must divide embedding_dim. Default: 2.
  int64_t num_heads = 2;
  // Feed-forward width of the user tower. Default: 128.
  int64_t ffn_dim = 128;
  // Seed of the initial weights. Default: 1.
  int64_t seed = 1;
  // Intra-op threads for CPU inference. Default: 1.
  int64_t intra_op_threads = 1;
  // Rows of the hashed per-user embedding added to the user state (user ids
  // hash into them, so a new user costs nothing); 0 disables it.
  // Default: 65536.
  int64_t user_buckets = 65536;
  // The user state adds the recency-weighted mean of the history's item
  // vectors; an item k clicks before the latest weighs history_decay^k.
  // Lower values follow a change of taste faster. Default: 0.4.
  double history_decay = 0.4;
  // Dropout in the user tower's Transformer layers while the learner trains.
  // Each online example is seen once, so there is little to regularise, and
  // the dropout masks cost a fifth of a replay's time. Default: 0.
  double dropout = 0.0;
};

struct PolicyOptions {
  // Softmax temperature τ over scores (which are reward logits); larger
  // explores more. Default: 0.1.
  double temperature = 0.1;
  // Share of probability mixed uniformly over the candidates. Default: 0.0.
  double epsilon = 0.0;
  // Slate size when a request leaves k at 0. Default: 10.
  int64_t default_k = 10;
  // Largest slate a request may ask for. Default: 100.
  int64_t max_k = 100;
  // What a slate leaves out of what the user already consumed (items with
  // positive feedback), unless the request says otherwise: "none" (repeat
  // purchases, a daily coffee), "recent" (the last users.history_length
  // items) or "consumed" (the last users.max_consumed_items distinct items:
  // films, books). Default: "recent".
  std::string exclusion = "recent";
  // Seed of the sampling streams (one per inference thread). Default: 12345.
  int64_t seed = 12345;
};

struct BatcherOptions {
  // A batch closes when it holds this many requests... Default: 32.
  int64_t max_batch_size = 32;
  // ...or when its oldest request has waited this long. Larger values give
  // bigger batches under load at the price of latency. Default: 2000.
  int64_t max_queue_delay_us = 2000;
  // Requests waiting beyond this are refused with RESOURCE_EXHAUSTED.
  // Default: 1024.
  int64_t max_queue_size = 1024;
  // Inference threads, each running one batch at a time. Default: 2.
  int64_t num_threads = 2;
  // Admission by deadline: a request whose deadline cannot cover the
  // expected queue wait plus compute is refused at once (DEADLINE_EXCEEDED),
  // and a batch never starts a request that would expire before it ends.
  // Default: true.
  bool deadline_admission = true;
  // Fairness: the queue serves clients (a token's name, else a connection)
  // in turn, one request each, and holds at most this many requests of one
  // client; beyond it RESOURCE_EXHAUSTED with a retry hint. 0: no per-client
  // bound. Default: 64.
  int64_t max_queued_per_client = 64;
};

struct ImpressionLogOptions {
  // Impressions kept for joining; the oldest expire early when full.
  // Default: 1000000.
  int64_t capacity = 1000000;
  // How long an impression waits for feedback before its unanswered items
  // become examples with default_reward. Default: 600000 (10 minutes).
  int64_t reward_wait_ms = 600000;
  // Reward of a shown item that got no feedback in time. Default: 0.0.
  double default_reward = 0.0;
  // Repeated feedback for one (request, item): "first" learns the first
  // reward at once and counts later ones as duplicates; "sum" adds them up and
  // learns the sum when the impression closes (after reward_wait_ms).
  // Default: "first".
  std::string feedback_aggregation = "first";
  // Under "sum": the summed reward of one shown item is clamped to
  // [-max_reward_sum, max_reward_sum]. Default: 100.
  double max_reward_sum = 100.0;
  // Request ids of expired impressions remembered, so that late feedback is
  // recognised (counted, applied to the user's history, not learned).
  // Default: 100000.
  int64_t late_feedback_memory = 100000;
  // Experiences waiting for the learner. When full, Feedback answers
  // RESOURCE_EXHAUSTED (back-pressure) instead of dropping anything.
  // Default: 100000.
  int64_t experience_capacity = 100000;
};

struct LearnerOptions {
  // Run the online learner. Default: true.
  bool enabled = true;
  // Experiences per optimizer step. Default: 128.
  int64_t batch_size = 128;
  // The learner's CPU budget, so that it does not slow serving down
  // (bench/RESULTS.md, issue 16). At most this many steps per second; 0: no
  // cap. A capped learner leaves experiences waiting (and Feedback answers
  // RESOURCE_EXHAUSTED/LEARNER_BEHIND once impressions.experience_capacity
  // fill up): nothing is dropped. Default: 0.
  double max_steps_per_second = 0.0;
  // Threads of the learner's tensor operations; 0: LibTorch's default (as
  // many as cores). Default: 0.
  int64_t intra_op_threads = 0;
  // Scheduling niceness of the learner thread (and the threads it starts),
  // 0..19: under contention serving's threads run first. Default: 0.
  int64_t nice = 0;
  // A step runs on a partial batch once its first experience waited this
  // long. Default: 200.
  int64_t max_batch_wait_ms = 200;
  // Adam learning rate at start (the tuner may change it). Default: 0.0005.
  double learning_rate = 0.0005;
  // Gradients are clipped to this global L2 norm. Default: 1.0.
  double grad_clip_norm = 1.0;
  // Cap c on the importance weight π/β. Default: 10.
  double importance_weight_cap = 10.0;
  // Decay of the running reward baseline b, per example. Default: 0.995.
  double baseline_decay = 0.995;
  // Weight of the reward model's loss: binary cross-entropy of
  // P(reward > 0 | user, item, slate position) on every logged example,
  // zeros included. The reward model is the policy term's control variate;
  // 0 disables it (the control variate is then the running mean b).
  // Default: 1.0.
  double reward_loss_weight = 1.0;
  // Weight of the off-policy top-K REINFORCE term. Default: 0: on the
  // bandit world every weight tried (1 down to 0.001) lost against the
  // reward model alone (bench/RESULTS.md): the single-draw log π of a slate's
  // lower items keeps falling without saturating and pulls the shared scores
  // apart. Default: 0.0.
  double policy_loss_weight = 0.0;
  // The embedding tables (item ids, item biases, users) learn at
  // learning_rate times this: each row sees only its own examples.
  // Default: 20.
  double sparse_learning_rate_multiplier = 20.0;
  // Per-example SGD step of the hashed user embedding: how fast a user's
  // own feedback personalises (and re-personalises) the user. Default: 0.1.
  double user_learning_rate = 0.1;
  // Each step also learns from replay_ratio times its batch size examples
  // drawn at random from the last replay_capacity ones learned: online data
  // is seen more than once at a learning rate low enough to stay stable.
  // 0 disables replay. Default: 0.
  double replay_ratio = 0.0;
  // Default: 20000.
  int64_t replay_capacity = 20000;
  // Weight of the auxiliary next-item loss on positive organic events
  // (feedback without a request_id; joined ones teach the reward model).
  // Default: 1.0.
  double next_item_loss_weight = 1.0;
  // Sampled negatives per positive event in the next-item loss. Default: 64.
  int64_t next_item_negatives = 64;
  // Publish a snapshot every this many steps... Default: 10.
  int64_t publish_every = 10;
  // ...or when this long has passed since the last publish and at least one
  // step ran; 0 disables the timer. Default: 1000.
  int64_t publish_interval_ms = 1000;
  // Recent logged examples on which a new snapshot's self-normalised IPS
  // estimate is compared with the serving snapshot's. Every check computes
  // the candidate's π on all of them, which delays each new version (~12 ms
  // per 256 examples on 2 cores); an upside-down ranking is refused with 256
  // to 2048 (tests/learner/learner_test.cc). Default: 512.
  int64_t guard_window = 512;
  // Fewer examples than this in the window: only finiteness is checked.
  // Default: 200.
  int64_t guard_min_examples = 200;
  // A snapshot whose estimate is below the serving one's by more than
  // guard_margin (reward units) plus guard_z standard errors of the paired
  // difference is rejected and the learner rolls back. Defaults: 0.1, 2.
  double guard_margin = 0.1;
  double guard_z = 2.0;
  // Seed of the learner's sampling and dropout. Default: 1.
  int64_t seed = 1;
};

struct TunerOptions {
  // Let the GP tuner choose the learning rate and the exploration share
  // (policy.epsilon) round by round. Needs the learner. Off by default: on
  // the bandit world its exploratory rounds cost more than its choices gained
  // (bench/RESULTS.md); ε spreads a Plackett-Luce slate's later slots almost
  // uniformly when τ is small. Default: false.
  bool enabled = false;
  // A round ends after this many logged examples (joined or unanswered)...
  // Default: 2000.
  int64_t round_size = 2000;
  // ...or, when > 0, after this long with at least one example. Default: 0.
  int64_t round_ms = 0;
  // The box searched: log10 of the learning rate... Default: -4 .. -2.5.
  double log10_lr_min = -4.0;
  double log10_lr_max = -2.5;
  // ...and the exploration share ε. Default: 0 .. 0.2.
  double exploration_min = 0.0;
  double exploration_max = 0.2;
  // Largest change of ε from one round to the next. Default: 0.05.
  double max_exploration_step = 0.05;
  // Quasi-random rounds before the GP takes over. Default: 4.
  int64_t initial_rounds = 4;
  // "ei" (expected improvement), "ucb" or "random" (random search).
  // Default: "ei".
  std::string acquisition = "ei";
  // Weight of a round k rounds old: forgetting^k. Default: 0.97.
  double forgetting = 0.97;
  // Rounds the GP sees (the most recent). Default: 30.
  int64_t window = 30;
  // Seed of the initial design and the hyper-parameter restarts. Default: 1.
  int64_t seed = 1;
};

// Durable state (storage/state_store.h, storage/checkpoints.h).
struct StorageOptions {
  // Directory of the embedded store (RocksDB) and the model checkpoints.
  // Empty: nothing survives a restart (tests, benches). Default: empty; the
  // Docker image sets /var/lib/rtrec/state.
  std::string path;
  // When an accepted write reaches the disk itself:
  //   "group_commit": every write is in the store's write-ahead log (the
  //     operating system's cache) before it is acknowledged, so a killed
  //     process loses nothing; the log is fsynced every group_commit_ms, so a
  //     power failure loses at most that window.
  //   "per_write": the log is also fsynced before every acknowledgement
  //     (concurrent writers share an fsync); nothing acknowledged is lost
  //     even on power failure.
  // Default: group_commit.
  std::string sync = "group_commit";
  // Interval of the background fsync under "group_commit". Default: 50.
  int64_t group_commit_ms = 50;
  // A model checkpoint is written after a publish once this long passed
  // since the last one, and at shutdown. 0: only at shutdown. Default: 60.
  int64_t checkpoint_interval_s = 60;
  // Newest checkpoints kept (older ones are deleted). Default: 3.
  int64_t checkpoints_to_keep = 3;
  // Tastes of users in memory are written back this often (a user's
  // history is written at every change). Default: 1000.
  int64_t user_flush_ms = 1000;
  // A folder made by the Admin ExportCheckpoint call (checkpoint.rtrec and
  // catalog.jsonl): a store without checkpoints and catalog starts from it
  // (its model, learner state and catalog, in the same item order); ignored
  // once the store has its own. Default: empty.
  std::string seed_from;
};

// The retrieval stage for large catalogs (model/retrieval_index.h): an
// inner-product index over the item vectors returns each request's top
// `candidates` items, which the model scores and the policy explores over.
struct RetrievalOptions {
  // Catalogs of at least this many items are served through the retrieval
  // stage; smaller ones are scored whole (exact). 0: always exact.
  // Default: 50000.
  int64_t min_items = 50000;
  // Candidates retrieved per request (the policy's choice set). A slate's
  // propensities cost O(candidates · k) per point of their integral, the
  // largest per-request cost: at a million items 500 gave 1018 Recommend/s
  // (p99 60 ms), 300 gave 1290 (p99 48 ms) (bench/RESULTS.md). Default: 300.
  int64_t candidates = 300;
  // Inverted lists of the index; 0: 4·√(items). Default: 0.
  int64_t lists = 0;
  // Lists scanned per query: recall against speed (at a million items and
  // 4000 lists: 48 → recall@100 0.93, 64 → 0.96, 96 → 0.99;
  // bench/RESULTS.md). Default: 64.
  int64_t probes = 64;
  // Vectors the index's quantizer is trained on. Default: 100000.
  int64_t train_sample = 100000;
  // The index is rebuilt from the newest item vectors at most this often;
  // items added since are scored exactly until then. Default: 60000.
  int64_t reindex_interval_ms = 60000;
};

struct RtrecConfig {
  ServerOptions server;
  CatalogOptions catalog;
  UserStateOptions users;
  TextTowerOptions text_tower;
  ModelOptions model;
  PolicyOptions policy;
  BatcherOptions batcher;
  RetrievalOptions retrieval;
  ImpressionLogOptions impressions;
  LearnerOptions learner;
  TunerOptions tuner;
  StorageOptions storage;
};

// Parses YAML text. Relative paths are resolved against `base_dir`.
absl::StatusOr<RtrecConfig> ParseConfig(const std::string& yaml_text,
                                        const std::string& base_dir);

// Reads and parses a config file.
absl::StatusOr<RtrecConfig> LoadConfigFile(const std::string& path);

// Paths of the files shipped in the repository.
std::string DefaultCatalogPath();
std::string DefaultVocabPath();

}  // namespace rtrec::config

#endif  // RTREC_CONFIG_OPTIONS_H_
