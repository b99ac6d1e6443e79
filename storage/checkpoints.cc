#include "storage/checkpoints.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "storage/state_keys.h"

namespace rtrec::storage {
namespace {

constexpr char kMagic[] = "RTRECCKP";
constexpr size_t kMagicSize = 8;
constexpr size_t kHeaderSize = kMagicSize + 3 * 8;
constexpr uint64_t kFormat = 1;
constexpr char kPrefix[] = "checkpoint-v";
constexpr char kSuffix[] = ".rtrec";

uint64_t Crc32(const std::string& data) {
  uLong crc = crc32(0L, Z_NULL, 0);
  size_t done = 0;
  while (done < data.size()) {
    const size_t n = std::min<size_t>(data.size() - done, 1u << 30);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data() + done), static_cast<uInt>(n));
    done += n;
  }
  return crc;
}

absl::Status Errno(const std::string& what, const std::string& path) {
  return absl::InternalError(absl::StrCat("checkpoint ", path, ": ", what, ": ", std::strerror(errno)));
}

absl::Status FsyncPath(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0) return Errno("open for fsync", path);
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Errno("fsync", path);
  return absl::OkStatus();
}

// The version in a checkpoint file name; -1 for other names.
int64_t VersionOf(const std::string& name) {
  const std::string prefix = kPrefix, suffix = kSuffix;
  if (name.size() <= prefix.size() + suffix.size() || name.rfind(prefix, 0) != 0 ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return -1;
  }
  int64_t v = -1;
  if (!absl::SimpleAtoi(name.substr(prefix.size(), name.size() - prefix.size() - suffix.size()), &v)) {
    return -1;
  }
  return v;
}

}  // namespace

absl::Status WriteCheckpointFile(const std::string& path, const v1::CheckpointRecord& record) {
  std::string body;
  if (!record.SerializeToString(&body)) {
    return absl::InternalError(absl::StrCat("checkpoint ", path, ": cannot serialise"));
  }
  std::string header(kMagic, kMagicSize);
  header += EncodeUint64(kFormat);
  header += EncodeUint64(body.size());
  header += EncodeUint64(Crc32(body));
  const std::filesystem::path final_path(path);
  const std::string tmp =
      (final_path.parent_path() / absl::StrCat(".tmp-", final_path.filename().string())).string();
  {
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return Errno("create", tmp);
    for (const std::string* part : {&header, &body}) {
      size_t done = 0;
      while (done < part->size()) {
        const ssize_t n = ::write(fd, part->data() + done, part->size() - done);
        if (n < 0) {
          if (errno == EINTR) continue;
          ::close(fd);
          return Errno("write", tmp);
        }
        done += static_cast<size_t>(n);
      }
    }
    if (::fsync(fd) != 0) {
      ::close(fd);
      return Errno("fsync", tmp);
    }
    if (::close(fd) != 0) return Errno("close", tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Errno("rename into place", path);
  return FsyncPath(final_path.parent_path().string(), /*directory=*/true);
}

absl::StatusOr<v1::CheckpointRecord> ReadCheckpointFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("checkpoint ", path, ": cannot open"));
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto refuse = [&](const std::string& why) {
    return absl::DataLossError(absl::StrCat("checkpoint ", path, " refused: ", why));
  };
  if (data.size() < kHeaderSize) return refuse(absl::StrCat("only ", data.size(), " bytes"));
  if (data.compare(0, kMagicSize, kMagic) != 0) return refuse("not an rtrec checkpoint (bad magic)");
  const uint64_t format = DecodeUint64(std::string_view(data).substr(kMagicSize, 8));
  const uint64_t length = DecodeUint64(std::string_view(data).substr(kMagicSize + 8, 8));
  const uint64_t crc = DecodeUint64(std::string_view(data).substr(kMagicSize + 16, 8));
  if (format != kFormat) return refuse(absl::StrCat("format ", format, ", this build reads ", kFormat));
  if (length != data.size() - kHeaderSize) {
    return refuse(absl::StrCat("truncated or padded: body of ", data.size() - kHeaderSize,
                               " bytes, header says ", length));
  }
  std::string body = data.substr(kHeaderSize);
  if (Crc32(body) != crc) return refuse("checksum mismatch (the file is damaged)");
  v1::CheckpointRecord record;
  if (!record.ParseFromString(body)) return refuse("body does not parse");
  return record;
}

CheckpointDirectory::CheckpointDirectory(std::string dir, int64_t keep)
    : dir_(std::move(dir)), keep_(std::max<int64_t>(1, keep)) {}

std::vector<CheckpointFile> CheckpointDirectory::List() const {
  std::vector<CheckpointFile> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const int64_t v = VersionOf(entry.path().filename().string());
    if (v < 0 || !entry.is_regular_file(ec)) continue;
    CheckpointFile f;
    f.path = entry.path().string();
    f.model_version = v;
    f.bytes = static_cast<int64_t>(entry.file_size(ec));
    out.push_back(std::move(f));
  }
  std::sort(out.begin(), out.end(), [](const CheckpointFile& a, const CheckpointFile& b) {
    return a.model_version > b.model_version;
  });
  return out;
}

absl::StatusOr<std::string> CheckpointDirectory::Write(const v1::CheckpointRecord& record) const {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return absl::InternalError(absl::StrCat("checkpoint directory ", dir_, ": ", ec.message()));
  const std::string path =
      (std::filesystem::path(dir_) / absl::StrFormat("%s%012d%s", kPrefix, record.model_version(), kSuffix))
          .string();
  if (auto s = WriteCheckpointFile(path, record); !s.ok()) return s;
  std::vector<CheckpointFile> files = List();
  for (size_t i = static_cast<size_t>(keep_); i < files.size(); ++i) {
    std::filesystem::remove(files[i].path, ec);
  }
  return path;
}

std::optional<v1::CheckpointRecord> CheckpointDirectory::ReadNewestGood(
    std::vector<std::string>* refused) const {
  for (const CheckpointFile& f : List()) {
    auto record = ReadCheckpointFile(f.path);
    if (record.ok()) return std::move(*record);
    if (refused) refused->push_back(std::string(record.status().message()));
  }
  return std::nullopt;
}

absl::StatusOr<v1::CheckpointRecord> CheckpointDirectory::ReadVersion(int64_t model_version) const {
  for (const CheckpointFile& f : List()) {
    if (f.model_version == model_version) return ReadCheckpointFile(f.path);
  }
  return absl::NotFoundError(absl::StrCat("no checkpoint of model version ", model_version, " in ", dir_));
}

}  // namespace rtrec::storage
