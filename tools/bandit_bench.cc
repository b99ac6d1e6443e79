// rtrec-bandit-bench: one learner against the contextual-bandit world
// (sim/bandit_world.h), request by request, reporting every shown slot the
// way bandit services are used: reward 1 for a click, 0 for an item seen and
// ignored (no event type for either).
//
//   --policy rtrec         a running rtrec server over gRPC (--target):
//                          Recommend(user, the request's candidates, k,
//                          exclusion NONE: the world allows re-consumption),
//                          then one Feedback per shown slot.
//   --policy vw_squarecb   Vowpal Wabbit (--vw) as a subprocess,
//   --policy vw_softmax    `--cb_explore_adf --squarecb` or `--softmax
//                          --lambda 10`, -q UA. A slate is built slot by
//                          slot (each slot an ADF example over the
//                          candidates not yet placed, the action sampled from
//                          VW's distribution); after the clicks, each slot is
//                          learned with cost −click and its probability.
//                          Features: shared |U user id; action |A item id
//                          and the item's title and text words: the same
//                          information rtrec gets (UpsertItems sends title,
//                          text and the topic tag, which rtrec's model does
//                          not read).
//   --policy informed      A reference, not a service: a learner TOLD every
//                          item's topic and quality (what rtrec and VW must
//                          learn from words and clicks), learning only each
//                          user's per-topic click rate from the same
//                          reported slots: Beta(--informed_a, --informed_b)
//                          per (user, topic) over quality- and
//                          position-weighted exposures, evidence decayed by
//                          --informed_forgetting per request of the user,
//                          reset after --informed_reset_after requests in a
//                          row without a click where one was expected;
//                          greedy slate by posterior mean × quality. It
//                          shows what the world allows a learner that knows
//                          everything but the users.
//
// The world's request r is the same for every policy (user, candidates and
// the click uniforms: common random numbers), so policies are compared on
// the same stream. Figures use the world's expected click rate of each
// served slate (the sampled clicks drive learning): served ÷ oracle over the
// last --window requests before the shift and at the end, and the requests
// after the shift until a --window-request average is back at 90 % of the
// pre-shift level (its own). Uniform random and the oracle are computed for
// the same requests. Writes a summary (key=value) and a curve (CSV, one line
// per --window requests).
//
//   rtrec-bandit-bench --policy rtrec --target 127.0.0.1:50051 --seed 1 \
//       --summary out/rtrec-1.txt --csv out/rtrec-1.csv
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "common/command_line.h"
#include "absl/flags/flag.h"
#include "absl/synchronization/mutex.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "rtrec/v1/recommender.grpc.pb.h"
#include "sim/bandit_world.h"
#include "tools/grpc_client.h"

ABSL_FLAG(std::string, policy, "rtrec", "rtrec | vw_squarecb | vw_softmax");
ABSL_FLAG(std::string, target, "127.0.0.1:50051", "rtrec server address (--policy rtrec)");
ABSL_FLAG(std::string, vw, "", "Vowpal Wabbit binary (default: $VW_BIN, else ../shared/tools/vw/vw)");
ABSL_FLAG(int64_t, requests, 20000, "Requests in the run");
ABSL_FLAG(int64_t, shift_at, 10000, "Request at which half of the users' tastes shift (-1: never)");
ABSL_FLAG(int64_t, window, 2000, "Requests per reported level (before the shift, at the end)");
ABSL_FLAG(int64_t, curve_window, 500, "Requests per curve point and per recovery check");
ABSL_FLAG(int64_t, users, 500, "Users of the world");
ABSL_FLAG(int64_t, items, 300, "Items of the world");
ABSL_FLAG(int64_t, candidates, 50, "Candidates per request");
ABSL_FLAG(int64_t, k, 5, "Slate size");
ABSL_FLAG(int, concurrency, 1,
          "--policy rtrec: clients sending the stream's requests side by side (request r by client r mod "
          "N, each at its time r / rate); 1 keeps the stream strictly in order");
