#include "server/recommender_service.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>
#include <vector>

#include "common/refusal.h"
#include "absl/container/flat_hash_map.h"
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
  return WithReason(WithRetryAfter(absl::UnavailableError(
                                        "rtrec is still loading its model and catalog; retry shortly"),
                                    absl::Seconds(1)),
                    reason::kLoading);
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
  auto result = JoinOrQueueFeedback(request);
  if (result.status().code() == absl::StatusCode::kResourceExhausted) {
    feedback_refused_log_.Log(logging::Level::kWarning, "feedback",
                              absl::StrCat("feedback refused: ", result.status().message()),
                              clock_->Now());
  }
  return result;
}

absl::StatusOr<rtrec::v1::FeedbackResponse> RecommenderService::JoinOrQueueFeedback(
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

namespace {

// ModelInfo's typed fields, each read from one value of CollectMetrics():
// GetModelInfo and /metrics render the same collected set.
constexpr std::pair<const char*, const char*> kModelInfoFields[] = {
    {"model_version", "rtrec_model_version"},
    {"swaps", "rtrec_model_swaps_total"},
    {"rejected_swaps", "rtrec_model_rejected_swaps_total"},
    {"catalog_size", "rtrec_catalog_items"},
    {"catalog_version", "rtrec_catalog_version"},
    {"batches", "rtrec_batches_total"},
    {"batched_requests", "rtrec_batched_requests_total"},
    {"largest_batch_size", "rtrec_largest_batch_size"},
    {"impressions_logged", "rtrec_impressions_logged_total"},
    {"impressions_joined", "rtrec_impressions_joined_total"},
    {"impressions_expired", "rtrec_impressions_expired_total"},
    {"experiences_pending", "rtrec_experiences_pending"},
    {"feedback_late", "rtrec_feedback_late_total"},
    {"feedback_duplicate", "rtrec_feedback_duplicate_total"},
    {"feedback_refused", "rtrec_feedback_refused_total"},
    {"unanswered_dropped", "rtrec_unanswered_examples_dropped_total"},
    {"temperature", "rtrec_policy_temperature"},
    {"epsilon", "rtrec_policy_epsilon"},
    {"learner_enabled", "rtrec_learner_enabled"},
    {"learner_steps", "rtrec_learner_steps_total"},
    {"learner_examples", "rtrec_learner_examples_total"},
    {"learner_skipped_steps", "rtrec_learner_skipped_steps_total"},
    {"learning_rate", "rtrec_learner_learning_rate"},
    {"last_loss", "rtrec_learner_loss"},
    {"mean_reward", "rtrec_learner_mean_reward"},
    {"importance_weight_mean", "rtrec_learner_importance_weight_mean"},
    {"importance_weight_ess", "rtrec_learner_importance_weight_ess"},
    {"publishes", "rtrec_learner_publishes_total"},
    {"rejected_publishes", "rtrec_learner_rejected_publishes_total"},
    {"tuner.learning_rate", "rtrec_tuner_learning_rate"},
    {"tuner.exploration", "rtrec_tuner_exploration"},
    {"tuner.rounds", "rtrec_tuner_rounds_total"},
    {"tuner.best_objective", "rtrec_tuner_best_round_reward"},
    {"tuner.best_learning_rate", "rtrec_tuner_best_learning_rate"},
    {"tuner.best_exploration", "rtrec_tuner_best_exploration"},
};

// Sets `path` ("field" or "message.field") of `message` from a metric value.
void SetNumericField(google::protobuf::Message* message, absl::string_view path, double value) {
  if (size_t dot = path.find('.'); dot != absl::string_view::npos) {
    const auto* sub = message->GetDescriptor()->FindFieldByName(std::string(path.substr(0, dot)));
    SetNumericField(message->GetReflection()->MutableMessage(message, sub), path.substr(dot + 1), value);
    return;
  }
  const auto* field = message->GetDescriptor()->FindFieldByName(std::string(path));
  const auto* reflection = message->GetReflection();
  switch (field->cpp_type()) {
    case google::protobuf::FieldDescriptor::CPPTYPE_INT64:
      reflection->SetInt64(message, field, std::llround(value));
      break;
    case google::protobuf::FieldDescriptor::CPPTYPE_DOUBLE:
      reflection->SetDouble(message, field, value);
      break;
    case google::protobuf::FieldDescriptor::CPPTYPE_BOOL:
      reflection->SetBool(message, field, value != 0);
      break;
    default:
      break;  // kModelInfoFields names numeric fields only (tested)
  }
}

}  // namespace

absl::Span<const std::pair<const char*, const char*>> ModelInfoFieldMetrics() {
  return kModelInfoFields;
}

std::vector<ScrapedValue> RecommenderService::CollectMetrics() const {
  std::vector<ScrapedValue> out;
  if (!ready()) {
    out.push_back({"rtrec_ready", "1 once model and catalog are loaded", false, 0});
    return out;
  }
  out.push_back({"rtrec_ready", "1 once model and catalog are loaded", false, 1});
  auto snap = components_.stack->models.Current();
  out.push_back({"rtrec_model_version", "Version of the serving model snapshot", false,
                 snap ? static_cast<double>(snap->version) : 0});
  out.push_back({"rtrec_model_swaps_total", "Model snapshots swapped into serving", true,
                 static_cast<double>(components_.stack->models.swaps())});
  out.push_back({"rtrec_model_rejected_swaps_total", "Snapshots refused by the publish checks",
                 true, static_cast<double>(components_.stack->models.rejected())});
  out.push_back({"rtrec_model_published_timestamp_seconds",
                 "Unix time when the serving snapshot was swapped in (or loaded)", false,
                 absl::ToDoubleSeconds(components_.stack->models.published_at() - absl::UnixEpoch())});
  const model::BatcherStats b = components_.batcher->stats();
  out.push_back({"rtrec_queue_depth", "Requests waiting in the inference queue", false,
                 static_cast<double>(b.queue_depth)});
  out.push_back({"rtrec_queue_capacity", "Requests the inference queue holds (batcher.max_queue_size)",
                 false, static_cast<double>(config_.batcher.max_queue_size)});
  out.push_back({"rtrec_batches_total", "Inference batches run", true, static_cast<double>(b.batches)});
  out.push_back({"rtrec_batched_requests_total", "Requests answered by inference batches", true,
                 static_cast<double>(b.batched_requests)});
  out.push_back({"rtrec_largest_batch_size", "Largest inference batch since start", false,
                 static_cast<double>(b.largest_batch_size)});
  if (components_.stack->engine != nullptr) {
    const model::RetrievalStats r = components_.stack->engine->retrieval_stats();
    out.push_back({"rtrec_retrieval_active", "1 while the catalog is served through the retrieval index "
                   "(retrieval.min_items)", false, r.active ? 1.0 : 0.0});
    out.push_back({"rtrec_retrieval_index_items", "Items in the retrieval index", false,
                   static_cast<double>(r.index_items)});
    out.push_back({"rtrec_retrieval_index_lists", "Inverted lists of the retrieval index", false,
                   static_cast<double>(r.index_lists)});
    out.push_back({"rtrec_retrieval_index_builds_total", "Retrieval index builds", true,
                   static_cast<double>(r.index_builds)});
    out.push_back({"rtrec_retrieval_index_build_seconds", "Time the last retrieval index build took", false,
                   r.last_index_seconds});
    out.push_back({"rtrec_retrieval_item_vector_builds_total",
                   "Item-vector builds of a new snapshot or catalog version, off the request path", true,
                   static_cast<double>(r.item_builds)});
    out.push_back({"rtrec_retrieval_item_vector_build_seconds", "Time the last item-vector build took", false,
                   r.last_items_seconds});
    out.push_back({"rtrec_retrieval_recall_at_100",
                   "recall@100 of the index (its top 100 vs the exact top 100) on recent requests, at the "
                   "last build (-1: not measured yet)", false, r.recall_at_100});
    out.push_back({"rtrec_retrieval_candidates_recall_at_100",
                   "Share of the exact top 100 among the retrieval.candidates the stage retrieves (ranked "
                   "exactly after), on recent requests, at the last build (-1: not measured yet)", false,
                   r.candidates_recall_at_100});
  }
  out.push_back({"rtrec_queue_expired_total", "Requests whose deadline passed in the queue", true,
                 static_cast<double>(b.expired)});
  out.push_back({"rtrec_queue_rejected_total", "Requests refused because the queue was full", true,
                 static_cast<double>(b.rejected_full)});
  out.push_back({"rtrec_queue_refused_deadline_total",
                 "Requests refused at once because their deadline could not cover the expected "
                 "wait and compute (batcher.deadline_admission)",
                 true, static_cast<double>(b.refused_deadline)});
  out.push_back({"rtrec_queue_refused_client_limit_total",
                 "Requests refused because their client held batcher.max_queued_per_client",
                 true, static_cast<double>(b.refused_client_limit)});
  out.push_back({"rtrec_request_cost_seconds",
                 "Measured compute per Recommend that deadline admission estimates with", false,
                 b.cost_per_request_seconds});
  auto catalog = components_.stack->catalog->Snapshot();
  out.push_back({"rtrec_catalog_items", "Items in the catalog", false,
                 static_cast<double>(catalog->size())});
  out.push_back({"rtrec_catalog_version", "Version of the serving catalog (grows with every upsert)",
                 false, static_cast<double>(catalog->version())});
  const state::ImpressionLogStats s = components_.stack->impressions->stats();
  out.push_back({"rtrec_impressions_logged_total", "Slates logged", true, static_cast<double>(s.logged)});
  out.push_back({"rtrec_impressions_joined_total", "Feedback events joined to an impression", true,
                 static_cast<double>(s.joined)});
  out.push_back({"rtrec_impressions_expired_total", "Impressions expired without more feedback",
                 true, static_cast<double>(s.expired)});
  out.push_back({"rtrec_experiences_pending", "Experiences waiting for the learner", false,
                 static_cast<double>(components_.stack->experiences->size())});
  out.push_back({"rtrec_experiences_capacity",
                 "Experiences that may wait for the learner (impressions.experience_capacity)", false,
                 static_cast<double>(config_.impressions.experience_capacity)});
  const state::ExperienceBufferStats eb = components_.stack->experiences->stats();
  out.push_back({"rtrec_feedback_refused_total",
                 "Feedback refused with RESOURCE_EXHAUSTED because the learner was behind", true,
                 static_cast<double>(eb.refused)});
  out.push_back({"rtrec_unanswered_examples_dropped_total",
                 "Default-reward examples dropped because the learner was behind", true,
                 static_cast<double>(eb.dropped_unanswered)});
  out.push_back({"rtrec_experiences_discarded_total",
                 "Oldest experiences dropped unlearned because learning is off (learner.enabled false)",
                 true, static_cast<double>(eb.discarded)});
  out.push_back({"rtrec_feedback_late_total", "Feedback for impressions that had closed", true,
                 static_cast<double>(s.late)});
  out.push_back({"rtrec_feedback_duplicate_total",
                 "Repeated feedback for one (request, item), not learned twice", true,
                 static_cast<double>(s.duplicate)});
  out.push_back({"rtrec_users_cached", "Users in memory (users.max_cached_users bounds it)", false,
                 static_cast<double>(components_.stack->users->num_users())});
  out.push_back({"rtrec_users_evicted_total", "Users evicted from memory (to the store when there is one)",
                 true, static_cast<double>(components_.stack->users->evicted())});
  if (components_.stack->store) {
    const storage::StateStoreStats st = components_.stack->store->stats();
    out.push_back({"rtrec_storage_writes_total", "Batches written to the state store", true,
                   static_cast<double>(st.writes)});
    out.push_back({"rtrec_storage_syncs_total", "Fsyncs of the state store's write-ahead log", true,
                   static_cast<double>(st.syncs)});
    out.push_back({"rtrec_checkpoints_written_total", "Model checkpoints written", true,
                   static_cast<double>(components_.stack->checkpoints_written())});
    out.push_back({"rtrec_checkpoint_last_seconds", "Time the last checkpoint took to write", false,
                   components_.stack->last_checkpoint_seconds()});
  }
  out.push_back({"rtrec_taste_changes_total",
                 "Changes of a user's taste detected from unclicked reports (users.taste_change_surprise)",
                 true, static_cast<double>(components_.stack->users->taste_changes())});
  const model::PolicyParams policy = components_.stack->policy.Get();
  out.push_back({"rtrec_policy_temperature", "Exploration temperature in use", false,
                 policy.temperature});
  out.push_back({"rtrec_policy_epsilon", "Uniform exploration share in use", false,
                 policy.epsilon});
  out.push_back({"rtrec_learner_enabled", "1 when the online learner runs (learner.enabled)", false,
                 components_.stack->learner ? 1.0 : 0.0});
  if (components_.stack->learner) {
    const learner::LearnerStats l = components_.stack->learner->stats();
    out.push_back({"rtrec_learner_steps_total", "Optimizer steps of the online learner", true,
                   static_cast<double>(l.steps)});
    out.push_back({"rtrec_learner_examples_total", "Experiences the learner consumed", true,
                   static_cast<double>(l.examples)});
    out.push_back({"rtrec_learner_skipped_steps_total",
                   "Learner steps skipped for a non-finite loss or gradient", true,
                   static_cast<double>(l.skipped_steps)});
    out.push_back({"rtrec_learner_loss", "Loss of the last learner step", false, l.last_loss});
    out.push_back({"rtrec_learner_mean_reward", "Running mean reward of logged examples", false,
                   l.mean_reward});
    out.push_back({"rtrec_learner_importance_weight_mean",
                   "Mean pi/beta over the last step's logged examples", false,
                   l.importance_weight_mean});
    out.push_back({"rtrec_learner_importance_weight_ess",
                   "Effective sample size (sum w)^2/(n sum w^2) of the last step", false,
                   l.importance_weight_ess});
    out.push_back({"rtrec_learner_learning_rate", "Learning rate in use", false, l.learning_rate});
    out.push_back({"rtrec_learner_publishes_total", "Snapshots the learner published", true,
                   static_cast<double>(l.publishes)});
    out.push_back({"rtrec_learner_rejected_publishes_total",
                   "Snapshots of the learner refused by the publish check (the learner went back)",
                   true, static_cast<double>(l.rejected_publishes)});
  }
  if (components_.stack->tuner) {
    const tuner::TunerState t = components_.stack->tuner->state();
    out.push_back({"rtrec_tuner_learning_rate", "Learning rate the tuner chose for this round",
                   false, t.learning_rate});
    out.push_back({"rtrec_tuner_exploration", "Exploration share epsilon the tuner chose", false,
                   t.exploration});
    out.push_back({"rtrec_tuner_rounds_total", "Tuner rounds completed", true,
                   static_cast<double>(t.rounds)});
    out.push_back({"rtrec_tuner_round_reward", "Mean reward of the last completed round", false,
                   t.last_objective});
    out.push_back({"rtrec_tuner_best_round_reward", "Best mean reward of a round so far", false,
                   t.best_objective});
    out.push_back({"rtrec_tuner_best_learning_rate", "Learning rate of the best round so far", false,
                   t.best_learning_rate});
    out.push_back({"rtrec_tuner_best_exploration", "Exploration share of the best round so far",
                   false, t.best_exploration});
  }
  return out;
}

void RecommenderService::FillModelInfo(rtrec::v1::ModelInfo* info) const {
  absl::flat_hash_map<std::string, double> values;
  for (const ScrapedValue& v : CollectMetrics()) {
    values[v.name] = v.value;
    auto* m = info->add_metrics();
    m->set_name(v.name);
    m->set_help(v.help);
    m->set_counter(v.is_counter);
    m->set_value(v.value);
  }
  for (const auto& [field, metric] : kModelInfoFields) {
    if (auto it = values.find(metric); it != values.end()) SetNumericField(info, field, it->second);
  }
  if (!ready()) return;
  auto snapshot = components_.stack->models.Current();
  if (snapshot) {
    info->set_device(snapshot->device);
    info->set_text_encoder(snapshot->text->description());
  }
  if (components_.stack->tuner) {
    const tuner::TunerState t = components_.stack->tuner->state();
    for (const auto& r : t.history) {
      auto* h = info->mutable_tuner()->add_history();
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
