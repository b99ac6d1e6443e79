// The item catalog: what can be recommended, with each item's cached text
// embedding.
//
// Readers take an immutable CatalogSnapshot (a shared_ptr<const>) and use it
// for a whole request; Upsert builds a new snapshot (copy on write) and swaps
// it in, so readers never wait for writers. Item indices are dense and stable:
// an item keeps its index when its text is updated, and the model's id
// embedding table is indexed by it.
//
// Thread safety: Snapshot() and Upsert() may be called from any thread;
// concurrent Upserts are serialised.
#ifndef RTREC_MODEL_CATALOG_H_
#define RTREC_MODEL_CATALOG_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/mutex.h"
#include "config/options.h"
#include "storage/state_store.h"

namespace rtrec::model {

struct CatalogItem {
  std::string item_id;
  std::string title;
  std::string text;
  std::vector<std::string> tags;
  // Pooled text-tower output for title + text; filled before Upsert.
  std::vector<float> text_embedding;
};

// The text the text tower encodes for an item.
std::string ItemTextForEncoding(const CatalogItem& item);

class CatalogSnapshot {
 public:
  int64_t version() const { return version_; }
  int64_t size() const { return static_cast<int64_t>(items_.size()); }
  // Dense index of `item_id`, if present.
  std::optional<int64_t> Find(const std::string& item_id) const;
  // REQUIRES: 0 <= index < size().
  const CatalogItem& item(int64_t index) const { return *items_[index]; }
  int64_t text_dim() const { return text_dim_; }

 private:
  friend class Catalog;
  int64_t version_ = 0;
  int64_t text_dim_ = 0;
  std::vector<std::shared_ptr<const CatalogItem>> items_;
  absl::flat_hash_map<std::string, int64_t> index_of_;
};

struct UpsertResult {
  int64_t inserted = 0;
  int64_t updated = 0;
  int64_t catalog_size = 0;
  int64_t catalog_version = 0;
};

class Catalog {
 public:
  // With `store` (optional, outliving the catalog) every upserted item is
  // written to it, by index, before the new snapshot is served.
  static absl::StatusOr<std::unique_ptr<Catalog>> Create(
      const config::CatalogOptions& options, storage::StateStore* store = nullptr);

  std::shared_ptr<const CatalogSnapshot> Snapshot() const ABSL_LOCKS_EXCLUDED(mu_);

  // Adds new items and replaces existing ones (matched by item_id). All items
  // must carry text embeddings of one width. Fails whole, changing nothing,
  // with RESOURCE_EXHAUSTED when the catalog would exceed max_items, or
  // INVALID_ARGUMENT naming the item when an embedding is missing or of the
  // wrong width.
  absl::StatusOr<UpsertResult> Upsert(std::vector<CatalogItem> items)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Replaces every item's text embedding (a re-encode by a new text tower),
  // in index order. FAILED_PRECONDITION when the catalog is no longer at
  // `expected_version`; INVALID_ARGUMENT when the count or widths disagree.
  absl::StatusOr<int64_t> ReplaceTextEmbeddings(int64_t expected_version,
                                                std::vector<std::vector<float>> embeddings)
      ABSL_LOCKS_EXCLUDED(mu_);

  int64_t max_items() const { return options_.max_items; }

 private:
  Catalog(config::CatalogOptions options, storage::StateStore* store);

  const config::CatalogOptions options_;
  storage::StateStore* const store_;
  rtrec::Mutex write_mu_;  // serialises writers; held while building a snapshot
  mutable rtrec::Mutex mu_;  // guards the pointer only, held briefly
  std::shared_ptr<const CatalogSnapshot> current_ ABSL_GUARDED_BY(mu_);
};

// Checks one item's fields. Errors name the field as `field_prefix`.item_id etc.
absl::Status ValidateCatalogItem(const CatalogItem& item,
                                 const std::string& field_prefix,
                                 int64_t max_text_bytes);

// The items a store holds, in index order, without text embeddings.
// DATA_LOSS naming the store when a record is missing or unreadable.
absl::StatusOr<std::vector<CatalogItem>> ReadStoredCatalog(const storage::StateStore& store);

// Writes `catalog` as a JSONL catalog file, in index order (what
// ReadCatalogJsonl reads back into the same indices).
absl::Status WriteCatalogJsonl(const CatalogSnapshot& catalog, const std::string& path);

// Reads a JSONL catalog file: one JSON object a line with "item_id" (required),
// "title", "text" and "tags". Blank lines are skipped. Errors name the line.
absl::StatusOr<std::vector<CatalogItem>> ReadCatalogJsonl(
    const std::string& path, int64_t max_text_bytes);

}  // namespace rtrec::model

#endif  // RTREC_MODEL_CATALOG_H_
