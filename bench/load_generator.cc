// rtrec_load_generator: closed-loop gRPC load on Recommend. `concurrency`
// client threads each send one request at a time for `seconds`; prints QPS
// and latency percentiles as one line of JSON.
//
//   rtrec_load_generator --target 127.0.0.1:50051 --concurrency 32 --seconds 10
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "common/command_line.h"
#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "rtrec/v1/recommender.grpc.pb.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "rtrec server address");
ABSL_FLAG(int, concurrency, 32, "Concurrent clients, one request in flight each");
ABSL_FLAG(double, seconds, 10, "Measured duration");
ABSL_FLAG(double, warmup_seconds, 1, "Unmeasured warm-up");
ABSL_FLAG(int, k, 10, "Slate size");
ABSL_FLAG(std::string, query, "", "Query text to send with every request (empty: none)");
ABSL_FLAG(std::string, label, "", "Label echoed in the output");
ABSL_FLAG(double, feedback_share, 0.0,
          "Share of answered slates followed by a Feedback (a click on one shown item), so a "
          "learner has something to learn from; Feedback latency is not measured");
ABSL_FLAG(int64_t, users, 0,
          "0: each client cycles through 50 users of its own; N > 0: every request is from the "
          "next of N users user-0 .. user-(N-1), shared by all clients (a growing user table)");
ABSL_FLAG(bool, report_every_shown, false,
          "After every slate, report every shown item (the first clicked, the rest 0), as a "
          "bandit client does; Feedback calls per second and their latency are measured");

ABSL_FLAG(int64_t, deadline_ms, 10000, "Deadline of each Recommend");
ABSL_FLAG(std::string, token, "", "Bearer token sent with every call (server.auth)");
ABSL_FLAG(int, channels, 8, "Connections the clients share (at most concurrency)");
ABSL_FLAG(bool, honor_retry_after, false,
          "After a refusal that carries retry-after-ms, wait that long before the client's next "
          "request (as a well-behaved client does); refusals are counted, not errors");

