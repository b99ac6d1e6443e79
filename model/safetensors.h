// Reading and writing the safetensors format: 8 bytes little-endian header
// length, a JSON header {name: {dtype, shape, data_offsets}}, then the raw
// little-endian tensor bytes. Every dtype of the format parses; F32, F16 and
// BF16 convert to float (IsFloatDtype).
//
// Every malformed input is refused with an error that names the file and,
// where there is one, the tensor: short file, header past the end, bad JSON,
// unknown dtype, byte size that does not match the shape, offsets outside the
// data or overlapping.
//
// Thread safety: a SafetensorsFile is immutable after Parse.
#ifndef RTREC_MODEL_SAFETENSORS_H_
#define RTREC_MODEL_SAFETENSORS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace rtrec::model {

struct SafetensorsTensor {
  std::string name;
  std::string dtype;  // "F32", "F16", "BF16", "I64", ...
  std::vector<int64_t> shape;
  size_t offset = 0;  // into the data section
  size_t nbytes = 0;
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

class SafetensorsFile {
 public:
  static absl::StatusOr<SafetensorsFile> Read(const std::string& path);
  // `what` names the source in errors.
  static absl::StatusOr<SafetensorsFile> Parse(std::string bytes, const std::string& what);

  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
  const SafetensorsTensor* Find(const std::string& name) const;
  // The tensor's values converted to float32, row-major.
  // REQUIRES: IsFloatDtype(t.dtype).
  std::vector<float> ToFloat32(const SafetensorsTensor& t) const;

 private:
  std::string bytes_;
  size_t data_start_ = 0;
  std::vector<SafetensorsTensor> tensors_;
};

// True for the dtypes ToFloat32 converts: F32, F16, BF16.
bool IsFloatDtype(const std::string& dtype);

struct TensorToWrite {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;  // converted to `dtype` on write
};

// Writes tensors in `dtype` ("F32", "F16" or "BF16"), names sorted.
absl::Status WriteSafetensors(const std::string& path,
                              const std::vector<TensorToWrite>& tensors,
                              const std::string& dtype);

// IEEE half and bfloat16 conversions (round to nearest even on the way down).
float HalfToFloat(uint16_t h);
uint16_t FloatToHalf(float f);
float BFloat16ToFloat(uint16_t b);
uint16_t FloatToBFloat16(float f);

}  // namespace rtrec::model

#endif  // RTREC_MODEL_SAFETENSORS_H_
