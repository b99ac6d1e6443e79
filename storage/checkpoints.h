// Model checkpoint files: <storage.path>/checkpoints/checkpoint-v<version>.rtrec.
//
// A checkpoint holds what the learner needs to go on where it stopped (the
// serving weights, the optimizer state, the reward baseline, the learning
// rate and exploration in use, the tuner's rounds) and the sequence number
// of the last experience its weights learned (storage/state_store.h keeps
// the later ones). The body is a CheckpointRecord (state.proto); the torch
// archives inside it are made and read by learner/checkpointing.h.
//
// File layout: "RTRECCKP", then three 8-byte big-endian numbers (format
// version, body length, CRC-32 of the body), then the body. A file is
// written whole to a temporary name, fsynced, renamed into place and the
// directory fsynced, so a crash leaves the old file or the new one, never a
// part. A file that is short, foreign, of another format or whose checksum
// fails is refused with its path named.
//
// Thread safety: one writer at a time; reads from any thread.
#ifndef RTREC_STORAGE_CHECKPOINTS_H_
#define RTREC_STORAGE_CHECKPOINTS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rtrec/storage/v1/state.pb.h"

namespace rtrec::storage {

struct CheckpointFile {
  std::string path;
  int64_t model_version = 0;
  int64_t bytes = 0;
};

class CheckpointDirectory {
 public:
  // `dir` is created on the first Write. Keeps the newest `keep` files.
  CheckpointDirectory(std::string dir, int64_t keep);

  // Writes `record` as checkpoint-v<model_version>.rtrec (replacing one of
  // the same version) and deletes all but the newest `keep`. Returns the path.
  absl::StatusOr<std::string> Write(const v1::CheckpointRecord& record) const;

  // The checkpoint files, newest (highest version) first; not verified.
  std::vector<CheckpointFile> List() const;

  // The newest checkpoint that reads back whole, or nullopt when there is
  // none. Each newer file refused is described in `refused` (path and why).
  std::optional<v1::CheckpointRecord> ReadNewestGood(std::vector<std::string>* refused) const;

  // The checkpoint of `model_version`; NOT_FOUND when there is none.
  absl::StatusOr<v1::CheckpointRecord> ReadVersion(int64_t model_version) const;

  const std::string& dir() const { return dir_; }

 private:
  const std::string dir_;
  const int64_t keep_;
};

// Reads and verifies one checkpoint file (DATA_LOSS naming the path).
absl::StatusOr<v1::CheckpointRecord> ReadCheckpointFile(const std::string& path);
// Writes one checkpoint file atomically (see above).
absl::Status WriteCheckpointFile(const std::string& path, const v1::CheckpointRecord& record);

}  // namespace rtrec::storage

#endif  // RTREC_STORAGE_CHECKPOINTS_H_
