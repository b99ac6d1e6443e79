// The retrieval stage for large catalogs: an approximate maximum-inner-
// product index over the item vectors of one (model version, catalog
// version), on FAISS (Debian's libfaiss-dev 1.7).
//
// Scores are s_i = u · e_i + b_i, so each item is indexed as [e_i, b_i] and
// each query as [u, 1]: the inner product is the score. The index is an
// inverted file (IndexIVFFlat, inner product): a k-means coarse quantizer of
// `lists` centroids, trained on a sample, with the full vectors kept in each
// list; a search scans the `probes` lists whose centroids score highest.
// Recall against exact scoring depends on probes/lists and is measured
// (MeasureRecall, rtrec_retrieval_recall gauge, bench/RESULTS.md).
//
// Below `exact_below` items no index is built: Build returns an index that
// scans every vector (IndexFlatIP), i.e. exact scoring.
//
// Thread safety: immutable after Build; Search may run on many threads.
#ifndef RTREC_MODEL_RETRIEVAL_INDEX_H_
#define RTREC_MODEL_RETRIEVAL_INDEX_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"

namespace faiss {
struct Index;
}

namespace rtrec::model {

struct RetrievalIndexOptions {
  // Inverted lists; 0: 4·√n, at least 1 (what FAISS's guidelines suggest).
  int64_t lists = 0;
  // Lists scanned per query.
  int64_t probes = 32;
  // Vectors the quantizer is trained on (a uniform sample; FAISS wants at
  // least 39 per list).
  int64_t train_sample = 100000;
  // Fewer items than this: an exact (flat) index.
  int64_t exact_below = 20000;
  uint64_t seed = 1;
};

class RetrievalIndex {
 public:
  // vectors: n rows of `dim` floats (row-major). The index keeps its own copy.
  static absl::StatusOr<std::unique_ptr<RetrievalIndex>> Build(const float* vectors, int64_t n,
                                                                 int64_t dim,
                                                                 const RetrievalIndexOptions& options);
  ~RetrievalIndex();

  // For each of `count` queries (rows of dim() floats), the ids of the top
  // `top` vectors by inner product, best first, into ids[q * top ...]; −1
  // where fewer were found.
  void Search(const float* queries, int64_t count, int64_t top, int64_t* ids) const;

  int64_t size() const { return size_; }
  int64_t dim() const { return dim_; }
  bool exact() const { return exact_; }
  int64_t lists() const { return lists_; }

 private:
  RetrievalIndex() = default;
  std::unique_ptr<faiss::Index> quantizer_;
  std::unique_ptr<faiss::Index> index_;
  int64_t size_ = 0;
  int64_t dim_ = 0;
  int64_t lists_ = 0;
  int64_t probes_ = 1;
  bool exact_ = false;
};

// x·y over d floats with eight partial sums, a loop the compiler
// vectorises. FAISS's own inner product in Debian's build (generic x86-64)
// is a scalar loop; scanning the probed lists with it was most of a
// Recommend's CPU at a million items.
float InnerProduct(const float* x, const float* y, int64_t d);

// Exact top `top` ids by inner product of each query over all `n` vectors.
std::vector<int64_t> ExactTop(const float* vectors, int64_t n, int64_t dim, const float* queries,
                              int64_t count, int64_t top);

// Mean over queries of |index top-`retrieved` ∩ exact top-k| / k: with
// retrieved = k the index's own recall@k; with retrieved = the candidates a
// request retrieves, how much of the exact top k the stage hands to exact
// ranking (what the slate can be drawn from). retrieved 0 means k.
double MeasureRecall(const RetrievalIndex& index, const float* vectors, int64_t n,
                     const float* queries, int64_t count, int64_t k, int64_t retrieved = 0);

}  // namespace rtrec::model

#endif  // RTREC_MODEL_RETRIEVAL_INDEX_H_
