#include "model/catalog.h"

#include <fstream>

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include "common/refusal.h"
#include "rtrec/storage/v1/state.pb.h"
#include "storage/state_keys.h"

#include <fstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/json.h"

namespace rtrec::model {

std::string ItemTextForEncoding(const CatalogItem& item) {
  if (item.title.empty()) return item.text;
  if (item.text.empty()) return item.title;
  return absl::StrCat(item.title, ". ", item.text);
}

std::optional<int64_t> CatalogSnapshot::Find(const std::string& item_id) const {
  auto it = index_of_.find(item_id);
  if (it == index_of_.end()) return std::nullopt;
  return it->second;
}

Catalog::Catalog(config::CatalogOptions options, storage::StateStore* store)
    : options_(std::move(options)),
      store_(store),
      current_(std::make_shared<const CatalogSnapshot>()) {}

absl::StatusOr<std::unique_ptr<Catalog>> Catalog::Create(
    const config::CatalogOptions& options, storage::StateStore* store) {
  if (options.max_items < 1) {
    return absl::InvalidArgumentError("catalog.max_items: must be at least 1");
  }
  return std::unique_ptr<Catalog>(new Catalog(options, store));
}

std::shared_ptr<const CatalogSnapshot> Catalog::Snapshot() const {
  rtrec::MutexLock lock(&mu_);
  return current_;
}

absl::StatusOr<UpsertResult> Catalog::Upsert(std::vector<CatalogItem> items) {
  rtrec::MutexLock write_lock(&write_mu_);
  std::shared_ptr<const CatalogSnapshot> old = Snapshot();
  int64_t dim = old->text_dim_;
  int64_t new_items = 0;
  absl::flat_hash_map<std::string, int64_t> batch_seen;
  for (size_t i = 0; i < items.size(); ++i) {
    const CatalogItem& item = items[i];
    if (item.text_embedding.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("items[", i, "] (", item.item_id, "): no text embedding"));
    }
    if (dim == 0) dim = static_cast<int64_t>(item.text_embedding.size());
    if (static_cast<int64_t>(item.text_embedding.size()) != dim) {
      return absl::InvalidArgumentError(absl::StrCat(
          "items[", i, "] (", item.item_id, "): text embedding has width ",
          item.text_embedding.size(), ", catalog has ", dim));
    }
    if (!old->Find(item.item_id) && batch_seen.emplace(item.item_id, i).second) {
      ++new_items;
    }
  }
  if (old->size() + new_items > options_.max_items) {
    // Not RESOURCE_EXHAUSTED: retrying cannot succeed until the operator
    // raises catalog.max_items.
    return WithReason(absl::FailedPreconditionError(absl::StrCat(
                          "catalog is full: ", old->size(), " items + ", new_items,
                          " new would exceed catalog.max_items = ", options_.max_items)),
                      reason::kCatalogFull);
  }
  auto next = std::make_shared<CatalogSnapshot>(*old);
  next->version_ = old->version_ + 1;
  next->text_dim_ = dim;
  UpsertResult result;
  storage::WriteBatch journal;
  for (CatalogItem& item : items) {
    auto it = next->index_of_.find(item.item_id);
    auto shared = std::make_shared<const CatalogItem>(std::move(item));
    int64_t index = 0;
    if (it != next->index_of_.end()) {
      index = it->second;
      next->items_[index] = std::move(shared);
      ++result.updated;
    } else {
      index = next->size();
      next->index_of_.emplace(shared->item_id, index);
      next->items_.push_back(std::move(shared));
      ++result.inserted;
    }
    if (store_ != nullptr) {
      const CatalogItem& stored = *next->items_[index];
      storage::v1::CatalogItemRecord r;
      r.set_item_id(stored.item_id);
      r.set_title(stored.title);
      r.set_text(stored.text);
      r.mutable_tags()->Add(stored.tags.begin(), stored.tags.end());
      journal.Put(storage::CatalogKey(static_cast<uint64_t>(index)), r.SerializeAsString());
    }
  }
  result.catalog_size = next->size();
  result.catalog_version = next->version_;
  // In the store before anyone is served from it: an item served is an item
  // a restart still knows.
  if (store_ != nullptr) {
    if (auto s = store_->Write(journal); !s.ok()) return s;
  }
  {
    rtrec::MutexLock lock(&mu_);
    current_ = std::move(next);
  }
  return result;
}

absl::StatusOr<std::vector<CatalogItem>> ReadStoredCatalog(const storage::StateStore& store) {
  std::vector<CatalogItem> items;
  absl::Status bad;
  auto scanned = store.Scan(storage::kCatalogPrefix, [&](std::string_view key, std::string_view value) {
    storage::v1::CatalogItemRecord r;
    if (key.size() != 10 || storage::DecodeUint64(key.substr(2)) != items.size() ||
        !r.ParseFromArray(value.data(), static_cast<int>(value.size())) || r.item_id().empty()) {
      bad = absl::DataLossError(absl::StrCat(
          "storage: catalog record ", items.size(), " in ", store.path(),
          " is missing or unreadable; the store is damaged or foreign"));
      return false;
    }
    CatalogItem item;
    item.item_id = r.item_id();
    item.title = r.title();
    item.text = r.text();
    item.tags.assign(r.tags().begin(), r.tags().end());
    items.push_back(std::move(item));
    return true;
  });
  if (!scanned.ok()) return scanned;
  if (!bad.ok()) return bad;
  return items;
}

