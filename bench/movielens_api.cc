// rtrec_movielens_api: the MovieLens-format leave-one-out ranking through the
// API, to set beside `rtrec-eval movielens`, which runs the same model and
// learner in process (eval/offline_runner.h) on the same split.
//
//   rtrec_movielens_api catalog --ratings F --movies F --out CATALOG.jsonl
//       Writes the movies as a catalog file in the order rtrec-eval indexes
//       them, for the server's catalog.path: both then see the same items.
//   rtrec_movielens_api replay --target HOST:PORT --ratings F --movies F [--k 10]
//       Streams every training interaction (all but each user's last
//       rating, users with at least 3) through StreamFeedback as an organic
//       event, in global time order; waits until the learner has taken them
//       all and has published; then asks Recommend once per user, greedy
//       (exploration false), among all movies less what the user rated
//       (exclusion CONSUMED), and prints HR@k and NDCG@k of the held-out
//       movie beside popularity's.
//
// bench/run_eval_bench.sh runs both and rtrec-eval on the same data.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "common/command_line.h"
#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "eval/datasets.h"
#include "eval/ranking.h"
#include "rtrec/v1/recommender.grpc.pb.h"
#include "tools/grpc_client.h"

ABSL_FLAG(std::string, ratings, "", "MovieLens ratings file (ratings.dat or ratings.csv)");
ABSL_FLAG(std::string, movies, "", "MovieLens titles file (movies.dat or movies.csv)");
ABSL_FLAG(std::string, out, "", "catalog: the JSONL file to write");
ABSL_FLAG(std::string, target, "127.0.0.1:50051", "replay: the rtrec server");
ABSL_FLAG(int64_t, k, 10, "replay: cut-off for HR and NDCG");

namespace {

using rtrec::eval::UserSplit;

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "rtrec_movielens_api: %s\n", s.ToString().c_str());
  return s.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

std::string JsonQuote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

int WriteCatalog(const rtrec::eval::MovieLensData& data) {
  const std::string path = absl::GetFlag(FLAGS_out);
  if (path.empty()) return Fail(absl::InvalidArgumentError("catalog needs --out"));
  std::ofstream out(path);
  for (const auto& item : data.items) {
    std::string tags;
    for (const auto& t : item.tags) absl::StrAppend(&tags, tags.empty() ? "" : ", ", JsonQuote(t));
    out << "{\"item_id\": " << JsonQuote(item.item_id) << ", \"title\": " << JsonQuote(item.title)
        << ", \"text\": " << JsonQuote(item.text) << ", \"tags\": [" << tags << "]}\n";
  }
  if (!out) return Fail(absl::InternalError(absl::StrCat("cannot write ", path)));
  return 0;
}

rtrec::v1::ModelInfo Info(rtrec::v1::Recommender::Stub& stub) {
  rtrec::v1::ModelInfo info;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  stub.GetModelInfo(&ctx, rtrec::v1::GetModelInfoRequest(), &info);
  return info;
}

