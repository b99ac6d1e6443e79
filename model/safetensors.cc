#include "model/safetensors.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/json.h"

namespace rtrec::model {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100u << 20;

// Bytes per element of every safetensors dtype; 0 for an unknown one.
int DtypeSize(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "I8" || dtype == "U8" || dtype == "BOOL" || dtype == "F8_E4M3" ||
      dtype == "F8_E5M2") return 1;
  return 0;
}

uint32_t FloatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float BitsFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace

bool IsFloatDtype(const std::string& dtype) {
  return dtype == "F32" || dtype == "F16" || dtype == "BF16";
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1F;
  uint32_t mant = h & 0x3FF;
  if (exp == 0) {
    if (mant == 0) return BitsFloat(sign);
    // subnormal: normalise
    int e = -1;
    do { ++e; mant <<= 1; } while ((mant & 0x400) == 0);
    mant &= 0x3FF;
    return BitsFloat(sign | ((112 - e) << 23) | (mant << 13));
  }
  if (exp == 31) return BitsFloat(sign | 0x7F800000u | (mant << 13));
  return BitsFloat(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t FloatToHalf(float f) {
  const uint32_t x = FloatBits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  const uint32_t absx = x & 0x7FFFFFFF;
  if (absx >= 0x7F800000) return sign | (absx > 0x7F800000 ? 0x7E00 : 0x7C00);
  if (absx >= 0x477FF000) return sign | 0x7C00;  // overflow to inf
  if (absx < 0x38800000) {                       // subnormal or zero
    const float v = BitsFloat(absx) * 16777216.0f;  // scale by 2^24
    return sign | static_cast<uint16_t>(std::nearbyint(v));
  }
  uint32_t mant = absx & 0x7FFFFF;
  uint32_t exp = (absx >> 23) - 112;
  uint32_t half = (exp << 10) | (mant >> 13);
  const uint32_t rest = mant & 0x1FFF;
  if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) ++half;
  return sign | static_cast<uint16_t>(half);
}

float BFloat16ToFloat(uint16_t b) { return BitsFloat(static_cast<uint32_t>(b) << 16); }

uint16_t FloatToBFloat16(float f) {
  uint32_t x = FloatBits(f);
  if ((x & 0x7FFFFFFF) > 0x7F800000) return static_cast<uint16_t>((x >> 16) | 0x40);
  x += 0x7FFF + ((x >> 16) & 1);
  return static_cast<uint16_t>(x >> 16);
}

absl::StatusOr<SafetensorsFile> SafetensorsFile::Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return Parse(ss.str(), path);
}

absl::StatusOr<SafetensorsFile> SafetensorsFile::Parse(std::string bytes,
                                                       const std::string& what) {
  auto fail = [&](const std::string& msg) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", msg));
  };
  if (bytes.size() < 8) {
    return fail(absl::StrCat("truncated: ", bytes.size(), " bytes, the header length alone needs 8"));
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<unsigned char>(bytes[i]);
  if (header_len > kMaxHeaderBytes || header_len > bytes.size() - 8) {
    return fail(absl::StrCat("truncated or corrupt: header length ", header_len,
                             " exceeds the ", bytes.size() - 8, " bytes after it"));
  }
  auto header = ParseJsonObject(absl::string_view(bytes.data() + 8, header_len));
  if (!header.ok()) return fail(absl::StrCat("header: ", header.status().message()));
  SafetensorsFile file;
  file.data_start_ = 8 + header_len;
  const size_t data_size = bytes.size() - file.data_start_;
  std::map<std::string, const google::protobuf::Value*> sorted(
      {});  // deterministic order
  for (const auto& kv : header->fields()) sorted.emplace(kv.first, &kv.second);
  for (const auto& [name, value] : sorted) {
    if (name == "__metadata__") continue;
    const std::string ctx = absl::StrCat("tensor '", name, "'");
    if (!value->has_struct_value()) return fail(absl::StrCat(ctx, ": entry must be an object"));
    const auto& entry = value->struct_value();
    SafetensorsTensor t;
    t.name = name;
    auto dtype = JsonString(entry, "dtype", ctx);
    if (!dtype.ok()) return fail(std::string(dtype.status().message()));
    t.dtype = *dtype;
    const int esize = DtypeSize(t.dtype);
    if (esize == 0) {
      return fail(absl::StrCat(ctx, ": unknown dtype ", t.dtype));
    }
    auto shape = JsonIntList(entry, "shape", ctx);
    if (!shape.ok()) return fail(std::string(shape.status().message()));
    t.shape = *shape;
    uint64_t numel = 1;
    for (int64_t d : t.shape) {
      if (d < 0 || d > (int64_t{1} << 40)) return fail(absl::StrCat(ctx, ": bad dimension ", d));
      numel *= static_cast<uint64_t>(d);
      if (numel > (uint64_t{1} << 40)) return fail(absl::StrCat(ctx, ": too many elements"));
    }
    auto offsets = JsonIntList(entry, "data_offsets", ctx);
    if (!offsets.ok()) return fail(std::string(offsets.status().message()));
    if (offsets->size() != 2 || (*offsets)[0] < 0 || (*offsets)[1] < (*offsets)[0]) {
      return fail(absl::StrCat(ctx, ": data_offsets must be [begin, end] with begin <= end"));
    }
    const uint64_t begin = (*offsets)[0], end = (*offsets)[1];
    if (end > data_size) {
      return fail(absl::StrCat(ctx, ": data_offsets end ", end, " is past the ", data_size,
                               " data bytes (file truncated?)"));
    }
    if (end - begin != numel * esize) {
      return fail(absl::StrCat(ctx, ": holds ", end - begin, " bytes but shape [",
                               absl::StrJoin(t.shape, ","), "] of ", t.dtype, " needs ",
                               numel * esize));
    }
    t.offset = begin;
    t.nbytes = end - begin;
    file.tensors_.push_back(std::move(t));
  }
  std::vector<const SafetensorsTensor*> by_offset;
  for (const auto& t : file.tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](auto* a, auto* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const auto* prev = by_offset[i - 1];
    if (by_offset[i]->nbytes > 0 && prev->offset + prev->nbytes > by_offset[i]->offset) {
      return fail(absl::StrCat("tensors '", prev->name, "' and '", by_offset[i]->name,
                               "' overlap"));
    }
  }
  file.bytes_ = std::move(bytes);
  return file;
}

