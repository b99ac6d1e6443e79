// rtrec_text_tower_bench: catalog encoding throughput and per-query latency of
// the BERT text tower, for the BERT-tiny (L2/H128/A2) and BERT-mini
// (L4/H256/A4) shapes, with the FLOPs per item and the share of this
// machine's measured float32 matrix-multiply peak that encoding reaches.
// Shapes are randomly initialised (speed does not depend on the values) and
// use the shipped BERT uncased vocabulary and the demo catalog's texts.
//
//   rtrec_text_tower_bench --threads 1
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "common/command_line.h"
#include "absl/flags/flag.h"
#include "config/options.h"
#include "model/catalog.h"
#include "model/text_embedder.h"
#include "model/wordpiece_tokenizer.h"

ABSL_FLAG(int, threads, 1, "Intra-op threads (the server's model.intra_op_threads)");
ABSL_FLAG(int, catalog_copies, 4, "Times the 240-item demo catalog is encoded");
ABSL_FLAG(int, query_runs, 200, "Single-query encodings timed");

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// float32 GEMM throughput of this machine under the same thread count.
double MeasureMatmulPeakGflops() {
  c10::InferenceMode guard;
  double best = 0;
  for (int64_t n : {256, 512, 1024}) {
    auto a = torch::randn({n, n});
    auto b = torch::randn({n, n});
    torch::mm(a, b);  // warm-up
    const int reps = n == 1024 ? 5 : 20;
    auto t0 = Clock::now();
    for (int r = 0; r < reps; ++r) torch::mm(a, b);
    const double s = Seconds(t0, Clock::now());
    best = std::max(best, 2.0 * n * n * n * reps / s / 1e9);
  }
  return best;
}

// Matrix-multiply FLOPs of one sequence of `t` tokens through BERT.
double BertFlops(double t, double h, double layers, double inter) {
  const double per_layer = 2 * t * (4 * h * h + 2 * h * inter) + 2 * 2 * t * t * h;
  return layers * per_layer;
}

}  // namespace

int main(int argc, char** argv) {
  rtrec::ParseCommandLineOrExit(argc, argv, "rtrec_text_tower_bench [flags]: BERT text tower throughput");
  at::set_num_threads(absl::GetFlag(FLAGS_threads));
  auto items = rtrec::model::ReadCatalogJsonl(rtrec::config::DefaultCatalogPath(), 1 << 20);
  if (!items.ok()) {
    fprintf(stderr, "%s\n", std::string(items.status().message()).c_str());
    return 1;
  }
  std::vector<std::string> texts;
  for (int c = 0; c < absl::GetFlag(FLAGS_catalog_copies); ++c) {
    for (const auto& item : *items) texts.push_back(rtrec::model::ItemTextForEncoding(item));
  }
  const double peak = MeasureMatmulPeakGflops();
  printf("machine: %d intra-op thread(s), measured fp32 matmul peak %.1f GFLOP/s\n",
         absl::GetFlag(FLAGS_threads), peak);
  struct Shape {
    const char* name;
    int64_t layers, hidden, heads, inter;
  };
  for (const Shape& s : {Shape{"BERT-tiny L2/H128/A2", 2, 128, 2, 512},
                         Shape{"BERT-mini L4/H256/A4", 4, 256, 4, 1024}}) {
    rtrec::config::TextTowerOptions o;
    o.vocab_path = rtrec::config::DefaultVocabPath();
    o.hidden_size = s.hidden;
    o.num_layers = s.layers;
    o.num_heads = s.heads;
    o.intermediate_size = s.inter;
    o.max_seq_length = 64;
    o.encode_batch_size = 32;
    auto embedder = rtrec::model::TextEmbedder::Create(o, "cpu");
    if (!embedder.ok()) {
      fprintf(stderr, "%s\n", std::string(embedder.status().message()).c_str());
      return 1;
    }
    // Token statistics: padded length per batch is what the encoder computes.
    double padded_tokens = 0, real_tokens = 0;
    for (size_t start = 0; start < texts.size(); start += 32) {
      std::vector<std::string> chunk(texts.begin() + start, texts.begin() + std::min(texts.size(), start + 32));
      auto b = (*embedder)->tokenizer().EncodeBatch(chunk, o.max_seq_length);
      padded_tokens += static_cast<double>(b.batch_size * b.seq_len);
      for (int64_t m : b.attention_mask) real_tokens += static_cast<double>(m);
    }
    const double mean_len = padded_tokens / texts.size();
    (void)(*embedder)->Embed({texts.begin(), texts.begin() + 32});  // warm-up
    auto t0 = Clock::now();
    auto out = (*embedder)->Embed(texts);
    const double secs = Seconds(t0, Clock::now());
    if (!out.ok()) return 1;
    const double items_per_s = texts.size() / secs;
    const double flops_per_item = BertFlops(mean_len, s.hidden, s.layers, s.inter);
    const double achieved = flops_per_item * items_per_s / 1e9;
    std::vector<double> lat;
    for (int r = 0; r < absl::GetFlag(FLAGS_query_runs); ++r) {
      auto q0 = Clock::now();
      (void)(*embedder)->Embed({"lightweight trail running shoes"});
      lat.push_back(Seconds(q0, Clock::now()) * 1e3);
    }
    std::sort(lat.begin(), lat.end());
    printf("%s: %zu items in %.2f s = %.0f items/s; mean padded length %.1f tokens (%.1f real); "
           "%.2f MFLOP/item; %.2f GFLOP/s = %.0f%% of matmul peak; query encode p50 %.2f ms p99 %.2f ms\n",
           s.name, texts.size(), secs, items_per_s, mean_len, real_tokens / texts.size(),
           flops_per_item / 1e6, achieved, 100.0 * achieved / peak, lat[lat.size() / 2],
           lat[lat.size() * 99 / 100]);
  }
  return 0;
}
