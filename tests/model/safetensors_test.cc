#include "model/safetensors.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rtrec::model {
namespace {

using ::testing::HasSubstr;

std::string Header(const std::string& json, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return out + json + data;
}

std::string Floats(std::initializer_list<float> values) {
  std::string out;
  for (float v : values) {
    char b[4];
    std::memcpy(b, &v, 4);
    out.append(b, 4);
  }
  return out;
}

TEST(SafetensorsTest, RoundTripsAllFloatDtypes) {
  std::vector<TensorToWrite> tensors = {{"b.weight", {2, 3}, {1, -2, 3.5f, 0.25f, 1e-3f, -7}},
                                        {"a.bias", {3}, {0.5f, 0, -0.125f}}};
  for (const char* dtype : {"F32", "F16", "BF16"}) {
    std::string path = ::testing::TempDir() + "/rt_" + dtype + ".safetensors";
    ASSERT_TRUE(WriteSafetensors(path, tensors, dtype).ok());
    auto file = SafetensorsFile::Read(path);
    ASSERT_TRUE(file.ok()) << file.status();
    ASSERT_EQ(file->tensors().size(), 2u);
    const SafetensorsTensor* w = file->Find("b.weight");
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(w->dtype, dtype);
    EXPECT_THAT(w->shape, ::testing::ElementsAre(2, 3));
    auto v = file->ToFloat32(*w);
    const double tol = std::string(dtype) == "F32" ? 0 : (std::string(dtype) == "F16" ? 1e-3 : 1e-2);
    for (int i = 0; i < 6; ++i) {
      EXPECT_NEAR(v[i], tensors[0].values[i], tol * std::max(1.0f, std::fabs(tensors[0].values[i])));
    }
  }
}

TEST(SafetensorsTest, HalfConversionsAreExactOnRepresentableValues) {
  for (float f : {0.0f, 1.0f, -2.5f, 65504.0f, 6.103515625e-05f, 5.960464477539063e-08f}) {
    EXPECT_EQ(HalfToFloat(FloatToHalf(f)), f) << f;
  }
  EXPECT_TRUE(std::isinf(HalfToFloat(FloatToHalf(1e6f))));
  for (float f : {1.0f, -3.0f, 0.15625f, std::ldexp(1.5f, 100)}) EXPECT_EQ(BFloat16ToFloat(FloatToBFloat16(f)), f);
}

struct BadFile {
  std::string bytes;
  const char* message;
};

class SafetensorsErrorTest : public ::testing::TestWithParam<BadFile> {};

TEST_P(SafetensorsErrorTest, RefusedWithClearError) {
  auto file = SafetensorsFile::Parse(GetParam().bytes, "model.safetensors");
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(file.status().message()), HasSubstr("model.safetensors"));
  EXPECT_THAT(std::string(file.status().message()), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Table, SafetensorsErrorTest,
    ::testing::Values(
        BadFile{"abc", "truncated"},
        BadFile{std::string("\xff\xff\xff\xff\x00\x00\x00\x00", 8) + "{}", "header length"},
        BadFile{Header("{not json", ""), "header"},
        BadFile{Header(R"({"w":{"dtype":"Q8","shape":[1],"data_offsets":[0,1]}})", "x"),
                "tensor 'w': unknown dtype Q8"},
        BadFile{Header(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", Floats({1})),
                "tensor 'w': data_offsets end 8 is past the 4 data bytes"},
        BadFile{Header(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", Floats({1, 2})),
                "tensor 'w': holds 8 bytes but shape [3] of F32 needs 12"},
        BadFile{Header(R"({"w":{"dtype":"F32","shape":[1]}})", Floats({1})),
                "tensor 'w': data_offsets: missing"},
        BadFile{Header(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", Floats({1})),
                "bad dimension"},
        BadFile{Header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                       R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                       Floats({1, 2})),
                "overlap"},
        BadFile{Header(R"({"w":"oops"})", ""), "entry must be an object"}));

}  // namespace
}  // namespace rtrec::model
