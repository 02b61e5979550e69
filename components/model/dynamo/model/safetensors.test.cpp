#include "dynamo/model/safetensors.hpp"

#include "dynamo/error.hpp"
#include "dynamo/testing/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

namespace dynamo::model {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::temp_dir;

std::vector<std::byte> raw(std::initializer_list<uint16_t> halves) {
  std::vector<std::byte> out(halves.size() * 2);
  size_t i = 0;
  for (auto h : halves) {
    std::memcpy(out.data() + i, &h, 2);
    i += 2;
  }
  return out;
}

std::vector<float> convert(dtype type, const std::vector<std::byte>& bytes) {
  std::vector<float> out(bytes.size() / element_size(type));
  EXPECT_FALSE(to_f32(type, bytes, out));
  return out;
}

uint16_t to_half_bits(float x, dtype type) {
  auto bytes = from_f32(std::span{&x, 1}, type);
  uint16_t h = 0;
  std::memcpy(&h, bytes.data(), 2);
  return h;
}

/// Writes a file made of an explicit header length, header text and `data_bytes` zero bytes.
void write_raw(const std::filesystem::path& path, uint64_t header_len, const std::string& header,
               size_t data_bytes) {
  std::ofstream out{path, std::ios::binary};
  out.write(reinterpret_cast<const char*>(&header_len), 8);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  std::string zeros(data_bytes, '\0');
  out.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
}

void write_raw(const std::filesystem::path& path, const std::string& header, size_t data_bytes) {
  write_raw(path, header.size(), header, data_bytes);
}

std::string open_error(const std::filesystem::path& path) {
  auto file = safetensors_file::open(path);
  EXPECT_FALSE(file) << "expected " << path << " to be rejected";
  if (file)
    return {};
  EXPECT_EQ(classify(file.error()), errc::invalid_request);
  return client_message(file.error());
}

TEST(safetensors, round_trips_every_dtype_with_metadata) {
  temp_dir dir{"roundtrip"};
  const std::vector<float> values{1.0f, -2.5f, 0.0f, 1024.0f, -0.125f, 3.0f};
  std::vector<tensor_data> tensors{
    {"b.f16", dtype::f16, {2, 3}, from_f32(values, dtype::f16)},
    {"a.f32", dtype::f32, {3, 2}, from_f32(values, dtype::f32)},
    {"c.bf16", dtype::bf16, {6}, from_f32(values, dtype::bf16)},
    {"d.empty", dtype::f32, {0, 4}, {}},
    {"e.scalar", dtype::f32, {}, from_f32(std::span{values}.first(1), dtype::f32)},
  };
  ASSERT_FALSE(write_safetensors(dir / "m.safetensors", tensors, {{"format", "pt"}}));
  auto file = safetensors_file::open(dir / "m.safetensors");
  ASSERT_TRUE(file) << describe(file.error());
  EXPECT_EQ((*file)->metadata(), (std::map<std::string, std::string>{{"format", "pt"}}));
  ASSERT_EQ((*file)->tensors().size(), 5u);
  for (const auto& t : tensors) {
    const tensor_view* view = (*file)->find(t.name);
    ASSERT_NE(view, nullptr) << t.name;
    EXPECT_EQ(view->type, t.type);
    EXPECT_EQ(view->shape, t.shape);
    ASSERT_EQ(view->data.size(), t.bytes.size());
    EXPECT_TRUE(std::equal(view->data.begin(), view->data.end(), t.bytes.begin())) << t.name;
    std::vector<float> out(view->elements());
    ASSERT_FALSE(to_f32(*view, out));
    if (t.name != "d.empty") {
      EXPECT_EQ(out, std::vector<float>(values.begin(), values.begin() + out.size())) << t.name;
    }
  }
  EXPECT_EQ((*file)->find("e.scalar")->elements(), 1u);
  EXPECT_EQ((*file)->find("missing"), nullptr);
  // Data starts 8-aligned: the header is padded with spaces.
  std::ifstream in{dir / "m.safetensors", std::ios::binary};
  uint64_t header_len = 0;
  in.read(reinterpret_cast<char*>(&header_len), 8);
  EXPECT_EQ(header_len % 8, 0u);
}

TEST(safetensors, f16_special_values_convert_exactly) {
  auto out = convert(dtype::f16, raw({0x0000, 0x8000, 0x3c00, 0xc000, 0x7bff, 0x0400, 0x0001,
                                      0x03ff, 0x7c00, 0xfc00}));
  EXPECT_THAT(out, ElementsAre(0.0f, -0.0f, 1.0f, -2.0f, 65504.0f, 0x1p-14f, 0x1p-24f,
                               1023 * 0x1p-24f, std::numeric_limits<float>::infinity(),
                               -std::numeric_limits<float>::infinity()));
  EXPECT_TRUE(std::signbit(out[1]));
  auto nan = convert(dtype::f16, raw({0x7e00, 0xfe01}));
  EXPECT_TRUE(std::isnan(nan[0]));
  EXPECT_TRUE(std::isnan(nan[1]));
}

TEST(safetensors, every_f16_and_bf16_bit_pattern_survives_a_round_trip) {
  for (dtype type : {dtype::f16, dtype::bf16}) {
    std::vector<std::byte> all(65536 * 2);
    for (uint32_t i = 0; i < 65536; ++i) {
      const auto h = static_cast<uint16_t>(i);
      std::memcpy(all.data() + 2 * i, &h, 2);
    }
    auto floats = convert(type, all);
    auto back = from_f32(floats, type);
    for (uint32_t i = 0; i < 65536; ++i) {
      uint16_t got = 0;
      std::memcpy(&got, back.data() + 2 * i, 2);
      if (std::isnan(floats[i]))
        EXPECT_TRUE(std::isnan(convert(type, raw({got}))[0])) << to_string(type) << " " << i;
      else
        ASSERT_EQ(got, i) << to_string(type) << " value " << floats[i];
    }
  }
}

TEST(safetensors, f32_to_f16_rounds_to_nearest_even) {
  EXPECT_EQ(to_half_bits(65519.0f, dtype::f16), 0x7bff);
  EXPECT_EQ(to_half_bits(65520.0f, dtype::f16), 0x7c00);  // ties to the even infinity
  EXPECT_EQ(to_half_bits(1e10f, dtype::f16), 0x7c00);
  EXPECT_EQ(to_half_bits(-1e10f, dtype::f16), 0xfc00);
  EXPECT_EQ(to_half_bits(1.0f + 0x1p-11f, dtype::f16), 0x3c00);      // tie -> even
  EXPECT_EQ(to_half_bits(1.0f + 3 * 0x1p-11f, dtype::f16), 0x3c02);  // tie -> even (up)
  EXPECT_EQ(to_half_bits(0x1p-25f, dtype::f16), 0x0000);             // tie -> even zero
  EXPECT_EQ(to_half_bits(0x1.000002p-25f, dtype::f16), 0x0001);
  EXPECT_EQ(to_half_bits(3 * 0x1p-25f, dtype::f16), 0x0002);
  EXPECT_EQ(to_half_bits(0x1p-30f, dtype::f16), 0x0000);
  EXPECT_EQ(to_half_bits(-0x1p-30f, dtype::f16), 0x8000);
  EXPECT_EQ(to_half_bits(0x1.ff8p-15f, dtype::f16), 0x03ff);  // largest subnormal
  EXPECT_EQ(to_half_bits(0x1.ffbp-15f, dtype::f16), 0x03ff);
  EXPECT_EQ(to_half_bits(0x1.ffcp-15f, dtype::f16), 0x0400);  // tie rounds up into the normals
  EXPECT_EQ(to_half_bits(std::numeric_limits<float>::infinity(), dtype::f16), 0x7c00);
  EXPECT_EQ(to_half_bits(std::numeric_limits<float>::quiet_NaN(), dtype::f16) & 0x7e00, 0x7e00);
  EXPECT_EQ(to_half_bits(1.0f + 0x1p-8f, dtype::bf16), 0x3f80);
  EXPECT_EQ(to_half_bits(1.0f + 3 * 0x1p-8f, dtype::bf16), 0x3f82);
  EXPECT_EQ(to_half_bits(std::numeric_limits<float>::max(), dtype::bf16), 0x7f80);
  EXPECT_EQ(to_half_bits(std::numeric_limits<float>::quiet_NaN(), dtype::bf16) & 0x7fc0, 0x7fc0);
}

TEST(safetensors, to_f32_checks_the_output_size) {
  auto bytes = raw({0x3c00, 0x3c00});
  std::vector<float> out(3);
  auto err = to_f32(dtype::f16, bytes, out);
  EXPECT_EQ(classify(err), errc::invalid_request);
  tensor_view view{"t", dtype::f16, {2}, bytes};
  EXPECT_THAT(client_message(to_f32(view, out)), HasSubstr("'t' has 2 elements"));
}

TEST(safetensors, rejects_a_file_whose_data_is_truncated) {
  temp_dir dir{"truncated"};
  write_raw(dir / "t.safetensors",
            R"({"x":{"dtype":"F32","shape":[1024],"data_offsets":[0,4096]}})", 1000);
  EXPECT_THAT(open_error(dir / "t.safetensors"),
              HasSubstr("truncated: header says 4096 bytes of data, file has 1000"));
}

TEST(safetensors, rejects_a_header_length_beyond_the_file) {
  temp_dir dir{"hlen"};
  write_raw(dir / "t.safetensors", 1 << 20, "{}", 0);
  EXPECT_THAT(open_error(dir / "t.safetensors"),
              HasSubstr("header length 1048576 exceeds the file size 10"));
  std::ofstream{dir / "short.safetensors"} << "abc";
  EXPECT_THAT(open_error(dir / "short.safetensors"), HasSubstr("too small"));
  EXPECT_THAT(open_error(dir / "absent.safetensors"), HasSubstr("cannot open"));
  EXPECT_THAT(open_error(dir.path()), HasSubstr("not a regular file"));
}

TEST(safetensors, rejects_garbage_json_and_non_objects) {
  temp_dir dir{"garbage"};
  write_raw(dir / "a.safetensors", "{\"x\": [1, 2,", 0);
  EXPECT_THAT(open_error(dir / "a.safetensors"), HasSubstr("header is not valid JSON"));
  write_raw(dir / "b.safetensors", "[1, 2]", 0);
  EXPECT_THAT(open_error(dir / "b.safetensors"), HasSubstr("not a JSON object"));
  write_raw(dir / "c.safetensors", R"({"x": 3})", 0);
  EXPECT_THAT(open_error(dir / "c.safetensors"), HasSubstr("tensor 'x': entry is not"));
  write_raw(dir / "d.safetensors", R"({"__metadata__": {"k": 1}})", 0);
  EXPECT_THAT(open_error(dir / "d.safetensors"), HasSubstr("value of 'k' is not a string"));
  write_raw(dir / "e.safetensors", R"({"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})",
            0);
  EXPECT_THAT(open_error(dir / "e.safetensors"), HasSubstr("non-negative"));
}

