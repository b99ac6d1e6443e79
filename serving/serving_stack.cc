#include "serving/serving_stack.h"

#include <cstdio>
#include <filesystem>

#include "common/logging.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "learner/checkpointing.h"
#include "model/recommender_model.h"
#include "storage/state_keys.h"

namespace rtrec::serving {

ServingStack::ServingStack(const config::RtrecConfig& config_in, ServingStackOptions options)
    : config(config_in),
      policy(model::PolicyParams{config_in.policy.temperature, config_in.policy.epsilon}),
      options_(std::move(options)) {}

ServingStack::~ServingStack() {
  if (learner) learner->Stop();
  publisher.reset();
  catalog_writer.reset();  // finishes queued upserts and publishes
}

void ServingStack::Log(const std::string& message) const {
  if (options_.log) {
    options_.log(message);
  } else {
    logging::Info("serving", message);
  }
}

absl::StatusOr<std::unique_ptr<ServingStack>> ServingStack::Build(const config::RtrecConfig& config,
                                                                  ServingStackOptions options) {
  if (options.clock == nullptr) return absl::InvalidArgumentError("ServingStack needs a clock");
  std::unique_ptr<ServingStack> s(new ServingStack(config, std::move(options)));
  if (auto st = s->OpenStorage(); !st.ok()) return st;
  if (auto st = s->LoadModelAndCatalog(); !st.ok()) return st;
  if (auto st = s->LoadState(); !st.ok()) return st;
  if (auto st = s->LoadLearner(); !st.ok()) return st;
  return s;
}

absl::Status ServingStack::OpenStorage() {
  if (config.storage.path.empty()) {
    if (!options_.items) Log("storage.path is empty: state is kept in memory only; nothing survives a restart");
    return absl::OkStatus();
  }
  auto opened = storage::OpenStateStore(config.storage);
  if (!opened.ok()) return opened.status();
  store = std::move(*opened);
  checkpoints = std::make_unique<storage::CheckpointDirectory>(
      (std::filesystem::path(config.storage.path) / "checkpoints").string(),
      config.storage.checkpoints_to_keep);
  if (!config.storage.seed_from.empty()) {
    if (auto st = SeedFromExport(); !st.ok()) return st;
  }
  std::vector<std::string> refused;
  restored = checkpoints->ReadNewestGood(&refused);
  for (const auto& why : refused) Log(why);
  Log(absl::StrCat("storage at ", config.storage.path, " (sync ", config.storage.sync, ")",
                   restored ? absl::StrCat("; starting from the checkpoint of model v",
                                           restored->model_version(), " (",
                                           restored->learner_examples(), " examples learned)")
                            : "; no checkpoint yet"));
  return absl::OkStatus();
}

absl::Status ServingStack::SeedFromExport() {
  const std::filesystem::path seed(config.storage.seed_from);
  auto stored = model::ReadStoredCatalog(*store);
  if (!stored.ok()) return stored.status();
  if (!checkpoints->List().empty() || !stored->empty()) {
    Log(absl::StrCat("storage.seed_from ", seed.string(), " ignored: the store has its own state"));
    return absl::OkStatus();
  }
  auto record = storage::ReadCheckpointFile((seed / "checkpoint.rtrec").string());
  if (!record.ok()) {
    return absl::Status(record.status().code(),
                        absl::StrCat("storage.seed_from: ", record.status().message()));
  }
  const std::string catalog_file = (seed / "catalog.jsonl").string();
  if (!std::filesystem::exists(catalog_file)) {
    return absl::NotFoundError(absl::StrCat("storage.seed_from: ", catalog_file, " is missing"));
  }
  // The experiences it learned belong to the other deployment's store.
  record->set_learned_through(0);
  auto written = checkpoints->Write(*record);
  if (!written.ok()) return written.status();
  catalog_seed_path_ = catalog_file;
  Log(absl::StrCat("seeded from ", seed.string(), ": model v", record->model_version(), " and its catalog"));
  return absl::OkStatus();
}

absl::Status ServingStack::LoadModelAndCatalog() {
  model::ConfigureIntraOpThreads(config.model.intra_op_threads);
  config::RtrecConfig model_config = config;
  if (options_.cpu_only) model_config.model.device = "cpu";
  auto device = model::ResolveDevice(model_config.model.device);
  if (!device.ok()) return device.status();
  auto text = model::TextEmbedder::Create(config.text_tower, *device);
  if (!text.ok()) return text.status();
  std::shared_ptr<const model::TextEmbedder> text_tower = std::move(*text);
  auto snapshot = model::BuildInitialSnapshot(model_config, text_tower);
  if (!snapshot.ok()) return snapshot.status();
  if (restored) {
    auto from_checkpoint = learner::SnapshotFromArchive(
        **snapshot, restored->weights(),
        absl::StrCat("checkpoint of model v", restored->model_version(), " in ", checkpoints->dir()),
        restored->model_version());
    if (!from_checkpoint.ok()) return from_checkpoint.status();
    *snapshot = std::move(*from_checkpoint);
  }
  models.Publish(std::move(*snapshot));

  auto created = model::Catalog::Create(config.catalog, store.get());
  if (!created.ok()) return created.status();
  catalog = std::move(*created);
  // The catalog file seeds an empty store only: after that the store (with
  // every upsert) is the catalog, in its item order.
  absl::StatusOr<std::vector<model::CatalogItem>> items = std::vector<model::CatalogItem>();
  if (store) items = model::ReadStoredCatalog(*store);
  if (!items.ok()) return items.status();
  std::string source = "storage";
  if (!items->empty()) {
    Log(absl::StrCat("catalog of ", items->size(), " items from the store (catalog.path seeds an empty store only)"));
  } else if (options_.items) {
    items = std::move(*options_.items);
    source = "items";
  } else {
    const bool seeded = !catalog_seed_path_.empty();
    source = seeded ? "storage.seed_from" : "catalog.path";
    items = model::ReadCatalogJsonl(seeded ? catalog_seed_path_ : config.catalog.path,
                                    config.server.max_item_text_bytes);
    if (!items.ok()) {
      return absl::Status(items.status().code(), absl::StrCat(source, ": ", items.status().message()));
    }
  }
  if (items->empty()) return absl::OkStatus();
  auto upserted = EncodeAndUpsert(std::move(*items));
  if (!upserted.ok()) {
    return absl::Status(upserted.status().code(), absl::StrCat(source, ": ", upserted.status().message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<model::UpsertResult> ServingStack::EncodeAndUpsert(std::vector<model::CatalogItem> items) {
  std::vector<std::string> texts;
  texts.reserve(items.size());
  for (const auto& item : items) texts.push_back(model::ItemTextForEncoding(item));
  auto embeddings = models.Current()->text->Embed(texts);
  if (!embeddings.ok()) return embeddings.status();
  for (size_t i = 0; i < items.size(); ++i) items[i].text_embedding = std::move((*embeddings)[i]);
  auto result = catalog->Upsert(std::move(items));
  if (result.ok() && store) {
    if (auto st = store->Commit(); !st.ok()) return st;
  }
  return result;
}

absl::Status ServingStack::LoadState() {
  auto created = state::UserState::Create(config.users, config.model.embedding_dim, store.get());
  if (!created.ok()) return created.status();
  users = std::move(*created);
  // Without a learner nobody drains the buffer: keep the newest experiences
  // (counted drops) rather than refuse every feedback once it is full.
  experiences = std::make_unique<state::ExperienceBuffer>(
      options_.experience_capacity.value_or(config.impressions.experience_capacity),
      options_.overflow.value_or(config.learner.enabled ? state::OverflowPolicy::kRefuse
                                                        : state::OverflowPolicy::kDropOldest));
  auto log = state::ImpressionLog::Create(config.impressions, options_.clock, experiences.get());
  if (!log.ok()) return log.status();
  impressions = std::move(*log);
  if (store) {
    // What was accepted before a restart: the unlearned experiences (the
    // learner's backlog) and the impressions still open for feedback.
    if (config.learner.enabled) {
      auto pending = experiences->Restore(
          store.get(), restored ? static_cast<uint64_t>(restored->learned_through()) : 0);
      if (!pending.ok()) return pending.status();
      Log(absl::StrCat(*pending, " unlearned experiences restored"));
    }
    impressions->AttachStore(store.get());
    auto open = impressions->Restore();
    if (!open.ok()) return open.status();
    Log(absl::StrCat(*open, " open impressions restored"));
  }
  model::InferenceEngineOptions engine_options;
  engine_options.policy_seed = config.policy.seed;
  engine_options.policy = &policy;
  engine_options.intra_op_threads = config.model.intra_op_threads;
  engine_options.batch_observer = options_.batch_observer;
  engine_options.step_to_served_observer = options_.step_to_served_observer;
  engine_options.retrieval = config.retrieval;
  model::Catalog* items = catalog.get();
  engine_options.latest_catalog = [items] { return items->Snapshot(); };
  auto created_engine = model::InferenceEngine::Create(engine_options, &models, impressions.get());
  if (!created_engine.ok()) return created_engine.status();
  engine = std::move(*created_engine);
  // A large catalog's item vectors and index are ready before serving.
  const auto t0 = absl::Now();
  if (auto st = engine->PrepareItems(/*force_index=*/true); !st.ok()) return st;
  const model::RetrievalStats rs = engine->retrieval_stats();
  if (rs.active) {
    Log(absl::StrFormat("retrieval index of %d items (%d lists, %d probes) built in %.1f s (item vectors %.1f s)",
                        rs.index_items, rs.index_lists, config.retrieval.probes,
                        absl::ToDoubleSeconds(absl::Now() - t0), rs.last_items_seconds));
  }
  return absl::OkStatus();
}

absl::Status ServingStack::LoadLearner() {
  if (options_.with_publisher) {
    catalog_writer = std::make_unique<SerialExecutor>();
    publisher = std::make_unique<learner::ModelPublisher>(&models, catalog.get(), catalog_writer.get());
  }
  if (!config.learner.enabled) return absl::OkStatus();
  auto created = learner::Learner::Create(config.learner, &models, catalog.get(), &policy, publisher.get(),
                                          options_.clock);
  if (!created.ok()) return created.status();
  learner = std::move(*created);
  if (options_.learner_uses_tastes) learner->UseUserTastes(users.get());
  if (restored) {
    if (auto st = learner->RestoreFrom(*restored); !st.ok()) return st;
  }
  if (checkpoints) {
    learner->SetCheckpointHook(
        config.storage.checkpoint_interval_s > 0 ? absl::Seconds(config.storage.checkpoint_interval_s)
                                                 : absl::InfiniteDuration(),
        [this](storage::v1::CheckpointRecord record) {
          auto written = WriteCheckpoint(std::move(record));
          if (!written.ok()) Log(absl::StrCat("checkpoint not written: ", written.status().message()));
        });
  }
  if (config.tuner.enabled) {
    auto created_tuner =
        learner::CreateTunerFor(config, learner.get(), &policy, options_.clock, options_.tuner_warmup);
    if (!created_tuner.ok()) return created_tuner.status();
    tuner = std::move(*created_tuner);
    if (restored) {
      std::vector<tuner::TunerRound> rounds;
      for (const auto& r : restored->tuner_rounds()) {
        rounds.push_back({r.round(), r.learning_rate(), r.exploration(), r.objective(), r.examples()});
      }
      tuner->Restore(rounds, restored->learning_rate(), restored->epsilon());
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ServingStack::WriteCheckpoint(storage::v1::CheckpointRecord record) {
  if (!checkpoints) return absl::FailedPreconditionError("storage.path is empty: no checkpoints");
  rtrec::MutexLock lock(&checkpoint_mu_);
  const absl::Time started = absl::Now();
  if (tuner) {
    for (const auto& r : tuner->state().history) {
      auto* out = record.add_tuner_rounds();
      out->set_round(r.round);
      out->set_learning_rate(r.learning_rate);
      out->set_exploration(r.exploration);
      out->set_objective(r.objective);
      out->set_examples(r.examples);
    }
  }
  auto path = checkpoints->Write(record);
  if (!path.ok()) return path.status();
  // What the checkpoint's weights learned need not be replayed.
  storage::WriteBatch learned;
  learned.DeleteRange(storage::ExperienceKey(0),
                      storage::ExperienceKey(static_cast<uint64_t>(record.learned_through()) + 1));
  if (auto st = store->Write(learned); !st.ok()) return st;
  const double seconds = absl::ToDoubleSeconds(absl::Now() - started);
  last_checkpoint_seconds_.store(seconds);
  checkpoints_written_.fetch_add(1);
  Log(absl::StrFormat("checkpoint of model v%d written to %s (%.1f MB, %.0f ms)", record.model_version(),
                      *path, static_cast<double>(record.ByteSizeLong()) / 1e6, seconds * 1e3));
  return path;
}

}  // namespace rtrec::serving
