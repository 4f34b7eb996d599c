// Element types, dimensions and the host tensor that carries weights, inputs and outputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "chexrt/status.h"

namespace chexrt {

/// Element types. The numeric values are chexrt's own (stored in engine files), not ONNX's.
enum class DataType : uint8_t {
  kFloat32 = 0,
  kFloat16 = 1,
  kInt64 = 2,
  kInt32 = 3,
  kInt8 = 4,
  kUInt8 = 5,
  kBool = 6,
  kFloat64 = 7,
};

size_t dtype_size(DataType t);
const char* dtype_name(DataType t);

using Dims = std::vector<int64_t>;

/// Product of the dimensions (1 for a scalar).
int64_t num_elements(const Dims& dims);
/// "[1, 3, 224, 224]".
std::string dims_to_string(const Dims& dims);

/// A dense, row-major tensor in host memory, 64-byte aligned.
/// Copies share their storage (like a shared pointer); clone() makes an independent copy.
class HostTensor {
 public:
  HostTensor() = default;
  /// Zero-filled tensor.
  HostTensor(DataType dtype, Dims dims);

  static HostTensor from_floats(const std::vector<float>& values, Dims dims);
  static HostTensor from_int64s(const std::vector<int64_t>& values, Dims dims);
  /// A tensor over `data`, memory that `owner` keeps alive (a NumPy array's buffer): no copy.
  /// Copies and views of the tensor hold `owner` too. The alignment is the owner's, which may
  /// be less than the 64 bytes of the tensors chexrt allocates: engines read their inputs with
  /// unaligned loads, so such a tensor is fine as an input of Engine::infer.
  static HostTensor wrap(DataType dtype, Dims dims, void* data, std::shared_ptr<void> owner);

  DataType dtype() const { return dtype_; }
  const Dims& dims() const { return dims_; }
  int64_t rank() const { return static_cast<int64_t>(dims_.size()); }
  int64_t numel() const { return num_elements(dims_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  bool empty() const { return storage_ == nullptr; }

  void* raw() { return storage_.get(); }
  const void* raw() const { return storage_.get(); }
  template <class T>
  T* data() {
    return static_cast<T*>(raw());
  }
  template <class T>
  const T* data() const {
    return static_cast<const T*>(raw());
  }

  /// Same storage seen with other dimensions of the same element count.
  Result<HostTensor> reshaped(const Dims& dims) const;
  /// Same storage seen as its first `rows` entries of dimension 0 (0 <= rows <= dims()[0]).
  Result<HostTensor> first_rows(int64_t rows) const;
  /// Same storage seen as `count` entries of dimension 0 from entry `begin` (no copy).
  Result<HostTensor> rows(int64_t begin, int64_t count) const;
  HostTensor clone() const;
  /// Values as float64, whatever the element type (for comparisons and printing).
  std::vector<double> to_doubles() const;
  /// Values as int64 (integer and bool types; floats are truncated).
  std::vector<int64_t> to_int64s() const;

 private:
  DataType dtype_ = DataType::kFloat32;
  Dims dims_;
  std::shared_ptr<uint8_t> storage_;
};

/// Half-precision conversion (IEEE 754 binary16, round to nearest even).
uint16_t float_to_half(float f);
float half_to_float(uint16_t h);

}  // namespace chexrt
