// The embedded store behind rtrec's durable state: feedback, open
// impressions, unlearned experiences, user histories and tastes, and the
// catalog (keys in storage/state_keys.h, records in
// proto/rtrec/storage/v1/state.proto). Model checkpoints are files beside it
// (storage/checkpoints.h).
//
// The interface is a small ordered key-value store with atomic batches, so
// that a distributed backend can replace the embedded one without touching
// serving or learning. OpenStateStore opens RocksDB under storage.path.
//
// Durability (storage.sync): Write() returns once the batch is in the
// write-ahead log, i.e. handed to the operating system: a process killed
// after it returns loses nothing. Commit() is the acknowledgement point:
// under "per_write" it fsyncs the log (concurrent callers share an fsync);
// under "group_commit" it returns at once and a background thread fsyncs
// every storage.group_commit_ms, so a power failure loses at most that
// window.
//
// Thread safety: every method may be called from any thread.
#ifndef RTREC_STORAGE_STATE_STORE_H_
#define RTREC_STORAGE_STATE_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "config/options.h"

namespace rtrec::storage {

// Puts and deletes applied together or not at all.
class WriteBatch {
 public:
  void Put(std::string key, std::string value) {
    ops_.push_back({Op::kPut, std::move(key), std::move(value)});
  }
  void Delete(std::string key) { ops_.push_back({Op::kDelete, std::move(key), {}}); }
  // Deletes every key in [begin, end).
  void DeleteRange(std::string begin, std::string end) {
    ops_.push_back({Op::kDeleteRange, std::move(begin), std::move(end)});
  }
  bool empty() const { return ops_.empty(); }
  size_t size() const { return ops_.size(); }

  enum class Op { kPut, kDelete, kDeleteRange };
  struct Entry {
    Op op;
    std::string key;
    std::string value;  // the value of a put; the end of a range
  };
  const std::vector<Entry>& ops() const { return ops_; }

 private:
  std::vector<Entry> ops_;
};

struct StateStoreStats {
  int64_t writes = 0;
  int64_t syncs = 0;
};

class StateStore {
 public:
  virtual ~StateStore() = default;

  // Applies `batch` atomically; in the write-ahead log when it returns.
  virtual absl::Status Write(const WriteBatch& batch) = 0;
  // The acknowledgement point (see above).
  virtual absl::Status Commit() = 0;
  // Fsyncs the write-ahead log now.
  virtual absl::Status Sync() = 0;
  // The value of `key`; nullopt when absent.
  virtual absl::StatusOr<std::optional<std::string>> Get(const std::string& key) const = 0;
  // Calls `visit` for every key starting with `prefix`, in key order, until
  // it returns false.
  virtual absl::Status Scan(
      const std::string& prefix,
      const std::function<bool(std::string_view key, std::string_view value)>& visit) const = 0;

  virtual StateStoreStats stats() const = 0;
  // Where the store lives, for messages.
  virtual const std::string& path() const = 0;
};

// Opens (or creates) the RocksDB store in `<options.path>/store`. Refuses a
// directory that is not a RocksDB store or is damaged, naming it.
absl::StatusOr<std::unique_ptr<StateStore>> OpenStateStore(const config::StorageOptions& options);

}  // namespace rtrec::storage

#endif  // RTREC_STORAGE_STATE_STORE_H_