ABSL_FLAG(double, rate, 0, "Requests per second for --policy rtrec (0: as fast as answers come)");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the world and the stream");
ABSL_FLAG(std::string, summary, "", "Write key=value lines here");
ABSL_FLAG(std::string, csv, "", "Write the curve here");
ABSL_FLAG(double, informed_a, 0.5, "informed: prior clicks of a (user, topic)");
ABSL_FLAG(double, informed_b, 2.0, "informed: prior non-clicks of a (user, topic)");
ABSL_FLAG(double, informed_forgetting, 0.9, "informed: evidence kept per request of the user");
ABSL_FLAG(int64_t, informed_reset_after, 2,
          "informed: requests in a row without an expected click that reset the user (0: never)");
ABSL_FLAG(double, informed_hazard, 0.01,
          "informed_pairs: prior probability that a user's taste changes after a request");
ABSL_FLAG(int64_t, replay_events, 0,
          "--policy rtrec only: instead of the bandit run, stream this many organic events (users' "
          "clicks on items of topics they like) through StreamFeedback, then wait until the learner "
          "has digested them; prints both times");

namespace {

using rtrec::sim::BanditRequest;
using rtrec::sim::BanditWorld;

// A learner under test: chooses a slate, then hears the clicks.
class Policy {
 public:
  virtual ~Policy() = default;
  virtual absl::StatusOr<std::vector<int64_t>> Choose(const BanditRequest& request) = 0;
  virtual absl::Status Learn(const BanditRequest& request, const std::vector<int64_t>& slate,
                             const std::vector<int>& clicks) = 0;
};

class InformedPolicy : public Policy {
 public:
  InformedPolicy(const BanditWorld* world, double a, double b, double forgetting, int64_t reset_after)
      : world_(world),
        a_(a),
        b_(b),
        forgetting_(forgetting),
        reset_after_(reset_after),
        topics_(world->options().num_topics),
        clicks_(world->options().num_users * topics_, 0.0),
        exposure_(world->options().num_users * topics_, 0.0),
        misses_(world->options().num_users, 0) {}

  absl::StatusOr<std::vector<int64_t>> Choose(const BanditRequest& request) override {
    std::vector<int64_t> order = request.candidates;
    std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) {
      return Value(request.user, x) > Value(request.user, y);
    });
    order.resize(std::min<size_t>(order.size(), static_cast<size_t>(world_->options().k)));
    return order;
  }

  absl::Status Learn(const BanditRequest& request, const std::vector<int64_t>& slate,
                     const std::vector<int>& clicks) override {
    const int64_t u = request.user;
    double expected = 0, bias = 1;
    int got = 0;
    for (size_t p = 0; p < slate.size(); ++p, bias *= world_->options().position_bias) {
      expected += bias * Value(u, slate[p]);
      got += clicks[p];
    }
    misses_[u] = (got == 0 && expected >= 1.0) ? misses_[u] + 1 : 0;
    double* c = &clicks_[u * topics_];
    double* e = &exposure_[u * topics_];
    for (int64_t t = 0; t < topics_; ++t) {
      const double keep = (reset_after_ > 0 && misses_[u] >= reset_after_) ? 0.0 : forgetting_;
      c[t] *= keep;
      e[t] *= keep;
    }
    if (reset_after_ > 0 && misses_[u] >= reset_after_) misses_[u] = 0;
    bias = 1;
    for (size_t p = 0; p < slate.size(); ++p, bias *= world_->options().position_bias) {
      const int64_t t = world_->topic_of(slate[p]);
      e[t] += bias * world_->quality_of(slate[p]);
      c[t] += clicks[p];
    }
    return absl::OkStatus();
  }

 private:
  // Posterior mean of the user's topic rate times the item's quality.
  double Value(int64_t user, int64_t item) const {
    const int64_t t = world_->topic_of(item);
    const double c = clicks_[user * topics_ + t];
    const double e = std::max(exposure_[user * topics_ + t], c);
    return (c + a_) / (e + a_ + b_) * world_->quality_of(item);
  }

  const BanditWorld* world_;
  const double a_, b_, forgetting_;
  const int64_t reset_after_;
  const int64_t topics_;
  std::vector<double> clicks_, exposure_;
  std::vector<int64_t> misses_;
};