TEST(safetensors, rejects_unsupported_dtypes_by_name) {
  temp_dir dir{"dtype"};
  write_raw(dir / "t.safetensors", R"({"x":{"dtype":"I8","shape":[4],"data_offsets":[0,4]}})",
            4);
  EXPECT_THAT(open_error(dir / "t.safetensors"),
              HasSubstr("unsupported dtype I8 for tensor x; supported: F32, F16, BF16"));
}

TEST(safetensors, rejects_shapes_that_disagree_with_offsets) {
  temp_dir dir{"shape"};
  write_raw(dir / "t.safetensors",
            R"({"x":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,16]}})", 16);
  EXPECT_THAT(open_error(dir / "t.safetensors"),
              HasSubstr("shape [2, 3] of BF16 needs 12 bytes but data_offsets [0, 16] span 16"));
  write_raw(dir / "u.safetensors", R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})",
            8);
  EXPECT_THAT(open_error(dir / "u.safetensors"), HasSubstr("end before they begin"));
}

TEST(safetensors, rejects_overlapping_tensors) {
  temp_dir dir{"overlap"};
  write_raw(dir / "t.safetensors",
            R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
            R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
            16);
  EXPECT_THAT(open_error(dir / "t.safetensors"),
              HasSubstr("tensors 'a' [0, 16] and 'b' [8, 16] overlap"));
}

TEST(safetensors, writer_rejects_inconsistent_tensors_and_leaves_no_file) {
  temp_dir dir{"writer"};
  std::vector<tensor_data> wrong_size{{"x", dtype::f16, {3}, raw({1, 2})}};
  auto err = write_safetensors(dir / "w.safetensors", wrong_size);
  EXPECT_EQ(classify(err), errc::invalid_request);
  EXPECT_THAT(client_message(err), HasSubstr("needs 6 bytes, got 4"));
  std::vector<tensor_data> duplicate{{"x", dtype::f16, {1}, raw({1})},
                                     {"x", dtype::f16, {1}, raw({2})}};
  EXPECT_THAT(client_message(write_safetensors(dir / "w.safetensors", duplicate)),
              HasSubstr("duplicate tensor name 'x'"));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
  auto io = write_safetensors(dir / "no" / "such" / "dir.safetensors", {});
  EXPECT_THAT(client_message(io), HasSubstr("cannot create"));
}

} // namespace
} // namespace dynamo::model
