#include "server/recommender_service.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "model/text_embedder.h"
#include "server/grpc_status.h"

namespace rtrec::server {
namespace {

constexpr size_t kMaxIdBytes = 256;
constexpr double kMaxAbsReward = 1000.0;
constexpr int kMaxStreamErrors = 100;

absl::Status NotReady() {
  return absl::UnavailableError("rtrec is still loading its model and catalog; retry shortly");
}

absl::Status CheckId(const std::string& value, const char* field) {
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": must not be empty"));
  if (value.size() > kMaxIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": longer than ", kMaxIdBytes, " bytes (", value.size(), ")"));
  }
  return absl::OkStatus();
}

model::CatalogItem CatalogItemFromProto(const rtrec::v1::Item& in) {
  model::CatalogItem c;
  c.item_id = in.item_id();
  c.title = in.title();
  c.text = in.text();
  c.tags.assign(in.tags().begin(), in.tags().end());
  return c;
}

absl::Time DeadlineOf(const grpc::CallbackServerContext* context) {
  auto d = context->deadline();
  if (d == std::chrono::system_clock::time_point::max()) return absl::InfiniteFuture();
  return absl::FromChrono(d);
}

}  // namespace

rtrec::v1::Exclusion RecommenderService::ExclusionOf(
    const rtrec::v1::RecommendRequest& request) const {
  if (request.exclusion() != rtrec::v1::EXCLUSION_UNSPECIFIED) return request.exclusion();
  if (request.allow_recent_items()) return rtrec::v1::EXCLUSION_NONE;
  if (config_.policy.exclusion == "none") return rtrec::v1::EXCLUSION_NONE;
  if (config_.policy.exclusion == "consumed") return rtrec::v1::EXCLUSION_CONSUMED;
  return rtrec::v1::EXCLUSION_RECENT;
}

RecommenderService::RecommenderService(const config::RtrecConfig& config,
                                       ServerMetrics* metrics, Clock* clock,
                                       const AccessControl* access)
    : config_(config), metrics_(metrics), clock_(clock), access_(access) {}

RecommenderService::~RecommenderService() = default;

void RecommenderService::SetReady(const ServingComponents& components) {
  components_ = components;
  ready_.store(true, std::memory_order_release);
}

void RecommenderService::Finish(grpc::CallbackServerContext* context,
                                grpc::ServerUnaryReactor* reactor, const char* method,
                                absl::Time started, const absl::Status& status) {
  metrics_->RecordRpc(method, static_cast<int>(status.code()),
                      absl::ToDoubleSeconds(clock_->Now() - started));
  AddRetryHint(context, status);
  reactor->Finish(ToGrpcStatus(status));
}

absl::StatusOr<Caller> RecommenderService::Admit(const grpc::CallbackServerContext& context,
                                                 Role role) const {
  auto caller = access_->Authorize(context, role);
  if (!caller.ok()) return caller.status();
  if (!ready()) return NotReady();
  return caller;
}

// ------------------------------------------------------------------ Recommend