// The tighter reference: told the world's whole model but the users' tastes
// (each user likes two topics, with weights 1 and second_like, clicks as
// sim/bandit_world.h draws them), it keeps each user's exact posterior over
// the ordered topic pairs, with a change of taste possible after any request
// (--informed_hazard), and serves the slate of highest expected clicks.
class InformedPairsPolicy : public Policy {
 public:
  InformedPairsPolicy(const BanditWorld* world, double hazard) : world_(world), hazard_(hazard) {
    const int64_t t = world->options().num_topics;
    for (int64_t a = 0; a < t; ++a) {
      for (int64_t b = 0; b < t; ++b) {
        if (a != b) pairs_.push_back({a, b});
      }
    }
    posterior_.assign(world->options().num_users * pairs_.size(), 1.0 / static_cast<double>(pairs_.size()));
  }

  absl::StatusOr<std::vector<int64_t>> Choose(const BanditRequest& request) override {
    const double* w = &posterior_[request.user * pairs_.size()];
    std::vector<double> topic_like(world_->options().num_topics, 0.0);
    for (size_t h = 0; h < pairs_.size(); ++h) {
      topic_like[pairs_[h][0]] += w[h];
      topic_like[pairs_[h][1]] += w[h] * world_->options().second_like;
    }
    auto value = [&](int64_t i) {
      return world_->quality_of(i) * (world_->options().base_ctr +
                                      world_->options().like_ctr * topic_like[world_->topic_of(i)]);
    };
    std::vector<int64_t> order = request.candidates;
    std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return value(x) > value(y); });
    order.resize(std::min<size_t>(order.size(), static_cast<size_t>(world_->options().k)));
    return order;
  }

  absl::Status Learn(const BanditRequest& request, const std::vector<int64_t>& slate,
                     const std::vector<int>& clicks) override {
    const auto& o = world_->options();
    double* w = &posterior_[request.user * pairs_.size()];
    double total = 0;
    for (size_t h = 0; h < pairs_.size(); ++h) {
      double bias = 1, likelihood = 1;
      for (size_t p = 0; p < slate.size(); ++p, bias *= o.position_bias) {
        const int64_t t = world_->topic_of(slate[p]);
        const double like = t == pairs_[h][0] ? 1.0 : (t == pairs_[h][1] ? o.second_like : 0.0);
        const double pc = std::min(1.0, bias * world_->quality_of(slate[p]) * (o.base_ctr + o.like_ctr * like));
        likelihood *= clicks[p] ? pc : 1 - pc;
      }
      w[h] *= likelihood;
      total += w[h];
    }
    const double uniform = 1.0 / static_cast<double>(pairs_.size());
    for (size_t h = 0; h < pairs_.size(); ++h) {
      w[h] = (1 - hazard_) * (total > 0 ? w[h] / total : uniform) + hazard_ * uniform;
    }
    return absl::OkStatus();
  }

 private:
  const BanditWorld* world_;
  const double hazard_;
  std::vector<std::array<int64_t, 2>> pairs_;
  std::vector<double> posterior_;  // [user][pair]
};

class RtrecPolicy : public Policy {
 public:
  RtrecPolicy(const BanditWorld* world, std::shared_ptr<grpc::Channel> channel)
      : world_(world), stub_(rtrec::v1::Recommender::NewStub(channel)) {}

  absl::Status Setup() { return rtrec::tools::UpsertCatalogItems(*stub_, world_->items()); }

  absl::StatusOr<std::vector<int64_t>> Choose(const BanditRequest& request) override {
    rtrec::v1::RecommendRequest req;
    req.set_user_id(world_->user_id(request.user));
    for (int64_t i : request.candidates) req.add_candidate_item_ids(world_->items()[i].item_id);
    req.set_k(static_cast<int32_t>(world_->options().k));
    req.set_exclusion(rtrec::v1::EXCLUSION_NONE);
    rtrec::v1::RecommendResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (auto s = rtrec::tools::ToAbsl(stub_->Recommend(&ctx, req, &resp)); !s.ok()) return s;
    request_id_ = resp.request_id();
    std::vector<int64_t> slate;
    for (const auto& item : resp.items()) {
      int64_t index = 0;
      if (!absl::SimpleAtoi(absl::StripPrefix(item.item_id(), "bw-"), &index)) {
        return absl::InternalError(absl::StrCat("unexpected item ", item.item_id()));
      }
      slate.push_back(index);
    }
    return slate;
  }