int Replay(const rtrec::eval::MovieLensData& data) {
  const std::vector<UserSplit> splits = rtrec::eval::LeaveOneOut(data.interactions, 3);
  if (splits.empty()) return Fail(absl::InvalidArgumentError("ratings: no user has enough interactions"));
  auto stub = rtrec::v1::Recommender::NewStub(
      grpc::CreateChannel(absl::GetFlag(FLAGS_target), grpc::InsecureChannelCredentials()));
  // Training events in global time order, as rtrec-eval orders them.
  const std::vector<std::pair<size_t, size_t>> events = rtrec::eval::TrainingEventsInTimeOrder(splits);
  const int64_t examples_before = Info(*stub).learner_examples();
  const auto started = std::chrono::steady_clock::now();
  {
    rtrec::v1::StreamFeedbackResponse resp;
    grpc::ClientContext ctx;
    auto writer = stub->StreamFeedback(&ctx, &resp);
    for (const auto& [u, pos] : events) {
      rtrec::v1::FeedbackRequest fb;
      fb.set_user_id(data.users[splits[u].user]);
      fb.set_item_id(data.items[splits[u].train[pos]].item_id);
      fb.set_reward(1.0);
      if (!writer->Write(fb)) break;
    }
    writer->WritesDone();
    if (auto s = rtrec::tools::ToAbsl(writer->Finish()); !s.ok()) return Fail(s);
    if (resp.accepted() != static_cast<int64_t>(events.size())) {
      return Fail(absl::InternalError(absl::StrCat("accepted ", resp.accepted(), " of ", events.size())));
    }
  }
  // Learned, then published: the version stays put for 2 s after the last step.
  for (;;) {
    const rtrec::v1::ModelInfo info = Info(*stub);
    if (info.experiences_pending() == 0 &&
        info.learner_examples() - examples_before >= static_cast<int64_t>(events.size())) {
      break;
    }
    if (std::chrono::steady_clock::now() - started > std::chrono::minutes(10)) {
      return Fail(absl::DeadlineExceededError("not learned within 10 minutes"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  int64_t version = Info(*stub).model_version();
  for (;;) {
    std::this_thread::sleep_for(std::chrono::seconds(2));
    const int64_t now = Info(*stub).model_version();
    if (now == version) break;
    version = now;
  }
  const double learned_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  absl::flat_hash_map<std::string, int64_t> index;
  for (size_t i = 0; i < data.items.size(); ++i) index[data.items[i].item_id] = static_cast<int64_t>(i);
  const int64_t k = absl::GetFlag(FLAGS_k);
  const std::vector<int64_t> counts = rtrec::eval::PopularityCounts(splits, static_cast<int64_t>(data.items.size()));
  std::vector<int64_t> model_ranks, popularity_ranks;
  for (const UserSplit& s : splits) {
    rtrec::v1::RecommendRequest req;
    req.set_user_id(data.users[s.user]);
    req.set_k(static_cast<int32_t>(k));
    req.set_exploration(false);
    req.set_exclusion(rtrec::v1::EXCLUSION_CONSUMED);
    for (const auto& item : data.items) req.add_candidate_item_ids(item.item_id);
    rtrec::v1::RecommendResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (auto st = rtrec::tools::ToAbsl(stub->Recommend(&ctx, req, &resp)); !st.ok()) return Fail(st);
    std::vector<int64_t> top;
    for (const auto& item : resp.items()) top.push_back(index.at(item.item_id()));
    model_ranks.push_back(rtrec::eval::RankIn(top, s.test_item));
    popularity_ranks.push_back(rtrec::eval::RankIn(rtrec::eval::PopularityTopK(counts, s.train, k), s.test_item));
  }
  const auto model = rtrec::eval::Summarize(model_ranks, k);
  const auto popularity = rtrec::eval::Summarize(popularity_ranks, k);
  std::printf("MovieLens leave-one-out through the API: %zu users, %zu items, %zu training interactions "
              "streamed, learned and published in %.1f s (model version %lld)\n",
              splits.size(), data.items.size(), events.size(), learned_s, static_cast<long long>(version));
  std::printf("ranker       HR@%lld     NDCG@%lld\n", static_cast<long long>(k), static_cast<long long>(k));
  std::printf("popularity   %.4f   %.4f\n", popularity.hr, popularity.ndcg);
  std::printf("rtrec (API)  %.4f   %.4f\n", model.hr, model.ndcg);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args = rtrec::ParseCommandLineOrExit(argc, argv, "rtrec_movielens_api catalog|run [flags]: MovieLens leave-one-out through the API");
  if (args.size() != 2) return Fail(absl::InvalidArgumentError("expected one command: catalog or replay"));
  if (absl::GetFlag(FLAGS_ratings).empty() || absl::GetFlag(FLAGS_movies).empty()) {
    return Fail(absl::InvalidArgumentError("--ratings and --movies are required"));
  }
  auto data = rtrec::eval::ReadMovieLens(absl::GetFlag(FLAGS_ratings), absl::GetFlag(FLAGS_movies));
  if (!data.ok()) return Fail(data.status());
  const std::string command = args[1];
  if (command == "catalog") return WriteCatalog(*data);
  if (command == "replay") return Replay(*data);
  return Fail(absl::InvalidArgumentError(absl::StrCat("unknown command '", command, "'")));
}