absl::StatusOr<std::unique_ptr<model::RecommendTask>> RecommenderService::BuildTask(
    const rtrec::v1::RecommendRequest& request, absl::Time deadline, std::string client) const {
  if (auto s = CheckId(request.user_id(), "user_id"); !s.ok()) return s;
  if (static_cast<int64_t>(request.query().size()) > config_.server.max_query_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "query: longer than server.max_query_bytes = ", config_.server.max_query_bytes, " bytes"));
  }
  int64_t k = request.k();
  if (k < 0) return absl::InvalidArgumentError(absl::StrCat("k: must not be negative, got ", k));
  if (k == 0) k = config_.policy.default_k;
  if (k > config_.policy.max_k) {
    return absl::InvalidArgumentError(
        absl::StrCat("k: at most policy.max_k = ", config_.policy.max_k, ", got ", k));
  }
  if (request.candidate_item_ids_size() > config_.server.max_candidates) {
    return absl::InvalidArgumentError(absl::StrCat(
        "candidate_item_ids: more than server.max_candidates = ", config_.server.max_candidates));
  }
  if (request.context_item_ids_size() > config_.server.max_context_items) {
    return absl::InvalidArgumentError(absl::StrCat(
        "context_item_ids: more than server.max_context_items = ",
        config_.server.max_context_items));
  }
  auto task = std::make_unique<model::RecommendTask>();
  task->catalog = components_.stack->catalog->Snapshot();
  const model::CatalogSnapshot& catalog = *task->catalog;
  absl::flat_hash_set<int64_t> seen;
  for (int i = 0; i < request.candidate_item_ids_size(); ++i) {
    const std::string& id = request.candidate_item_ids(i);
    auto index = catalog.Find(id);
    if (!index) {
      return absl::InvalidArgumentError(
          absl::StrCat("candidate_item_ids[", i, "]: unknown item '", id.substr(0, kMaxIdBytes), "'"));
    }
    if (!seen.insert(*index).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("candidate_item_ids[", i, "]: '", id, "' appears twice"));
    }
    task->candidates.push_back(*index);
  }
  // The user tower reads the behaviour since the user's last change of
  // taste; exclusion "recent" leaves out the whole recent history.
  std::vector<int64_t> context = components_.stack->users->TowerHistory(request.user_id());
  std::vector<int64_t> recent = components_.stack->users->History(request.user_id());
  for (int i = 0; i < request.context_item_ids_size(); ++i) {
    const std::string& id = request.context_item_ids(i);
    auto index = catalog.Find(id);
    if (!index) {
      return absl::InvalidArgumentError(
          absl::StrCat("context_item_ids[", i, "]: unknown item '", id.substr(0, kMaxIdBytes), "'"));
    }
    context.push_back(*index);
    recent.push_back(*index);
  }
  const int64_t window = config_.users.history_length;
  for (auto* items : {&context, &recent}) {
    if (static_cast<int64_t>(items->size()) > window) items->erase(items->begin(), items->end() - window);
  }
  if (!rtrec::v1::Exclusion_IsValid(request.exclusion())) {
    return absl::InvalidArgumentError(
        absl::StrCat("exclusion: unknown value ", static_cast<int>(request.exclusion())));
  }
  switch (ExclusionOf(request)) {
    case rtrec::v1::EXCLUSION_NONE:
      break;
    case rtrec::v1::EXCLUSION_CONSUMED:
      task->excluded = components_.stack->users->Consumed(request.user_id());
      task->excluded.insert(task->excluded.end(), recent.begin(), recent.end());
      break;
    default:  // EXCLUSION_RECENT
      task->excluded = recent;
      break;
  }
  std::sort(task->excluded.begin(), task->excluded.end());
  task->excluded.erase(std::unique(task->excluded.begin(), task->excluded.end()),
                       task->excluded.end());
  task->user_id = request.user_id();
  task->taste = components_.stack->users->Taste(request.user_id());
  task->query = request.query();
  task->context = std::move(context);
  task->k = k;
  task->explore = !request.has_exploration() || request.exploration();
  task->deadline = deadline;
  task->client = std::move(client);
  return task;
}

grpc::ServerUnaryReactor* RecommenderService::Recommend(
    grpc::CallbackServerContext* context, const rtrec::v1::RecommendRequest* request,
    rtrec::v1::RecommendResponse* response) {
  auto* reactor = context->DefaultReactor();
  const absl::Time started = clock_->Now();
  auto caller = Admit(*context, Role::kServe);
  if (!caller.ok()) {
    Finish(context, reactor, "Recommend", started, caller.status());
    return reactor;
  }
  auto task = BuildTask(*request, DeadlineOf(context), caller->FairnessKey(*context));
  if (!task.ok()) {
    Finish(context, reactor, "Recommend", started, task.status());
    return reactor;
  }
  std::shared_ptr<const model::CatalogSnapshot> catalog = (*task)->catalog;
  (*task)->done = [this, context, reactor, response, started,
                   catalog](absl::StatusOr<model::RecommendResult> result) {
    if (!result.ok()) {
      Finish(context, reactor, "Recommend", started, result.status());
      return;
    }
    response->set_request_id(result->request_id);
    response->set_model_version(result->model_version);
    for (const auto& item : result->items) {
      auto* out = response->add_items();
      out->set_item_id(item.item_id);
      out->set_score(item.score);
      out->set_propensity(item.propensity);
    }
    for (int64_t idx : result->context) {
      if (idx < catalog->size()) response->add_context_item_ids(catalog->item(idx).item_id);
    }
    Finish(context, reactor, "Recommend", started, absl::OkStatus());
  };
  // On refusal the batcher has already answered the task (and so the RPC).
  components_.batcher->Schedule(std::move(*task)).IgnoreError();
  return reactor;
}

// ------------------------------------------------------------------- Feedback