absl::StatusOr<int64_t> Catalog::ReplaceTextEmbeddings(
    int64_t expected_version, std::vector<std::vector<float>> embeddings) {
  rtrec::MutexLock write_lock(&write_mu_);
  std::shared_ptr<const CatalogSnapshot> old = Snapshot();
  if (old->version_ != expected_version) {
    return absl::FailedPreconditionError(absl::StrCat(
        "catalog moved from version ", expected_version, " to ", old->version_,
        " while its items were re-encoded"));
  }
  if (static_cast<int64_t>(embeddings.size()) != old->size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "re-encode produced ", embeddings.size(), " embeddings for ", old->size(), " items"));
  }
  auto next = std::make_shared<CatalogSnapshot>(*old);
  next->version_ = old->version_ + 1;
  for (size_t i = 0; i < embeddings.size(); ++i) {
    if (i == 0) next->text_dim_ = static_cast<int64_t>(embeddings[0].size());
    if (static_cast<int64_t>(embeddings[i].size()) != next->text_dim_) {
      return absl::InvalidArgumentError(absl::StrCat("re-encoded item ", i, " has another width"));
    }
    auto item = std::make_shared<CatalogItem>(*old->items_[i]);
    item->text_embedding = std::move(embeddings[i]);
    next->items_[i] = std::move(item);
  }
  const int64_t version = next->version_;
  rtrec::MutexLock lock(&mu_);
  current_ = std::move(next);
  return version;
}

absl::Status ValidateCatalogItem(const CatalogItem& item,
                                 const std::string& field_prefix,
                                 int64_t max_text_bytes) {
  if (item.item_id.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field_prefix, ".item_id: must not be empty"));
  }
  if (item.item_id.size() > 256) {
    return absl::InvalidArgumentError(absl::StrCat(
        field_prefix, ".item_id: longer than 256 bytes (", item.item_id.size(), ")"));
  }
  if (static_cast<int64_t>(item.title.size() + item.text.size()) > max_text_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        field_prefix, ".text: title + text longer than ", max_text_bytes, " bytes"));
  }
  if (item.title.empty() && item.text.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        field_prefix, ".text: an item needs a title or a text to be encoded"));
  }
  for (size_t t = 0; t < item.tags.size(); ++t) {
    if (item.tags[t].size() > 256) {
      return absl::InvalidArgumentError(
          absl::StrCat(field_prefix, ".tags[", t, "]: longer than 256 bytes"));
    }
  }
  return absl::OkStatus();
}

absl::Status WriteCatalogJsonl(const CatalogSnapshot& catalog, const std::string& path) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  for (int64_t i = 0; i < catalog.size(); ++i) {
    const CatalogItem& item = catalog.item(i);
    google::protobuf::Struct obj;
    auto& f = *obj.mutable_fields();
    f["item_id"].set_string_value(item.item_id);
    f["title"].set_string_value(item.title);
    f["text"].set_string_value(item.text);
    auto* tags = f["tags"].mutable_list_value();
    for (const auto& t : item.tags) tags->add_values()->set_string_value(t);
    std::string line;
    if (!google::protobuf::util::MessageToJsonString(obj, &line, options).ok()) {
      return absl::InternalError(absl::StrCat("cannot encode item ", item.item_id));
    }
    out << line << "\n";
  }
  out.flush();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<CatalogItem>> ReadCatalogJsonl(
    const std::string& path, int64_t max_text_bytes) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open catalog ", path));
  std::vector<CatalogItem> items;
  absl::flat_hash_map<std::string, int64_t> seen;
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::string where = absl::StrCat(path, ":", line_no);
    auto obj = ParseJsonObject(line);
    if (!obj.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": ", obj.status().message()));
    }
    for (const auto& kv : obj->fields()) {
      if (kv.first != "item_id" && kv.first != "title" && kv.first != "text" &&
          kv.first != "tags") {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": ", kv.first, ": unknown field"));
      }
    }
    CatalogItem item;
    auto id = JsonString(*obj, "item_id", where);
    if (!id.ok()) return id.status();
    item.item_id = *id;
    if (obj->fields().count("title")) {
      auto v = JsonString(*obj, "title", where);
      if (!v.ok()) return v.status();
      item.title = *v;
    }
    if (obj->fields().count("text")) {
      auto v = JsonString(*obj, "text", where);
      if (!v.ok()) return v.status();
      item.text = *v;
    }
    if (obj->fields().count("tags")) {
      auto v = JsonStringList(*obj, "tags", where);
      if (!v.ok()) return v.status();
      item.tags = *v;
    }
    if (auto s = ValidateCatalogItem(item, where, max_text_bytes); !s.ok()) return s;
    if (auto [it, fresh] = seen.emplace(item.item_id, line_no); !fresh) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": item_id '", item.item_id, "' repeats line ", it->second));
    }
    items.push_back(std::move(item));
  }
  return items;
}

}  // namespace rtrec::model