  // The slate's reports go out at once (gRPC's callback API), as a client
  // reporting what its user did with each slot would send them; the next
  // request waits until all are answered. Back-pressure (the learner is
  // behind) answers RESOURCE_EXHAUSTED: such a report is retried, alone,
  // and the retries are counted.
  absl::Status Learn(const BanditRequest& request, const std::vector<int64_t>& slate,
                     const std::vector<int>& clicks) override {
    const size_t n = slate.size();
    std::vector<rtrec::v1::FeedbackRequest> reports(n);
    std::vector<rtrec::v1::FeedbackResponse> answers(n);
    std::vector<grpc::ClientContext> contexts(n);
    std::vector<grpc::Status> statuses(n);
    absl::Mutex mu;
    size_t pending = n;
    for (size_t p = 0; p < n; ++p) {
      reports[p].set_request_id(request_id_);
      reports[p].set_user_id(world_->user_id(request.user));
      reports[p].set_item_id(world_->items()[slate[p]].item_id);
      reports[p].set_reward(clicks[p]);
      contexts[p].set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      stub_->async()->Feedback(&contexts[p], &reports[p], &answers[p], [&, p](grpc::Status s) {
        absl::MutexLock lock(&mu);
        statuses[p] = std::move(s);
        --pending;
      });
    }
    {
      absl::MutexLock lock(&mu);
      mu.Await(absl::Condition(+[](size_t* left) { return *left == 0; }, &pending));
    }
    for (size_t p = 0; p < n; ++p) {
      if (statuses[p].ok()) continue;
      if (statuses[p].error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) {
        return rtrec::tools::ToAbsl(statuses[p]);
      }
      ++feedback_retries_;
      if (auto s = Report(reports[p]); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  static int64_t feedback_retries() { return feedback_retries_.load(); }

 private:
  // One report, retried while the learner is behind.
  absl::Status Report(const rtrec::v1::FeedbackRequest& fb) {
    for (int attempt = 0;; ++attempt) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      rtrec::v1::FeedbackResponse resp;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      grpc::Status s = stub_->Feedback(&ctx, fb, &resp);
      if (s.ok()) return absl::OkStatus();
      if (s.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED || attempt > 1000) {
        return rtrec::tools::ToAbsl(s);
      }
      ++feedback_retries_;
    }
  }

 public:

  struct ReplayTimes {
    double sent_s = 0, digested_s = 0;
    int64_t learner_examples = 0;
  };
  // Streams `events` organic events (user r % users clicking an item of the
  // topic it likes, by the world's clicks at the top slot) and waits until
  // the learner has taken them all (experiences_pending back to 0 and
  // learner_examples up by `events`).
  absl::StatusOr<ReplayTimes> Replay(int64_t events) {
    const int64_t examples_before = Info().learner_examples();
    const auto started = std::chrono::steady_clock::now();
    rtrec::v1::StreamFeedbackResponse resp;
    grpc::ClientContext ctx;
    auto writer = stub_->StreamFeedback(&ctx, &resp);
    std::mt19937_64 rng(17);
    for (int64_t e = 0; e < events; ++e) {
      const rtrec::sim::BanditRequest req = world_->Request(e);
      // The candidate the user is likeliest to click.
      int64_t best = req.candidates[0];
      for (int64_t i : req.candidates) {
        if (world_->ClickProbability(e, req.user, i, 0) > world_->ClickProbability(e, req.user, best, 0)) best = i;
      }
      rtrec::v1::FeedbackRequest fb;
      fb.set_user_id(world_->user_id(req.user));
      fb.set_item_id(world_->items()[best].item_id);
      fb.set_reward(1.0);
      if (!writer->Write(fb)) break;
    }
    writer->WritesDone();
    if (auto s = rtrec::tools::ToAbsl(writer->Finish()); !s.ok()) return s;
    ReplayTimes t;
    t.sent_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (resp.accepted() != events) {
      return absl::InternalError(absl::StrCat("accepted ", resp.accepted(), " of ", events, " (rejected ",
                                              resp.rejected(), ")"));
    }
    for (;;) {
      const rtrec::v1::ModelInfo info = Info();
      t.learner_examples = info.learner_examples() - examples_before;
      if (info.experiences_pending() == 0 && t.learner_examples >= events) break;
      if (std::chrono::steady_clock::now() - started > std::chrono::minutes(10)) {
        return absl::DeadlineExceededError("not digested within 10 minutes");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    t.digested_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return t;
  }

  rtrec::v1::ModelInfo Info() {
    rtrec::v1::ModelInfo info;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    stub_->GetModelInfo(&ctx, rtrec::v1::GetModelInfoRequest(), &info);
    return info;
  }

 private:
  const BanditWorld* const world_;
  std::unique_ptr<rtrec::v1::Recommender::Stub> stub_;
  std::string request_id_;
  // Retries of every client of the run (several with --concurrency).
  static inline std::atomic<int64_t> feedback_retries_ = 0;
};

// Vowpal Wabbit behind two pipes: it answers every example it reads with one
// line of action:probability pairs and a blank line.
class VwPolicy : public Policy {
 public:
  VwPolicy(const BanditWorld* world, uint64_t seed) : world_(world), rng_(seed) {}
  ~VwPolicy() override {
    if (to_vw_) fclose(to_vw_);
    if (from_vw_) fclose(from_vw_);
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
  }

  absl::Status Start(const std::string& binary, const std::vector<std::string>& args) {
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) return absl::InternalError("pipe failed");
    pid_ = fork();
    if (pid_ < 0) return absl::InternalError("fork failed");
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      close(in[1]);
      close(out[0]);
      std::vector<char*> argv = {const_cast<char*>(binary.c_str())};
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    to_vw_ = fdopen(in[1], "w");
    from_vw_ = fdopen(out[0], "r");
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<int64_t>> Choose(const BanditRequest& request) override {
    std::vector<int64_t> remaining = request.candidates;
    slots_.clear();
    std::vector<int64_t> slate;
    const int64_t k = std::min<int64_t>(world_->options().k, static_cast<int64_t>(remaining.size()));
    for (int64_t p = 0; p < k; ++p) {
      fputs(Example(request, remaining, -1, 0, 0).c_str(), to_vw_);
      fflush(to_vw_);
      auto pmf = ReadPrediction();
      if (!pmf.ok()) return pmf.status();
      // Sample from VW's distribution.
      std::uniform_real_distribution<double> u(0, 1);
      double x = u(rng_) , acc = 0;
      int64_t chosen = pmf->back().first;
      double prob = pmf->back().second;
      for (const auto& [action, p_action] : *pmf) {
        acc += p_action;
        if (x < acc) {
          chosen = action;
          prob = p_action;
          break;
        }
      }
      slots_.push_back({remaining, chosen, prob});
      slate.push_back(remaining[chosen]);
      remaining.erase(remaining.begin() + chosen);
    }
    return slate;
  }

  absl::Status Learn(const BanditRequest& request, const std::vector<int64_t>& slate,
                     const std::vector<int>& clicks) override {
    for (size_t p = 0; p < slots_.size(); ++p) {
      const Slot& s = slots_[p];
      fputs(Example(request, s.actions, s.chosen, clicks[p] ? -1.0 : 0.0, s.probability).c_str(), to_vw_);
      fflush(to_vw_);
      if (auto pmf = ReadPrediction(); !pmf.ok()) return pmf.status();
    }
    return absl::OkStatus();
  }

 private:
  struct Slot {
    std::vector<int64_t> actions;
    int64_t chosen = 0;
    double probability = 1;
  };

  // VW's ADF text: a shared line, one line per action (the chosen one
  // labelled action:cost:probability when `chosen` >= 0), a blank line.
  std::string Example(const BanditRequest& request, const std::vector<int64_t>& actions,
                      int64_t chosen, double cost, double probability) const {
    std::string out = absl::StrCat("shared |U u", request.user, "\n");
    for (size_t a = 0; a < actions.size(); ++a) {
      const auto& item = world_->items()[actions[a]];
      if (static_cast<int64_t>(a) == chosen) {
        absl::StrAppend(&out, a, ":", cost, ":", probability, " ");
      }
      absl::StrAppend(&out, "|A i", actions[a], " ", item.title, " ", item.text, "\n");
    }
    out += "\n";
    return out;
  }

  absl::StatusOr<std::vector<std::pair<int64_t, double>>> ReadPrediction() {
    char* line = nullptr;
    size_t cap = 0;
    std::vector<std::pair<int64_t, double>> pmf;
    // The prediction line, then its blank line.
    for (int lines = 0; lines < 2;) {
      ssize_t got = getline(&line, &cap, from_vw_);
      if (got < 0) {
        free(line);
        return absl::InternalError("Vowpal Wabbit stopped answering");
      }
      std::string text(line, static_cast<size_t>(got));
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
      if (lines == 0 && !text.empty()) {
        for (absl::string_view pair : absl::StrSplit(text, ',')) {
          std::pair<absl::string_view, absl::string_view> ap = absl::StrSplit(pair, ':');
          int64_t a = 0;
          double p = 0;
          if (!absl::SimpleAtoi(ap.first, &a) || !absl::SimpleAtod(ap.second, &p)) {
            free(line);
            return absl::InternalError(absl::StrCat("unreadable VW prediction: ", text));
          }
          pmf.emplace_back(a, p);
        }
      }
      ++lines;
      if (lines == 1 && text.empty()) lines = 0;  // stray blank line
    }
    free(line);
    if (pmf.empty()) return absl::InternalError("empty VW prediction");
    return pmf;
  }

  const BanditWorld* const world_;
  std::mt19937_64 rng_;
  pid_t pid_ = -1;
  FILE* to_vw_ = nullptr;
  FILE* from_vw_ = nullptr;
  std::vector<Slot> slots_;
};

std::string VwBinary() {
  std::string flag = absl::GetFlag(FLAGS_vw);
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("VW_BIN"); env && *env) return env;
  return std::string(RTREC_SOURCE_DIR) + "/../shared/tools/vw/vw";
}

}  // namespace

int main(int argc, char** argv) {
  rtrec::ParseCommandLineOrExit(argc, argv, "rtrec-bandit-bench --policy rtrec|linucb|random|oracle [flags]: one learner against the contextual-bandit world");
  rtrec::sim::BanditWorldOptions wo;
  wo.num_users = absl::GetFlag(FLAGS_users);
  wo.num_items = absl::GetFlag(FLAGS_items);
  wo.candidates = absl::GetFlag(FLAGS_candidates);
  wo.k = absl::GetFlag(FLAGS_k);
  wo.shift_at = absl::GetFlag(FLAGS_shift_at);
  wo.seed = absl::GetFlag(FLAGS_seed);
  const BanditWorld world(wo);
  const std::string name = absl::GetFlag(FLAGS_policy);
  std::unique_ptr<Policy> policy;
  RtrecPolicy* rtrec_policy = nullptr;
  if (name == "rtrec") {
    auto p = std::make_unique<RtrecPolicy>(
        &world, grpc::CreateChannel(absl::GetFlag(FLAGS_target), grpc::InsecureChannelCredentials()));
    if (auto s = p->Setup(); !s.ok()) {
      std::fprintf(stderr, "rtrec-bandit-bench: upserting the world's items: %s\n", s.ToString().c_str());
      return 1;
    }
    rtrec_policy = p.get();
    policy = std::move(p);
  } else if (name == "vw_squarecb" || name == "vw_softmax") {
    auto p = std::make_unique<VwPolicy>(&world, absl::GetFlag(FLAGS_seed) * 7919 + 1);
    std::vector<std::string> args = {"--cb_explore_adf", "--quiet", "-q", "UA", "-p", "/dev/stdout"};
    if (name == "vw_squarecb") {
      args.push_back("--squarecb");
    } else {
      args.insert(args.end(), {"--softmax", "--lambda", "10"});
    }
    if (auto s = p->Start(VwBinary(), args); !s.ok()) {
      std::fprintf(stderr, "rtrec-bandit-bench: %s\n", s.ToString().c_str());
      return 1;
    }
    policy = std::move(p);
  } else if (name == "informed_pairs") {
    policy = std::make_unique<InformedPairsPolicy>(&world, absl::GetFlag(FLAGS_informed_hazard));
  } else if (name == "informed") {
    policy = std::make_unique<InformedPolicy>(&world, absl::GetFlag(FLAGS_informed_a), absl::GetFlag(FLAGS_informed_b),
                                              absl::GetFlag(FLAGS_informed_forgetting),
                                              absl::GetFlag(FLAGS_informed_reset_after));
  } else {
    std::fprintf(stderr, "rtrec-bandit-bench: --policy must be rtrec, vw_squarecb, vw_softmax, informed or informed_pairs\n");
    return 2;
  }

  if (const int64_t events = absl::GetFlag(FLAGS_replay_events); events > 0) {
    if (!rtrec_policy) {
      std::fprintf(stderr, "rtrec-bandit-bench: --replay_events needs --policy rtrec\n");
      return 2;
    }
    auto replay = rtrec_policy->Replay(events);
    if (!replay.ok()) {
      std::fprintf(stderr, "rtrec-bandit-bench: replay: %s\n", replay.status().ToString().c_str());
      return 1;
    }
    std::printf("replay of %ld organic events through StreamFeedback: sent and acknowledged in %.1f s, "
                "digested by the learner %.1f s after the first was sent (%ld learner examples)\n",
                static_cast<long>(events), replay->sent_s, replay->digested_s,
                static_cast<long>(replay->learner_examples));
    return 0;
  }
  const int64_t n = absl::GetFlag(FLAGS_requests);
  const int64_t shift = absl::GetFlag(FLAGS_shift_at);
  const double rate = absl::GetFlag(FLAGS_rate);
  std::vector<double> served(n), oracle(n), uniform(n);
  std::atomic<int64_t> clicks_total = 0, empty_slates = 0;
  // One request: choose, draw the clicks from the request's uniforms, report.
  auto serve = [&](int64_t r, Policy* p) -> absl::Status {
    const BanditRequest request = world.Request(r);
    auto slate = p->Choose(request);
    if (!slate.ok()) return absl::Status(slate.status().code(), absl::StrCat("request ", r, ": ", slate.status().message()));
    if (slate->empty()) ++empty_slates;
    std::vector<int> clicks(slate->size());
    for (size_t q = 0; q < slate->size(); ++q) {
      clicks[q] = request.click_uniform[q] <
                  world.ClickProbability(r, request.user, (*slate)[q], static_cast<int64_t>(q));
      clicks_total += clicks[q];
    }
    if (auto s = p->Learn(request, *slate, clicks); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("feedback of request ", r, ": ", s.message()));
    }
    served[r] = world.ExpectedSlateRate(request, *slate);
    oracle[r] = world.ExpectedSlateRate(request, world.OracleSlate(request));
    uniform[r] = world.UniformRate(request);
    return absl::OkStatus();
  };
  const int concurrency = std::max(1, absl::GetFlag(FLAGS_concurrency));
  if (concurrency > 1 && !rtrec_policy) {
    std::fprintf(stderr, "rtrec-bandit-bench: --concurrency needs --policy rtrec\n");
    return 2;
  }
  // The largest learner backlog seen (GetModelInfo once a second).
  std::atomic<int64_t> pending_max = 0;
  std::atomic<bool> finished = false;
  std::thread monitor;
  if (rtrec_policy) {
    monitor = std::thread([&] {
      while (!finished.load()) {
        pending_max = std::max<int64_t>(pending_max.load(), rtrec_policy->Info().experiences_pending());
        std::this_thread::sleep_for(std::chrono::seconds(1));
      }
    });
  }
  const auto started = std::chrono::steady_clock::now();
  // Client c sends requests r ≡ c (mod concurrency), each at its time r / rate.
  std::vector<absl::Status> failed(concurrency);
  auto client = [&](int c, Policy* p) {
    for (int64_t r = c; r < n; r += concurrency) {
      if (rate > 0) std::this_thread::sleep_until(started + std::chrono::duration<double>(r / rate));
      if (auto s = serve(r, p); !s.ok()) {
        failed[c] = s;
        return;
      }
    }
  };
  if (concurrency == 1) {
    client(0, policy.get());
  } else {
    std::vector<std::unique_ptr<RtrecPolicy>> more;
    std::vector<std::thread> threads;
    threads.emplace_back(client, 0, policy.get());
    for (int c = 1; c < concurrency; ++c) {
      more.push_back(std::make_unique<RtrecPolicy>(
          &world, grpc::CreateChannel(absl::GetFlag(FLAGS_target), grpc::InsecureChannelCredentials())));
      threads.emplace_back(client, c, more.back().get());
    }
    for (auto& t : threads) t.join();
  }
  finished = true;
  if (monitor.joinable()) monitor.join();
  for (const absl::Status& s : failed) {
    if (!s.ok()) {
      std::fprintf(stderr, "rtrec-bandit-bench: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  auto level = [&](int64_t from, int64_t to, const std::vector<double>& v) {
    from = std::max<int64_t>(0, from);
    to = std::min(n, to);
    double a = 0, b = 0;
    for (int64_t r = from; r < to; ++r) {
      a += v[r];
      b += oracle[r];
    }
    return b > 0 ? a / b : 0.0;
  };
  const int64_t window = absl::GetFlag(FLAGS_window);
  const int64_t curve = absl::GetFlag(FLAGS_curve_window);
  const int64_t before_end = shift >= 0 ? shift : n;
  const double before = level(before_end - window, before_end, served);
  const double end = level(n - window, n, served);
  // Requests after the shift until a curve_window average is back at 90 %
  // of the pre-shift level, checked every curve_window / 5 requests.
  int64_t recovery = -1;
  if (shift >= 0) {
    const int64_t step = std::max<int64_t>(1, curve / 5);
    for (int64_t to = shift + curve; to <= n; to += step) {
      if (level(to - curve, to, served) >= 0.9 * before) {
        recovery = to - shift;
        break;
      }
    }
  }
  std::printf("%-12s seed %lu: served/oracle %.3f before the shift, %.3f at the end; recovered in %ld requests; "
              "uniform/oracle %.3f; %.0f s\n",
              name.c_str(), static_cast<unsigned long>(wo.seed), before, end, static_cast<long>(recovery),
              level(before_end - window, before_end, uniform), seconds);
  if (const std::string path = absl::GetFlag(FLAGS_csv); !path.empty()) {
    std::ofstream out(path);
    out << "request_end,served_over_oracle,uniform_over_oracle,served_ctr,oracle_ctr\n";
    for (int64_t to = curve; to <= n; to += curve) {
      double s = 0, o = 0;
      for (int64_t r = to - curve; r < to; ++r) {
        s += served[r];
        o += oracle[r];
      }
      out << absl::StrFormat("%d,%.4f,%.4f,%.4f,%.4f\n", to, level(to - curve, to, served),
                             level(to - curve, to, uniform), s / curve, o / curve);
    }
  }
  if (const std::string path = absl::GetFlag(FLAGS_summary); !path.empty()) {
    std::ofstream out(path);
    out << "policy=" << name << "\nseed=" << wo.seed << "\nrequests=" << n << "\nshift_at=" << shift
        << absl::StrFormat("\nbefore=%.4f\nend=%.4f\n", before, end) << "recovery_requests=" << recovery
        << absl::StrFormat("\nuniform_before=%.4f\nuniform_end=%.4f\n",
                           level(before_end - window, before_end, uniform), level(n - window, n, uniform))
        << "clicks=" << clicks_total.load() << "\nempty_slates=" << empty_slates.load()
        << absl::StrFormat("\nseconds=%.1f\n", seconds);
    if (rtrec_policy) {
      const rtrec::v1::ModelInfo info = rtrec_policy->Info();
      out << "feedback_retries=" << rtrec_policy->feedback_retries() << "\nmodel_version=" << info.model_version()
          << "\nlearner_steps=" << info.learner_steps() << "\nlearner_examples=" << info.learner_examples()
          << "\nexperiences_pending=" << info.experiences_pending()
          << "\nexperiences_pending_max=" << pending_max.load() << "\nconcurrency=" << concurrency
          << "\nrejected_publishes="
          << info.rejected_publishes() << "\nfeedback_refused=" << info.feedback_refused() << "\n";
    }
  }
  return 0;
}
