#include "model/retrieval_index.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/utils/distances.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <random>
#include <unordered_set>

#include "absl/strings/str_cat.h"

namespace rtrec::model {

RetrievalIndex::~RetrievalIndex() {
  index_.reset();  // the IVF index refers to the quantizer
  quantizer_.reset();
}

absl::StatusOr<std::unique_ptr<RetrievalIndex>> RetrievalIndex::Build(
    const float* vectors, int64_t n, int64_t dim, const RetrievalIndexOptions& options) {
  if (n < 0 || dim <= 0) return absl::InvalidArgumentError("retrieval index: no vectors to index");
  // Query batches of any size score the coarse centroids with one sgemm
  // (OpenBLAS) rather than FAISS's scalar loop (Debian builds it for the
  // generic x86-64 target): a batch is often smaller than FAISS's default
  // threshold of 20 queries.
  faiss::distance_compute_blas_threshold = 1;
  std::unique_ptr<RetrievalIndex> out(new RetrievalIndex());
  out->size_ = n;
  out->dim_ = dim;
  try {
    if (n < std::max<int64_t>(options.exact_below, 1)) {
      auto flat = std::make_unique<faiss::IndexFlatIP>(dim);
      flat->add(n, vectors);
      out->index_ = std::move(flat);
      out->exact_ = true;
      return out;
    }
    int64_t lists = options.lists > 0 ? options.lists
                                      : std::max<int64_t>(1, static_cast<int64_t>(4 * std::sqrt(n)));
    lists = std::min(lists, n);
    auto quantizer = std::make_unique<faiss::IndexFlatIP>(dim);
    auto ivf = std::make_unique<faiss::IndexIVFFlat>(quantizer.get(), dim, lists,
                                                     faiss::METRIC_INNER_PRODUCT);
    // Train on a uniform sample (k-means cost is linear in it).
    const int64_t sample = std::clamp<int64_t>(options.train_sample, std::min<int64_t>(n, 39 * lists), n);
    std::vector<float> train;
    if (sample < n) {
      std::vector<int64_t> rows(n);
      std::iota(rows.begin(), rows.end(), 0);
      std::mt19937_64 rng(options.seed);
      for (int64_t i = 0; i < sample; ++i) {
        std::uniform_int_distribution<int64_t> pick(i, n - 1);
        std::swap(rows[i], rows[pick(rng)]);
      }
      std::sort(rows.begin(), rows.begin() + sample);
      train.resize(static_cast<size_t>(sample * dim));
      for (int64_t i = 0; i < sample; ++i) {
        std::copy(vectors + rows[i] * dim, vectors + (rows[i] + 1) * dim, train.data() + i * dim);
      }
    }
    ivf->cp.seed = static_cast<int>(options.seed);
    ivf->verbose = false;
    ivf->train(sample, sample < n ? train.data() : vectors);
    ivf->add(n, vectors);
    ivf->nprobe = static_cast<size_t>(std::clamp<int64_t>(options.probes, 1, lists));
    out->lists_ = lists;
    out->probes_ = static_cast<int64_t>(ivf->nprobe);
    out->quantizer_ = std::move(quantizer);
    out->index_ = std::move(ivf);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("retrieval index: FAISS failed: ", e.what()));
  }
  return out;
}

float InnerProduct(const float* x, const float* y, int64_t d) {
  float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= d; i += 8) {
    for (int l = 0; l < 8; ++l) part[l] += x[i + l] * y[i + l];
  }
  float s = 0;
  for (; i < d; ++i) s += x[i] * y[i];
  for (float p : part) s += p;
  return s;
}

void RetrievalIndex::Search(const float* queries, int64_t count, int64_t top, int64_t* ids) const {
  if (count <= 0 || top <= 0) return;
  static_assert(sizeof(faiss::Index::idx_t) == sizeof(int64_t));
  if (exact_) {
    std::vector<float> distances(static_cast<size_t>(count * top));
    index_->search(count, queries, top, distances.data(), reinterpret_cast<faiss::Index::idx_t*>(ids));
    return;
  }
  // The inverted file, scanned here: FAISS picks the probed lists (one
  // sgemm against the centroids), the lists' vectors with InnerProduct.
  const auto& ivf = static_cast<const faiss::IndexIVFFlat&>(*index_);
  std::vector<float> centroid_scores(static_cast<size_t>(count * probes_));
  std::vector<faiss::Index::idx_t> lists(static_cast<size_t>(count * probes_));
  quantizer_->search(count, queries, probes_, centroid_scores.data(), lists.data());
  using Scored = std::pair<float, int64_t>;
  std::vector<Scored> heap;  // a min-heap of the best `top` so far
  heap.reserve(static_cast<size_t>(top));
  for (int64_t q = 0; q < count; ++q) {
    const float* query = queries + q * dim_;
    heap.clear();
    for (int64_t p = 0; p < probes_; ++p) {
      const faiss::Index::idx_t list = lists[q * probes_ + p];
      if (list < 0) continue;
      const size_t size = ivf.invlists->list_size(list);
      faiss::InvertedLists::ScopedCodes codes(ivf.invlists, list);
      faiss::InvertedLists::ScopedIds list_ids(ivf.invlists, list);
      const float* vectors = reinterpret_cast<const float*>(codes.get());
      for (size_t i = 0; i < size; ++i) {
        const float s = InnerProduct(query, vectors + i * dim_, dim_);
        if (static_cast<int64_t>(heap.size()) < top) {
          heap.emplace_back(s, list_ids[i]);
          std::push_heap(heap.begin(), heap.end(), std::greater<>());
        } else if (s > heap.front().first) {
          std::pop_heap(heap.begin(), heap.end(), std::greater<>());
          heap.back() = {s, list_ids[i]};
          std::push_heap(heap.begin(), heap.end(), std::greater<>());
        }
      }
    }
    std::sort(heap.begin(), heap.end(), std::greater<>());
    int64_t* out = ids + q * top;
    for (int64_t j = 0; j < top; ++j) out[j] = j < static_cast<int64_t>(heap.size()) ? heap[j].second : -1;
  }
}

std::vector<int64_t> ExactTop(const float* vectors, int64_t n, int64_t dim, const float* queries,
                              int64_t count, int64_t top) {
  std::vector<int64_t> out(static_cast<size_t>(count * top), -1);
  faiss::IndexFlatIP flat(dim);
  flat.add(n, vectors);
  std::vector<float> distances(static_cast<size_t>(count * top));
  flat.search(count, queries, top, distances.data(), reinterpret_cast<faiss::Index::idx_t*>(out.data()));
  return out;
}

double MeasureRecall(const RetrievalIndex& index, const float* vectors, int64_t n,
                     const float* queries, int64_t count, int64_t k, int64_t retrieved) {
  if (count <= 0 || k <= 0 || n <= 0) return 1.0;
  k = std::min(k, n);
  const int64_t r = std::min(std::max(retrieved, k), n);
  const std::vector<int64_t> exact = ExactTop(vectors, n, index.dim(), queries, count, k);
  std::vector<int64_t> found(static_cast<size_t>(count * r));
  index.Search(queries, count, r, found.data());
  double sum = 0;
  for (int64_t q = 0; q < count; ++q) {
    std::unordered_set<int64_t> truth(exact.begin() + q * k, exact.begin() + (q + 1) * k);
    int64_t hits = 0;
    for (int64_t j = 0; j < r; ++j) hits += truth.count(found[q * r + j]) > 0;
    sum += static_cast<double>(hits) / static_cast<double>(k);
  }
  return sum / static_cast<double>(count);
}

}  // namespace rtrec::model
