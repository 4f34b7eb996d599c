#include "chexrt/tensor.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace chexrt {

size_t dtype_size(DataType t) {
  switch (t) {
    case DataType::kFloat32:
      return 4;
    case DataType::kFloat16:
      return 2;
    case DataType::kInt64:
      return 8;
    case DataType::kInt32:
      return 4;
    case DataType::kInt8:
      return 1;
    case DataType::kUInt8:
      return 1;
    case DataType::kBool:
      return 1;
    case DataType::kFloat64:
      return 8;
  }
  return 0;
}

const char* dtype_name(DataType t) {
  switch (t) {
    case DataType::kFloat32:
      return "f32";
    case DataType::kFloat16:
      return "f16";
    case DataType::kInt64:
      return "i64";
    case DataType::kInt32:
      return "i32";
    case DataType::kInt8:
      return "i8";
    case DataType::kUInt8:
      return "u8";
    case DataType::kBool:
      return "bool";
    case DataType::kFloat64:
      return "f64";
  }
  return "?";
}

int64_t num_elements(const Dims& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

std::string dims_to_string(const Dims& dims) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < dims.size(); ++i) s << (i ? ", " : "") << dims[i];
  s << "]";
  return s.str();
}

namespace {
std::shared_ptr<uint8_t> allocate_zeroed(size_t nbytes) {
  // 64-byte alignment suits AVX-512 loads and cache lines; round the size up as aligned_alloc
  // requires, and allocate at least one line so that empty tensors still have storage.
  size_t size = (nbytes + 63) / 64 * 64;
  if (size == 0) size = 64;
  auto* p = static_cast<uint8_t*>(std::aligned_alloc(64, size));
  if (p == nullptr) throw std::bad_alloc();
  std::memset(p, 0, size);
  return std::shared_ptr<uint8_t>(p, [](uint8_t* q) { std::free(q); });
}
}  // namespace

HostTensor::HostTensor(DataType dtype, Dims dims)
    : dtype_(dtype), dims_(std::move(dims)), storage_(allocate_zeroed(nbytes())) {}

HostTensor HostTensor::from_floats(const std::vector<float>& values, Dims dims) {
  HostTensor t(DataType::kFloat32, std::move(dims));
  std::memcpy(t.raw(), values.data(), std::min(t.nbytes(), values.size() * sizeof(float)));
  return t;
}

HostTensor HostTensor::from_int64s(const std::vector<int64_t>& values, Dims dims) {
  HostTensor t(DataType::kInt64, std::move(dims));
  std::memcpy(t.raw(), values.data(), std::min(t.nbytes(), values.size() * sizeof(int64_t)));
  return t;
}

HostTensor HostTensor::wrap(DataType dtype, Dims dims, void* data, std::shared_ptr<void> owner) {
  HostTensor t;
  t.dtype_ = dtype;
  t.dims_ = std::move(dims);
  // The aliasing constructor: `owner`'s count, `data`'s address.
  t.storage_ = std::shared_ptr<uint8_t>(std::move(owner), static_cast<uint8_t*>(data));
  return t;
}

Result<HostTensor> HostTensor::reshaped(const Dims& dims) const {
  if (num_elements(dims) != numel()) {
    return invalid_argument("cannot reshape " + dims_to_string(dims_) + " to " + dims_to_string(dims));
  }
  HostTensor t = *this;
  t.dims_ = dims;
  return t;
}

Result<HostTensor> HostTensor::first_rows(int64_t rows) const {
  if (dims_.empty() || rows < 0 || rows > dims_[0]) {
    return invalid_argument("cannot take " + std::to_string(rows) + " rows of " + dims_to_string(dims_));
  }
  HostTensor t = *this;
  t.dims_[0] = rows;
  return t;
}

Result<HostTensor> HostTensor::rows(int64_t begin, int64_t count) const {
  if (dims_.empty() || begin < 0 || count < 0 || begin > dims_[0] - count) {
    return invalid_argument("cannot take rows [" + std::to_string(begin) + ", " + std::to_string(begin + count) +
                            ") of " + dims_to_string(dims_));
  }
  HostTensor t = *this;
  t.dims_[0] = count;
  if (dims_[0] > 0) {
    const size_t row_bytes = nbytes() / static_cast<size_t>(dims_[0]);
    t.storage_ = std::shared_ptr<uint8_t>(storage_, storage_.get() + static_cast<size_t>(begin) * row_bytes);
  }
  return t;
}

HostTensor HostTensor::clone() const {
  if (empty()) return *this;
  HostTensor t(dtype_, dims_);
  std::memcpy(t.raw(), raw(), nbytes());
  return t;
}

template <class F>
static void for_each_value(const HostTensor& t, F&& f) {
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) {
    switch (t.dtype()) {
      case DataType::kFloat32:
        f(i, static_cast<double>(t.data<float>()[i]));
        break;
      case DataType::kFloat16:
        f(i, static_cast<double>(half_to_float(t.data<uint16_t>()[i])));
        break;
      case DataType::kInt64:
        f(i, static_cast<double>(t.data<int64_t>()[i]));
        break;
      case DataType::kInt32:
        f(i, static_cast<double>(t.data<int32_t>()[i]));
        break;
      case DataType::kInt8:
        f(i, static_cast<double>(t.data<int8_t>()[i]));
        break;
      case DataType::kUInt8:
        f(i, static_cast<double>(t.data<uint8_t>()[i]));
        break;
      case DataType::kBool:
        f(i, static_cast<double>(t.data<uint8_t>()[i] != 0));
        break;
      case DataType::kFloat64:
        f(i, t.data<double>()[i]);
        break;
    }
  }
}

std::vector<double> HostTensor::to_doubles() const {
  std::vector<double> out(empty() ? 0 : static_cast<size_t>(numel()));
  if (!empty()) for_each_value(*this, [&](int64_t i, double v) { out[i] = v; });
  return out;
}

std::vector<int64_t> HostTensor::to_int64s() const {
  std::vector<int64_t> out(empty() ? 0 : static_cast<size_t>(numel()));
  if (empty()) return out;
  if (dtype_ == DataType::kInt64) {
    if (nbytes() > 0) std::memcpy(out.data(), raw(), nbytes());
    return out;
  }
  for_each_value(*this, [&](int64_t i, double v) { out[i] = static_cast<int64_t>(v); });
  return out;
}

uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // inf or nan
    return static_cast<uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));
  }
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (abs < 0x38800000u) {                                               // subnormal half (or zero)
    if (abs < 0x33000000u) return static_cast<uint16_t>(sign);
    const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
    const int shift = 126 - static_cast<int>(abs >> 23);  // 14..24
    uint32_t h = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1u);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1u))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  uint32_t h = ((abs - 0x38000000u) >> 13);
  const uint32_t rem = abs & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

float half_to_float(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  uint32_t x;
  if (exp == 0) {
    if (mant == 0) {
      x = sign;
    } else {  // subnormal: normalise
      float f = std::ldexp(static_cast<float>(mant), -24);
      return sign ? -f : f;
    }
  } else if (exp == 31) {
    x = sign | 0x7f800000u | (mant << 13);
  } else {
    x = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

}  // namespace chexrt