absl::StatusOr<rtrec::v1::FeedbackResponse> RecommenderService::ProcessFeedback(
    const rtrec::v1::FeedbackRequest& request) {
  if (!ready()) return NotReady();
  if (auto s = CheckId(request.user_id(), "user_id"); !s.ok()) return s;
  if (auto s = CheckId(request.item_id(), "item_id"); !s.ok()) return s;
  if (request.request_id().size() > kMaxIdBytes) {
    return absl::InvalidArgumentError(absl::StrCat("request_id: longer than ", kMaxIdBytes, " bytes"));
  }
  if (!std::isfinite(request.reward()) || std::fabs(request.reward()) > kMaxAbsReward) {
    return absl::InvalidArgumentError(absl::StrCat(
        "reward: must be a finite number within [-", kMaxAbsReward, ", ", kMaxAbsReward,
        "], got ", request.reward()));
  }
  if (!rtrec::v1::EventType_IsValid(request.event_type())) {
    return absl::InvalidArgumentError(
        absl::StrCat("event_type: unknown value ", static_cast<int>(request.event_type())));
  }
  if (request.timestamp_ms() < 0) {
    return absl::InvalidArgumentError("timestamp_ms: must not be negative");
  }
  auto catalog = components_.stack->catalog->Snapshot();
  auto index = catalog->Find(request.item_id());
  if (!index) {
    return absl::InvalidArgumentError(
        absl::StrCat("item_id: unknown item '", request.item_id(), "'"));
  }
  rtrec::v1::FeedbackResponse response;
  // Only positive events enter the history (see the proto's "What feedback
  // means"): never a reward <= 0, never a dismiss, never twice for one
  // (request, item).
  bool enters_history = request.reward() > 0 && request.event_type() != rtrec::v1::EVENT_TYPE_DISMISS;
  if (!request.request_id().empty()) {
    bool first_positive = false;
    state::Experience learned;
    learned.item_index = -1;
    auto outcome = components_.stack->impressions->Join(request.request_id(), request.user_id(),
                                                 request.item_id(), request.reward(),
                                                 &first_positive, &learned);
    if (!outcome.ok()) return outcome.status();
    // The user's taste learns from it now, zeros included: the user's next
    // slate already reflects it (the model learns it at its next step).
    if (learned.item_index >= 0 && components_.stack->engine != nullptr) {
      components_.stack->engine->LearnTaste(learned, *catalog, components_.stack->users.get());
    }
    response.set_joined(*outcome == state::JoinOutcome::kJoined);
    response.set_late(*outcome == state::JoinOutcome::kLate);
    response.set_duplicate(*outcome == state::JoinOutcome::kDuplicate);
    enters_history = enters_history && first_positive;
  } else {
    state::Experience e;
    e.source = state::Experience::Source::kOrganic;
    e.user_id = request.user_id();
    e.context = components_.stack->users->TowerHistory(request.user_id());
    e.item_index = *index;
    e.reward = request.reward();
    e.time = request.timestamp_ms() > 0 ? absl::FromUnixMillis(request.timestamp_ms())
                                        : clock_->Now();
    // Refused (RESOURCE_EXHAUSTED) before the history changes, so a retry
    // does not count twice.
    storage::WriteBatch journal;
    if (auto s = components_.stack->experiences->TryPush(std::move(e), components_.stack->store ? &journal : nullptr);
        !s.ok()) {
      return s;
    }
    if (components_.stack->store) {
      if (auto s = components_.stack->store->Write(journal); !s.ok()) return s;
    }
  }
  if (enters_history) {
    if (auto s = components_.stack->users->Append(request.user_id(), *index); !s.ok()) return s;
  }
  // Acknowledged only once durable (storage.sync).
  if (components_.stack->store) {
    if (auto s = components_.stack->store->Commit(); !s.ok()) return s;
  }
  return response;
}

grpc::ServerUnaryReactor* RecommenderService::Feedback(grpc::CallbackServerContext* context,
                                                       const rtrec::v1::FeedbackRequest* request,
                                                       rtrec::v1::FeedbackResponse* response) {
  auto* reactor = context->DefaultReactor();
  const absl::Time started = clock_->Now();
  auto caller = access_->Authorize(*context, Role::kServe);
  if (!caller.ok()) {
    Finish(context, reactor, "Feedback", started, caller.status());
    return reactor;
  }
  auto processed = ProcessFeedback(*request);
  if (processed.ok()) *response = std::move(*processed);
  Finish(context, reactor, "Feedback", started, processed.status());
  return reactor;
}