const SafetensorsTensor* SafetensorsFile::Find(const std::string& name) const {
  for (const auto& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::vector<float> SafetensorsFile::ToFloat32(const SafetensorsTensor& t) const {
  const unsigned char* p =
      reinterpret_cast<const unsigned char*>(bytes_.data() + data_start_ + t.offset);
  const int64_t n = t.numel();
  std::vector<float> out(n);
  if (t.dtype == "F32") {
    for (int64_t i = 0; i < n; ++i) {
      uint32_t u = uint32_t{p[4 * i]} | uint32_t{p[4 * i + 1]} << 8 |
                   uint32_t{p[4 * i + 2]} << 16 | uint32_t{p[4 * i + 3]} << 24;
      out[i] = BitsFloat(u);
    }
  } else {
    const bool half = t.dtype == "F16";
    for (int64_t i = 0; i < n; ++i) {
      uint16_t u = static_cast<uint16_t>(p[2 * i] | (p[2 * i + 1] << 8));
      out[i] = half ? HalfToFloat(u) : BFloat16ToFloat(u);
    }
  }
  return out;
}

absl::Status WriteSafetensors(const std::string& path,
                              const std::vector<TensorToWrite>& tensors,
                              const std::string& dtype) {
  const int esize = DtypeSize(dtype);
  if (!IsFloatDtype(dtype)) return absl::InvalidArgumentError(absl::StrCat("unsupported dtype ", dtype));
  std::vector<const TensorToWrite*> sorted;
  for (const auto& t : tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->name < b->name; });
  std::string header = "{";
  std::string data;
  for (const auto* t : sorted) {
    const size_t begin = data.size();
    for (float v : t->values) {
      if (esize == 4) {
        uint32_t u = FloatBits(v);
        for (int b = 0; b < 4; ++b) data.push_back(static_cast<char>((u >> (8 * b)) & 0xFF));
      } else {
        uint16_t u = dtype == "F16" ? FloatToHalf(v) : FloatToBFloat16(v);
        data.push_back(static_cast<char>(u & 0xFF));
        data.push_back(static_cast<char>(u >> 8));
      }
    }
    if (header.size() > 1) header += ",";
    absl::StrAppend(&header, "\"", t->name, "\":{\"dtype\":\"", dtype, "\",\"shape\":[",
                    absl::StrJoin(t->shape, ","), "],\"data_offsets\":[", begin, ",",
                    data.size(), "]}");
  }
  header += "}";
  while ((8 + header.size()) % 8 != 0) header += " ";
  std::ofstream out(path, std::ios::binary);
  if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", path));
  uint64_t len = header.size();
  for (int b = 0; b < 8; ++b) out.put(static_cast<char>((len >> (8 * b)) & 0xFF));
  out << header << data;
  if (!out) return absl::DataLossError(absl::StrCat("short write to ", path));
  return absl::OkStatus();
}

}  // namespace rtrec::model
