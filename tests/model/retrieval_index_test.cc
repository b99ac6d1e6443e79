// The retrieval stage's index: exact below exact_below, and an inverted
// file whose recall@100 against exact scoring is measured on clustered
// vectors shaped like item vectors with a bias column.
#include "model/retrieval_index.h"

#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace rtrec::model {
namespace {

// n vectors of dim d around `clusters` random centres, last column a bias.
std::vector<float> ClusteredVectors(int64_t n, int64_t d, int64_t clusters, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> centres(static_cast<size_t>(clusters * d));
  for (auto& c : centres) c = normal(rng);
  std::vector<float> out(static_cast<size_t>(n * d));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = i % clusters;
    for (int64_t j = 0; j < d - 1; ++j) out[i * d + j] = centres[c * d + j] + 0.5f * normal(rng);
    out[i * d + d - 1] = 0.1f * normal(rng);
  }
  return out;
}

std::vector<float> Queries(int64_t count, int64_t d, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> q(static_cast<size_t>(count * d));
  for (int64_t i = 0; i < count; ++i) {
    for (int64_t j = 0; j < d - 1; ++j) q[i * d + j] = normal(rng);
    q[i * d + d - 1] = 1.0f;  // [u, 1]
  }
  return q;
}

TEST(RetrievalIndexTest, BelowExactBelowTheIndexIsExact) {
  const int64_t n = 2000, d = 17;
  auto vectors = ClusteredVectors(n, d, 20, 1);
  auto queries = Queries(10, d, 2);
  RetrievalIndexOptions o;
  o.exact_below = 5000;
  auto index = RetrievalIndex::Build(vectors.data(), n, d, o);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_TRUE((*index)->exact());
  std::vector<int64_t> found(10 * 50);
  (*index)->Search(queries.data(), 10, 50, found.data());
  EXPECT_EQ(found, ExactTop(vectors.data(), n, d, queries.data(), 10, 50));
  EXPECT_DOUBLE_EQ(MeasureRecall(**index, vectors.data(), n, queries.data(), 10, 100), 1.0);
}

TEST(RetrievalIndexTest, InvertedFileRecallAt100GrowsWithProbes) {
  const int64_t n = 40000, d = 17;
  auto vectors = ClusteredVectors(n, d, 200, 3);
  auto queries = Queries(50, d, 4);
  RetrievalIndexOptions o;
  o.exact_below = 0;
  o.train_sample = 20000;
  o.probes = 12;
  auto one = RetrievalIndex::Build(vectors.data(), n, d, o);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_FALSE((*one)->exact());
  EXPECT_EQ((*one)->lists(), 800);  // 4·√40000
  o.probes = 48;
  auto many = RetrievalIndex::Build(vectors.data(), n, d, o);
  ASSERT_TRUE(many.ok()) << many.status();
  const double recall_one = MeasureRecall(**one, vectors.data(), n, queries.data(), 50, 100);
  const double recall_many = MeasureRecall(**many, vectors.data(), n, queries.data(), 50, 100);
  EXPECT_LT(recall_one, 0.95) << recall_one;
  EXPECT_GE(recall_many, 0.95);
  // Every list probed: exact.
  o.probes = 800;
  auto all = RetrievalIndex::Build(vectors.data(), n, d, o);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_DOUBLE_EQ(MeasureRecall(**all, vectors.data(), n, queries.data(), 50, 100), 1.0);
  // An inverted file scores the vectors of the lists it scans exactly, so
  // retrieving 500 rather than 100 from the same lists finds no more of the
  // exact top 100: only more probes do.
  EXPECT_NEAR(MeasureRecall(**one, vectors.data(), n, queries.data(), 50, 100, 500), recall_one, 1e-9);
  EXPECT_NEAR(MeasureRecall(**many, vectors.data(), n, queries.data(), 50, 100, 500), recall_many, 1e-9);
  // Ids are rows of the input, best first by inner product.
  std::vector<int64_t> found(100);
  (*many)->Search(queries.data(), 1, 100, found.data());
  auto score = [&](int64_t i) {
    float s = 0;
    for (int64_t j = 0; j < d; ++j) s += queries[j] * vectors[i * d + j];
    return s;
  };
  for (int j = 1; j < 100; ++j) {
    ASSERT_GE(found[j], 0);
    EXPECT_GE(score(found[j - 1]) + 1e-4f, score(found[j]));
  }
}

}  // namespace
}  // namespace rtrec::model
