// The .npy format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
//   "\x93NUMPY" | major | minor | header length (uint16 LE in 1.x, uint32 LE in 2.x/3.x)
//   | header: a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
//     padded with spaces and ended by '\n' so that the data starts 64-byte aligned | raw data.
#include "import/tensor_io.h"

#include <cctype>
#include <cstring>
#include <fstream>
#include <sstream>

#include "chexrt/onnx_parser.h"

namespace chexrt {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
constexpr size_t kAlignment = 64;

// NumPy's type string (without the byte-order character) for each chexrt type.
const char* npy_type(DataType t) {
  switch (t) {
    case DataType::kFloat32:
      return "f4";
    case DataType::kFloat16:
      return "f2";
    case DataType::kFloat64:
      return "f8";
    case DataType::kInt64:
      return "i8";
    case DataType::kInt32:
      return "i4";
    case DataType::kInt8:
      return "i1";
    case DataType::kUInt8:
      return "u1";
    case DataType::kBool:
      return "b1";
  }
  return "";
}

Result<DataType> parse_descr(const std::string& descr) {
  if (descr.size() != 3) return unsupported("npy dtype '" + descr + "' is not supported");
  const char order = descr[0];
  const std::string type = descr.substr(1);
  static constexpr DataType kTypes[] = {DataType::kFloat32, DataType::kFloat16, DataType::kFloat64, DataType::kInt64,
                                        DataType::kInt32,   DataType::kInt8,    DataType::kUInt8,   DataType::kBool};
  for (DataType t : kTypes) {
    if (type != npy_type(t)) continue;
    // '<' little-endian, '|' not applicable (one byte), '=' native (little-endian here).
    if (order == '<' || order == '=' || (order == '|' && dtype_size(t) == 1)) return t;
    if (order == '>') return unsupported("npy dtype '" + descr + "' is big-endian; only little-endian is supported");
  }
  return unsupported("npy dtype '" + descr + "' is not supported (float32/16/64, int64/32/8, uint8, bool)");
}

// Finds `'key':` in the header dict and returns the position just after the colon.
Result<size_t> find_key(const std::string& header, const std::string& key) {
  const size_t at = header.find("'" + key + "'");
  if (at == std::string::npos) return parse_error("npy header has no '" + key + "'");
  const size_t colon = header.find(':', at);
  if (colon == std::string::npos) return parse_error("npy header: no value for '" + key + "'");
  return colon + 1;
}

size_t skip_spaces(const std::string& s, size_t i) {
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return i;
}

Result<std::string> header_string(const std::string& header, const std::string& key) {
  CHEXRT_ASSIGN_OR_RETURN(size_t i, find_key(header, key));
  i = skip_spaces(header, i);
  if (i >= header.size() || (header[i] != '\'' && header[i] != '"')) {
    return parse_error("npy header: '" + key + "' is not a string");
  }
  const size_t end = header.find(header[i], i + 1);
  if (end == std::string::npos) return parse_error("npy header: '" + key + "' is not terminated");
  return header.substr(i + 1, end - i - 1);
}

Result<Dims> header_shape(const std::string& header) {
  CHEXRT_ASSIGN_OR_RETURN(size_t i, find_key(header, "shape"));
  i = skip_spaces(header, i);
  const size_t end = header.find(')', i);
  if (i >= header.size() || header[i] != '(' || end == std::string::npos) {
    return parse_error("npy header: 'shape' is not a tuple");
  }
  Dims dims;
  std::istringstream items(header.substr(i + 1, end - i - 1));
  std::string item;
  while (std::getline(items, item, ',')) {
    const size_t b = skip_spaces(item, 0);
    if (b == item.size()) continue;  // the empty item after a trailing comma: "(3,)"
    size_t used = 0;
    int64_t d = -1;
    try {
      d = std::stoll(item.substr(b), &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || d < 0 || skip_spaces(item, b + used) != item.size()) {
      return parse_error("npy header: bad dimension '" + item + "' in 'shape'");
    }
    dims.push_back(d);
  }
  return dims;
}

std::string shape_literal(const Dims& dims) {
  std::string s = "(";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  if (dims.size() == 1) s += ",";
  return s + ")";
}

Result<std::string> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error(path + ": cannot open");
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Result<HostTensor> decode_npy(const std::string& bytes) {
  if (bytes.size() < kMagicSize + 4 || bytes.compare(0, kMagicSize, kMagic, kMagicSize) != 0) {
    return parse_error("not a .npy file (bad magic)");
  }
  const auto u8 = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])); };
  const uint32_t major = u8(6);
  size_t header_len = 0;
  size_t header_start = 0;
  if (major == 1) {
    header_len = u8(8) | u8(9) << 8;
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return parse_error(".npy header is truncated");
    header_len = u8(8) | u8(9) << 8 | u8(10) << 16 | u8(11) << 24;
    header_start = 12;
  } else {
    return unsupported(".npy format version " + std::to_string(major) + " is not supported");
  }
  if (bytes.size() < header_start + header_len) return parse_error(".npy header is truncated");
  const std::string header = bytes.substr(header_start, header_len);
  CHEXRT_ASSIGN_OR_RETURN(const std::string descr, header_string(header, "descr"));
  CHEXRT_ASSIGN_OR_RETURN(const DataType dtype, parse_descr(descr));
  CHEXRT_ASSIGN_OR_RETURN(size_t fortran_at, find_key(header, "fortran_order"));
  fortran_at = skip_spaces(header, fortran_at);
  if (header.compare(fortran_at, 4, "True") == 0) return unsupported(".npy data in Fortran order is not supported");
  if (header.compare(fortran_at, 5, "False") != 0) {
    return parse_error("npy header: 'fortran_order' is not True or False");
  }
  CHEXRT_ASSIGN_OR_RETURN(const Dims dims, header_shape(header));
  // Sizes are compared before allocating, so that a bad header cannot ask for absurd memory.
  const size_t data_bytes = bytes.size() - (header_start + header_len);
  uint64_t needed = dtype_size(dtype);
  for (int64_t d : dims) {
    if (__builtin_mul_overflow(needed, static_cast<uint64_t>(d), &needed)) {
      return parse_error(".npy shape " + dims_to_string(dims) + " is too large");
    }
  }
  if (data_bytes != needed) {
    return parse_error(".npy data has " + std::to_string(data_bytes) + " bytes, " + dims_to_string(dims) + " of " +
                       dtype_name(dtype) + " needs " + std::to_string(needed));
  }
  HostTensor t(dtype, dims);
  std::memcpy(t.raw(), bytes.data() + header_start + header_len, t.nbytes());
  return t;
}

