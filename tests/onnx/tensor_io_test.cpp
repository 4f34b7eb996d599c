// Tensor files: .npy read/write and TensorProto .pb read.
#include "import/tensor_io.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "chexrt/onnx_parser.h"
#include "onnx_proto/onnx.pb.h"

namespace chexrt {
namespace {

namespace fs = std::filesystem;

bool same(const HostTensor& a, const HostTensor& b) {
  return a.dtype() == b.dtype() && a.dims() == b.dims() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

HostTensor pattern(DataType dtype, Dims dims) {
  HostTensor t(dtype, std::move(dims));
  auto* bytes = static_cast<uint8_t*>(t.raw());
  for (size_t i = 0; i < t.nbytes(); ++i) bytes[i] = static_cast<uint8_t>(i * 37 + 11);
  return t;
}

TEST(Npy, RoundTripsEveryTypeAndRank) {
  const DataType types[] = {DataType::kFloat32, DataType::kFloat16, DataType::kInt64, DataType::kUInt8,
                            DataType::kFloat64, DataType::kInt32,   DataType::kInt8};
  const Dims shapes[] = {{}, {5}, {2, 3}, {1, 3, 4, 2}, {0, 3}};
  for (DataType t : types) {
    for (const Dims& dims : shapes) {
      const HostTensor original = pattern(t, dims);
      const std::string bytes = encode_npy(original);
      // Version 1.0, and data aligned to 64 bytes as numpy writes it.
      EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
      EXPECT_EQ((bytes.size() - original.nbytes()) % 64, 0u);
      auto decoded = decode_npy(bytes);
      ASSERT_TRUE(decoded.ok()) << decoded.status().to_string();
      EXPECT_TRUE(same(*decoded, original)) << dtype_name(t) << " " << dims_to_string(dims);
    }
  }
}

TEST(Npy, ReadsWhatNumpyWrites) {
  // np.save(f, np.array([[1.5, -2], [0.25, 8]], dtype=np.float32)) with numpy 1.24.
  std::string file("\x93NUMPY\x01\x00\x76\x00", 10);
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
  header.append(117 - header.size(), ' ');
  file += header + "\n";
  const float values[] = {1.5f, -2.f, 0.25f, 8.f};
  file.append(reinterpret_cast<const char*>(values), sizeof(values));
  auto t = decode_npy(file);
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ(t->dtype(), DataType::kFloat32);
  EXPECT_EQ(t->dims(), (Dims{2, 2}));
  EXPECT_EQ(t->to_doubles(), (std::vector<double>{1.5, -2, 0.25, 8}));
  EXPECT_EQ(encode_npy(*t), file);

  // Old numpy aligned to 16 bytes and wrote bool as '|b1'.
  std::string old("\x93NUMPY\x01\x00\x46\x00", 10);
  std::string old_header = "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }";
  old_header.append(69 - old_header.size(), ' ');
  old += old_header + "\n" + std::string("\x01\x00\x01", 3);
  auto b = decode_npy(old);
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  EXPECT_EQ(b->dtype(), DataType::kBool);
  EXPECT_EQ(b->to_int64s(), (std::vector<int64_t>{1, 0, 1}));
}

std::string npy_with_header(const std::string& dict, size_t data_bytes) {
  std::string header = dict + "\n";
  std::string file("\x93NUMPY\x01\x00", 8);
  file += static_cast<char>(header.size() & 0xff);
  file += static_cast<char>(header.size() >> 8);
  return file + header + std::string(data_bytes, '\0');
}

TEST(Npy, RefusesWhatItCannotRead) {
  struct Case {
    std::string bytes;
    StatusCode code;
    std::string message;
  };
  const Case cases[] = {
      {"PK\x03\x04 not npy at all", StatusCode::kParseError, "bad magic"},
      {npy_with_header("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16), StatusCode::kUnsupported,
       "Fortran order"},
      {npy_with_header("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8), StatusCode::kUnsupported,
       "big-endian"},
      {npy_with_header("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", 16), StatusCode::kUnsupported,
       "'<c8' is not supported"},
      {npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 12), StatusCode::kParseError,
       "data has 12 bytes"},
      {npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", 8), StatusCode::kParseError,
       "bad dimension"},
      {npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 8), }", 8),
       StatusCode::kParseError, "too large"},
  };
  for (const auto& c : cases) {
    auto t = decode_npy(c.bytes);
    ASSERT_FALSE(t.ok()) << c.message;
    EXPECT_EQ(t.status().code(), c.code) << t.status().to_string();
    EXPECT_NE(t.status().message().find(c.message), std::string::npos) << t.status().message();
  }
}

class TensorFiles : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(testing::TempDir()) / "chexrt_tensor_files";
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(TensorFiles, ReadsByExtension) {
  const HostTensor t = pattern(DataType::kFloat32, {2, 5});
  const std::string npy = (dir_ / "t.npy").string();
  ASSERT_TRUE(write_npy(npy, t).ok());
  auto from_npy = read_tensor_file(npy);
  ASSERT_TRUE(from_npy.ok()) << from_npy.status().to_string();
  EXPECT_TRUE(same(*from_npy, t));

  onnx::TensorProto proto;
  proto.set_name("input_0");
  proto.set_data_type(onnx::TensorProto::FLOAT);
  proto.add_dims(2);
  proto.add_dims(5);
  proto.set_raw_data(std::string(static_cast<const char*>(t.raw()), t.nbytes()));
  const std::string pb = (dir_ / "input_0.pb").string();
  std::ofstream(pb, std::ios::binary) << proto.SerializeAsString();
  auto from_pb = read_tensor_file(pb);
  ASSERT_TRUE(from_pb.ok()) << from_pb.status().to_string();
  EXPECT_TRUE(same(*from_pb, t));

  auto unknown = read_tensor_file((dir_ / "t.txt").string());
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  auto absent = read_tensor_file((dir_ / "absent.npy").string());
  ASSERT_FALSE(absent.ok());
  EXPECT_EQ(absent.status().code(), StatusCode::kIoError);
  EXPECT_NE(absent.status().message().find("absent.npy"), std::string::npos);
}

}  // namespace
}  // namespace chexrt
