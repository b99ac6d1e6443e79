#include "storage/state_store.h"

#include <atomic>
#include <filesystem>
#include <thread>

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include "common/logging.h"
#include "absl/strings/str_cat.h"
#include "common/mutex.h"

namespace rtrec::storage {
namespace {

absl::Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("storage: ", what, ": ", s.ToString()));
}

class RocksDbStore final : public StateStore {
 public:
  RocksDbStore(std::unique_ptr<rocksdb::DB> db, std::string path, const config::StorageOptions& options)
      : db_(std::move(db)), path_(std::move(path)), per_write_(options.sync == "per_write") {
    if (!per_write_) {
      const absl::Duration interval = absl::Milliseconds(options.group_commit_ms);
      syncer_ = std::thread([this, interval] {
        while (!stop_.WaitForNotificationWithTimeout(interval)) {
          if (unsynced_.exchange(false)) SyncLogged();
        }
      });
    }
  }

  ~RocksDbStore() override {
    stop_.Notify();
    if (syncer_.joinable()) syncer_.join();
    SyncLogged();
    db_->Close().PermitUncheckedError();
  }

  absl::Status Write(const WriteBatch& batch) override {
    if (batch.empty()) return absl::OkStatus();
    rocksdb::WriteBatch wb;
    for (const auto& e : batch.ops()) {
      switch (e.op) {
        case WriteBatch::Op::kPut:
          wb.Put(e.key, e.value);
          break;
        case WriteBatch::Op::kDelete:
          wb.Delete(e.key);
          break;
        case WriteBatch::Op::kDeleteRange:
          wb.DeleteRange(e.key, e.value);
          break;
      }
    }
    rocksdb::WriteOptions options;
    options.sync = false;  // in the log (the OS's cache); fsynced by Commit or the syncer
    auto s = db_->Write(options, &wb);
    writes_.fetch_add(1, std::memory_order_relaxed);
    unsynced_.store(true, std::memory_order_relaxed);
    return FromRocks(s, absl::StrCat("write to ", path_));
  }

  absl::Status Commit() override { return per_write_ ? Sync() : absl::OkStatus(); }

  absl::Status Sync() override {
    syncs_.fetch_add(1, std::memory_order_relaxed);
    return FromRocks(db_->SyncWAL(), absl::StrCat("fsync of the log in ", path_));
  }

  absl::StatusOr<std::optional<std::string>> Get(const std::string& key) const override {
    std::string value;
    auto s = db_->Get(rocksdb::ReadOptions(), key, &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return FromRocks(s, absl::StrCat("read from ", path_));
    return std::optional<std::string>(std::move(value));
  }

  absl::Status Scan(const std::string& prefix,
                    const std::function<bool(std::string_view, std::string_view)>& visit)
      const override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      if (!visit(std::string_view(it->key().data(), it->key().size()),
                 std::string_view(it->value().data(), it->value().size()))) {
        break;
      }
    }
    return FromRocks(it->status(), absl::StrCat("scan of ", path_));
  }

  StateStoreStats stats() const override {
    return {writes_.load(std::memory_order_relaxed), syncs_.load(std::memory_order_relaxed)};
  }
  const std::string& path() const override { return path_; }

 private:
  void SyncLogged() {
    if (auto s = Sync(); !s.ok()) logging::Error("storage", s.message());
  }

  std::unique_ptr<rocksdb::DB> db_;
  const std::string path_;
  const bool per_write_;
  std::atomic<int64_t> writes_{0};
  std::atomic<int64_t> syncs_{0};
  std::atomic<bool> unsynced_{false};
  rtrec::Notification stop_;
  std::thread syncer_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<StateStore>> OpenStateStore(const config::StorageOptions& options) {
  if (options.path.empty()) {
    return absl::InvalidArgumentError("storage.path: empty (no store is opened without one)");
  }
  const std::string path = (std::filesystem::path(options.path) / "store").string();
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("storage.path: cannot create ", path, ": ", ec.message()));
  }
  rocksdb::Options o;
  o.create_if_missing = true;
  o.paranoid_checks = true;
  // Write-ahead log records are checksummed; a damaged tail (a torn write at
  // a crash) is dropped, damage before it is refused.
  o.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  o.IncreaseParallelism(2);
  o.OptimizeLevelStyleCompaction(64 << 20);
  rocksdb::DB* raw = nullptr;
  auto s = rocksdb::DB::Open(o, path, &raw);
  if (!s.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("storage.path: cannot open the store in ", path, ": ", s.ToString()));
  }
  return std::unique_ptr<StateStore>(
      new RocksDbStore(std::unique_ptr<rocksdb::DB>(raw), path, options));
}

}  // namespace rtrec::storage