std::string encode_npy(const HostTensor& tensor) {
  const char order = dtype_size(tensor.dtype()) == 1 ? '|' : '<';
  std::string header = std::string("{'descr': '") + order + npy_type(tensor.dtype()) +
                       "', 'fortran_order': False, 'shape': " + shape_literal(tensor.dims()) + ", }";
  // Pad with spaces so that magic + version + length + header (ending in '\n') fill whole lines.
  const size_t prefix = kMagicSize + 2 + 2;
  const size_t total = (prefix + header.size() + 1 + kAlignment - 1) / kAlignment * kAlignment;
  header.append(total - prefix - header.size() - 1, ' ');
  header += '\n';
  std::string out(kMagic, kMagicSize);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  if (!tensor.empty()) out.append(static_cast<const char*>(tensor.raw()), tensor.nbytes());
  return out;
}

Result<HostTensor> read_npy(const std::string& path) {
  CHEXRT_ASSIGN_OR_RETURN(const std::string bytes, read_bytes(path));
  auto t = decode_npy(bytes);
  if (!t.ok()) return t.status().with_context(path);
  return t;
}

Status write_npy(const std::string& path, const HostTensor& tensor) {
  const std::string bytes = encode_npy(tensor);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return io_error(path + ": cannot open for writing");
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) return io_error(path + ": write failed");
  return Status::ok_status();
}

Result<HostTensor> read_tensor_file(const std::string& path) {
  if (ends_with(path, ".npy")) return read_npy(path);
  if (ends_with(path, ".pb")) return read_tensor_proto_file(path);
  return invalid_argument(path + ": unknown tensor file type (expected .npy or .pb)");
}

}  // namespace chexrt