int main(int argc, char** argv) {
  rtrec::ParseCommandLineOrExit(argc, argv, "rtrec_load_generator --target HOST:PORT [flags]: closed-loop Recommend load, one JSON line of results");
  const int concurrency = absl::GetFlag(FLAGS_concurrency);
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  // A few channels so the client side is not one HTTP/2 connection bottleneck.
  for (int i = 0; i < std::min(concurrency, std::max(1, absl::GetFlag(FLAGS_channels))); ++i) {
    grpc::ChannelArguments args;
    args.SetInt("rtrec.channel", i);  // distinct args → distinct connections
    channels.push_back(grpc::CreateCustomChannel(absl::GetFlag(FLAGS_target),
                                                 grpc::InsecureChannelCredentials(), args));
  }
  for (auto& c : channels) {
    if (!c->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30))) {
      fprintf(stderr, "load_generator: cannot reach %s\n", absl::GetFlag(FLAGS_target).c_str());
      return 1;
    }
  }
  std::atomic<bool> measuring{false}, stop{false};
  std::atomic<int64_t> next_user{0};
  std::mutex mu;
  std::vector<double> latencies;
  std::vector<double> feedback_latencies;
  int64_t feedback_errors = 0;
  int64_t errors = 0;
  int64_t refused = 0, expired = 0;
  std::string first_error;
  std::vector<std::thread> clients;
  for (int c = 0; c < concurrency; ++c) {
    clients.emplace_back([&, c] {
      auto stub = rtrec::v1::Recommender::NewStub(channels[c % channels.size()]);
      std::vector<double> mine, my_feedback;
      int64_t my_errors = 0, my_feedback_errors = 0, my_refused = 0, my_expired = 0;
      int i = 0;
      while (!stop) {
        rtrec::v1::RecommendRequest req;
        const int64_t users = absl::GetFlag(FLAGS_users);
        req.set_user_id(users > 0 ? absl::StrCat("user-", next_user.fetch_add(1) % users)
                                  : absl::StrCat("load-", c, "-", i % 50));
        ++i;
        req.set_k(absl::GetFlag(FLAGS_k));
        if (!absl::GetFlag(FLAGS_query).empty()) req.set_query(absl::GetFlag(FLAGS_query));
        rtrec::v1::RecommendResponse resp;
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(absl::GetFlag(FLAGS_deadline_ms)));
        if (!absl::GetFlag(FLAGS_token).empty()) {
          ctx.AddMetadata("authorization", absl::StrCat("Bearer ", absl::GetFlag(FLAGS_token)));
        }
        const auto t0 = std::chrono::steady_clock::now();
        grpc::Status s = stub->Recommend(&ctx, req, &resp);
        if (absl::GetFlag(FLAGS_honor_retry_after) &&
            (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ||
             s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)) {
          auto hint = ctx.GetServerTrailingMetadata().find("retry-after-ms");
          if (measuring) ++(s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ? my_refused : my_expired);
          if (hint != ctx.GetServerTrailingMetadata().end()) {
            int64_t wait_ms = 0;
            if (absl::SimpleAtoi(absl::string_view(hint->second.data(), hint->second.size()), &wait_ms)) {
              std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(wait_ms, 1000)));
            }
          }
          continue;
        }
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        if (s.ok() && resp.items_size() > 0 &&
            (i * 2654435761u % 1000) < absl::GetFlag(FLAGS_feedback_share) * 1000) {
          rtrec::v1::FeedbackRequest fb;
          fb.set_user_id(req.user_id());
          fb.set_request_id(resp.request_id());
          fb.set_item_id(resp.items(i % resp.items_size()).item_id());
          fb.set_reward(1.0);
          fb.set_event_type(rtrec::v1::EVENT_TYPE_CLICK);
          rtrec::v1::FeedbackResponse fresp;
          grpc::ClientContext fctx;
          if (!absl::GetFlag(FLAGS_token).empty()) {
            fctx.AddMetadata("authorization", absl::StrCat("Bearer ", absl::GetFlag(FLAGS_token)));
          }
          stub->Feedback(&fctx, fb, &fresp);
        }
        if (s.ok() && absl::GetFlag(FLAGS_report_every_shown)) {
          for (int pos = 0; pos < resp.items_size(); ++pos) {
            rtrec::v1::FeedbackRequest fb;
            fb.set_user_id(req.user_id());
            fb.set_request_id(resp.request_id());
            fb.set_item_id(resp.items(pos).item_id());
            fb.set_reward(pos == 0 ? 1.0 : 0.0);
            rtrec::v1::FeedbackResponse fresp;
            grpc::ClientContext fctx;
            fctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
            if (!absl::GetFlag(FLAGS_token).empty()) {
              fctx.AddMetadata("authorization", absl::StrCat("Bearer ", absl::GetFlag(FLAGS_token)));
            }
            const auto f0 = std::chrono::steady_clock::now();
            grpc::Status fs = stub->Feedback(&fctx, fb, &fresp);
            if (!measuring) continue;
            if (fs.ok()) {
              my_feedback.push_back(
                  std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - f0).count());
            } else {
              ++my_feedback_errors;
            }
          }
        }
        if (!measuring) continue;
        if (s.ok()) {
          mine.push_back(ms);
        } else {
          ++my_errors;
          std::lock_guard<std::mutex> lock(mu);
          if (first_error.empty()) {
            first_error = absl::StrCat(static_cast<int>(s.error_code()), ": ", s.error_message());
          }
        }
      }
      std::lock_guard<std::mutex> lock(mu);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
      feedback_latencies.insert(feedback_latencies.end(), my_feedback.begin(), my_feedback.end());
      errors += my_errors;
      feedback_errors += my_feedback_errors;
      refused += my_refused;
      expired += my_expired;
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(absl::GetFlag(FLAGS_warmup_seconds)));
  measuring = true;
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(absl::GetFlag(FLAGS_seconds)));
  measuring = false;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  stop = true;
  for (auto& t : clients) t.join();
  std::sort(latencies.begin(), latencies.end());
  std::sort(feedback_latencies.begin(), feedback_latencies.end());
  auto pct_of = [](const std::vector<double>& v, double p) {
    return v.empty() ? 0.0 : v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
  };
  auto pct = [&](double p) { return pct_of(latencies, p); };
  printf("{\"label\": \"%s\", \"concurrency\": %d, \"requests\": %zu, \"errors\": %lld, \"seconds\": %.2f, "
         "\"qps\": %.1f, \"p50_ms\": %.2f, \"p99_ms\": %.2f, \"feedback\": %zu, \"feedback_errors\": %lld, "
         "\"feedback_per_s\": %.1f, \"feedback_p50_ms\": %.2f, \"feedback_p99_ms\": %.2f, "
         "\"refused\": %lld, \"expired\": %lld, \"success\": %.4f}\n",
         absl::GetFlag(FLAGS_label).c_str(), concurrency, latencies.size(), static_cast<long long>(errors), elapsed,
         latencies.size() / elapsed, pct(0.50), pct(0.99), feedback_latencies.size(),
         static_cast<long long>(feedback_errors), feedback_latencies.size() / elapsed,
         pct_of(feedback_latencies, 0.50), pct_of(feedback_latencies, 0.99),
         static_cast<long long>(refused), static_cast<long long>(expired),
         static_cast<double>(latencies.size()) /
             std::max<double>(1, static_cast<double>(latencies.size() + errors + refused + expired)));
  if (errors > 0) fprintf(stderr, "load_generator: first error: %s\n", first_error.c_str());
  return errors == 0 ? 0 : 3;
}