// Reads raw messages: one that does not parse ends the stream with
// INVALID_ARGUMENT stating its index and what was accepted before it, so no
// message is ever unaccounted for. Every refused message is counted in
// `rejected`; the first kMaxStreamErrors are listed, the rest counted in
// `errors_omitted`.
class RecommenderService::StreamFeedbackReactor : public grpc::ServerReadReactor<grpc::ByteBuffer> {
 public:
  StreamFeedbackReactor(RecommenderService* service, grpc::ByteBuffer* response)
      : service_(service), response_(response), started_(service->clock_->Now()) {
    StartRead(&message_);
  }
  // A refusal before the first read (authorization, not ready).
  StreamFeedbackReactor(RecommenderService* service, const absl::Status& refusal)
      : service_(service), response_(nullptr), started_(service->clock_->Now()) {
    End(refusal);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client half-closed (or the call broke)
      grpc::Status serialized = grpc::SerializationTraits<rtrec::v1::StreamFeedbackResponse>::Serialize(
          counts_, response_, &own_buffer_);
      End(serialized.ok() ? absl::OkStatus() : absl::InternalError("cannot serialize the response"));
      return;
    }
    rtrec::v1::FeedbackRequest request;
    grpc::Status parsed =
        grpc::SerializationTraits<rtrec::v1::FeedbackRequest>::Deserialize(&message_, &request);
    if (!parsed.ok()) {
      End(absl::InvalidArgumentError(absl::StrCat(
          "message ", index_, " of the stream is not a readable FeedbackRequest; ", counts_.accepted(),
          " accepted and ", counts_.rejected(), " refused before it; the stream ended there and "
          "nothing after it was read")));
      return;
    }
    auto processed = service_->ProcessFeedback(request);
    if (processed.ok()) {
      counts_.set_accepted(counts_.accepted() + 1);
      if (processed->joined()) counts_.set_joined(counts_.joined() + 1);
      if (processed->late()) counts_.set_late(counts_.late() + 1);
      if (processed->duplicate()) counts_.set_duplicate(counts_.duplicate() + 1);
    } else {
      const absl::Status& error = processed.status();
      counts_.set_rejected(counts_.rejected() + 1);
      if (counts_.errors_size() < kMaxStreamErrors) {
        auto* e = counts_.add_errors();
        e->set_index(index_);
        e->set_code(static_cast<int>(error.code()));
        e->set_message(std::string(error.message()));
      } else {
        counts_.set_errors_omitted(counts_.errors_omitted() + 1);
      }
    }
    ++index_;
    StartRead(&message_);
  }

  void OnDone() override { delete this; }

 private:
  void End(const absl::Status& status) {
    service_->metrics_->RecordRpc("StreamFeedback", static_cast<int>(status.code()),
                                  absl::ToDoubleSeconds(service_->clock_->Now() - started_));
    Finish(ToGrpcStatus(status));
  }

  RecommenderService* const service_;
  grpc::ByteBuffer* const response_;
  const absl::Time started_;
  grpc::ByteBuffer message_;
  rtrec::v1::StreamFeedbackResponse counts_;
  bool own_buffer_ = false;
  int64_t index_ = 0;
};

grpc::ServerReadReactor<grpc::ByteBuffer>* RecommenderService::StreamFeedback(
    grpc::CallbackServerContext* context, grpc::ByteBuffer* response) {
  auto caller = Admit(*context, Role::kServe);
  if (!caller.ok()) return new StreamFeedbackReactor(this, caller.status());
  return new StreamFeedbackReactor(this, response);
}

// ---------------------------------------------------------------- UpsertItems

absl::Status RecommenderService::ValidateUpsert(
    const rtrec::v1::UpsertItemsRequest& request) const {
  if (request.items_size() == 0) return absl::InvalidArgumentError("items: must not be empty");
  if (request.items_size() > config_.server.max_upsert_items) {
    return absl::InvalidArgumentError(absl::StrCat(
        "items: more than server.max_upsert_items = ", config_.server.max_upsert_items));
  }
  absl::flat_hash_set<std::string> seen;
  for (int i = 0; i < request.items_size(); ++i) {
    const auto& item = request.items(i);
    if (auto s = model::ValidateCatalogItem(CatalogItemFromProto(item), absl::StrCat("items[", i, "]"),
                                            config_.server.max_item_text_bytes);
        !s.ok()) {
      return s;
    }
    if (!seen.insert(item.item_id()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("items[", i, "].item_id: '", item.item_id(), "' appears twice"));
    }
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* RecommenderService::UpsertItems(
    grpc::CallbackServerContext* context, const rtrec::v1::UpsertItemsRequest* request,
    rtrec::v1::UpsertItemsResponse* response) {
  auto* reactor = context->DefaultReactor();
  const absl::Time started = clock_->Now();
  if (auto caller = Admit(*context, Role::kAdmin); !caller.ok()) {
    Finish(context, reactor, "UpsertItems", started, caller.status());
    return reactor;
  }
  if (auto s = ValidateUpsert(*request); !s.ok()) {
    Finish(context, reactor, "UpsertItems", started, s);
    return reactor;
  }
  // BERT encoding runs on the catalog writer thread, not in this callback,
  // with the text tower of the serving model.
  components_.stack->catalog_writer->Add([this, context, reactor, request, response, started] {
    std::vector<model::CatalogItem> items;
    for (const auto& in : request->items()) items.push_back(CatalogItemFromProto(in));
    auto result = components_.stack->EncodeAndUpsert(std::move(items));
    if (result.ok()) {
      response->set_inserted(result->inserted);
      response->set_updated(result->updated);
      response->set_catalog_size(result->catalog_size);
    }
    Finish(context, reactor, "UpsertItems", started, result.status());
  });
  return reactor;
}

// --------------------------------------------------------------- GetModelInfo

void RecommenderService::FillModelInfo(rtrec::v1::ModelInfo* info) const {
  auto snapshot = components_.stack->models.Current();
  if (snapshot) {
    info->set_model_version(snapshot->version);
    info->set_device(snapshot->device);
  }
  info->set_swaps(components_.stack->models.swaps());
  info->set_rejected_swaps(components_.stack->models.rejected());
  auto catalog = components_.stack->catalog->Snapshot();
  info->set_catalog_size(catalog->size());
  info->set_catalog_version(catalog->version());
  const model::BatcherStats b = components_.batcher->stats();
  info->set_batches(b.batches);
  info->set_batched_requests(b.batched_requests);
  info->set_largest_batch_size(b.largest_batch_size);
  const state::ImpressionLogStats s = components_.stack->impressions->stats();
  info->set_impressions_logged(s.logged);
  info->set_impressions_joined(s.joined);
  info->set_impressions_expired(s.expired);
  info->set_feedback_late(s.late);
  info->set_feedback_duplicate(s.duplicate);
  const state::ExperienceBufferStats eb = components_.stack->experiences->stats();
  info->set_experiences_pending(eb.size);
  info->set_feedback_refused(eb.refused);
  info->set_unanswered_dropped(eb.dropped_unanswered);
  if (snapshot) info->set_text_encoder(snapshot->text->description());
  const model::PolicyParams policy = components_.stack->policy.Get();
  info->set_temperature(policy.temperature);
  info->set_epsilon(policy.epsilon);
  if (components_.stack->learner) {
    const learner::LearnerStats l = components_.stack->learner->stats();
    info->set_learner_enabled(true);
    info->set_learner_steps(l.steps);
    info->set_learner_examples(l.examples);
    info->set_learner_skipped_steps(l.skipped_steps);
    info->set_learning_rate(l.learning_rate);
    info->set_last_loss(l.last_loss);
    info->set_mean_reward(l.mean_reward);
    info->set_importance_weight_mean(l.importance_weight_mean);
    info->set_importance_weight_ess(l.importance_weight_ess);
    info->set_publishes(l.publishes);
    info->set_rejected_publishes(l.rejected_publishes);
  }
  if (components_.stack->tuner) {
    const tuner::TunerState t = components_.stack->tuner->state();
    auto* out = info->mutable_tuner();
    out->set_learning_rate(t.learning_rate);
    out->set_exploration(t.exploration);
    out->set_rounds(t.rounds);
    out->set_best_objective(t.best_objective);
    out->set_best_learning_rate(t.best_learning_rate);
    out->set_best_exploration(t.best_exploration);
    for (const auto& r : t.history) {
      auto* h = out->add_history();
      h->set_round(r.round);
      h->set_learning_rate(r.learning_rate);
      h->set_exploration(r.exploration);
      h->set_objective(r.objective);
      h->set_examples(r.examples);
    }
  }
}

grpc::ServerUnaryReactor* RecommenderService::GetModelInfo(
    grpc::CallbackServerContext* context, const rtrec::v1::GetModelInfoRequest* /*request*/,
    rtrec::v1::ModelInfo* response) {
  auto* reactor = context->DefaultReactor();
  const absl::Time started = clock_->Now();
  if (auto caller = Admit(*context, Role::kServe); !caller.ok()) {
    Finish(context, reactor, "GetModelInfo", started, caller.status());
    return reactor;
  }
  FillModelInfo(response);
  Finish(context, reactor, "GetModelInfo", started, absl::OkStatus());
  return reactor;
}

}  // namespace rtrec::server
