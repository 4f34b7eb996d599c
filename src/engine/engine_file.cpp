// Writer and reader of the engine file format; docs/engine_format.md is the specification and
// the constants below follow it. The reader trusts nothing in the file: every count, index and
// size is checked against the bytes that remain before it is used, so a damaged file gives a
// ParseError and never an out-of-bounds read or a huge allocation.
// Over 600 lines because the format is one unit: every section's writer sits next to its
// checking reader, so that the two cannot drift apart.
#include "engine/engine_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <type_traits>
#include <variant>

#include "core/atomic_file.h"
#include "ir/shape_inference.h"
#include "ir/verifier.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the engine file stores weights as raw little-endian bytes; a big-endian host would need byte swaps");

namespace chexrt::engine {

namespace {

constexpr char kMagic[8] = {'C', 'H', 'X', 'R', 'T', 'E', 'N', 'G'};
constexpr size_t kHeaderSize = 24;         // magic, version, section count, file size
constexpr size_t kSectionHeaderSize = 16;  // tag, reserved, payload size
constexpr size_t kChecksumSize = 8;
constexpr size_t kWeightAlignment = 64;
constexpr size_t kMaxRank = 16;
constexpr int64_t kMaxDim = int64_t{1} << 40;
// Integer attributes are kernel sizes, strides, pads, axes, type codes: small. Bounding them keeps
// shape inference's arithmetic (products of two of them) clear of overflow, whatever a file holds.
constexpr int64_t kMaxAttributeInt = int64_t{1} << 31;
// The sections, in the order in which they must appear.
constexpr const char* kSectionTags[] = {"FPRT", "META", "GRPH", "TACT", "DATA"};
constexpr uint32_t kSectionCount = sizeof(kSectionTags) / sizeof(kSectionTags[0]);

enum class ValueKind : uint8_t { kNodeOutput = 0, kGraphInput = 1, kConstant = 2 };
enum class AttrKind : uint8_t { kInt = 0, kFloat = 1, kString = 2, kInts = 3, kFloats = 4 };

// FNV-1a, 64-bit (ref: Fowler, Noll, Vo; IETF draft-eastlake-fnv).
uint64_t fnv1a64(const uint8_t* data, size_t size) {
  uint64_t h = 14695981039346656037ull;
  for (size_t i = 0; i < size; ++i) {
    h ^= data[i];
    h *= 1099511628211ull;
  }
  return h;
}

size_t align_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

class ByteWriter {
 public:
  void u8(uint8_t v) { bytes_.push_back(v); }
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) bytes_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  void u64(uint64_t v) {
    for (int i = 0; i < 8; ++i) bytes_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  void i64(int64_t v) { u64(static_cast<uint64_t>(v)); }
  void f32(float v) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    u32(bits);
  }
  void str(const std::string& s) {
    u32(static_cast<uint32_t>(s.size()));
    raw(s.data(), s.size());
  }
  void raw(const void* data, size_t size) {
    const auto* p = static_cast<const uint8_t*>(data);
    bytes_.insert(bytes_.end(), p, p + size);
  }
  void zeros(size_t n) { bytes_.resize(bytes_.size() + n, 0); }
  size_t size() const { return bytes_.size(); }
  std::vector<uint8_t>& bytes() { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

// Reads little-endian fields from bytes[begin, end); every read is bounds-checked.
class ByteReader {
 public:
  ByteReader(const std::vector<uint8_t>& bytes, size_t begin, size_t end, std::string where)
      : bytes_(bytes), pos_(begin), end_(end), where_(std::move(where)) {}

  size_t position() const { return pos_; }
  size_t remaining() const { return end_ - pos_; }

  Status error(const std::string& what) const {
    return parse_error(where_ + " at byte " + std::to_string(pos_) + ": " + what);
  }

  Result<uint64_t> little_endian(size_t width) {
    if (remaining() < width) return error("truncated (needs " + std::to_string(width) + " more bytes)");
    uint64_t v = 0;
    for (size_t i = 0; i < width; ++i) v |= static_cast<uint64_t>(bytes_[pos_ + i]) << (8 * i);
    pos_ += width;
    return v;
  }
  Result<uint8_t> u8() {
    CHEXRT_ASSIGN_OR_RETURN(uint64_t v, little_endian(1));
    return static_cast<uint8_t>(v);
  }
  Result<uint32_t> u32() {
    CHEXRT_ASSIGN_OR_RETURN(uint64_t v, little_endian(4));
    return static_cast<uint32_t>(v);
  }
  Result<uint64_t> u64() { return little_endian(8); }
  Result<int64_t> i64() {
    CHEXRT_ASSIGN_OR_RETURN(uint64_t v, little_endian(8));
    return static_cast<int64_t>(v);
  }
  Result<float> f32() {
    CHEXRT_ASSIGN_OR_RETURN(uint32_t bits, u32());
    float v;
    std::memcpy(&v, &bits, 4);
    return v;
  }
  Result<std::string> str() {
    CHEXRT_ASSIGN_OR_RETURN(uint32_t n, u32());
    if (n > remaining()) return error("string of " + std::to_string(n) + " bytes runs past the section");
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  // A count of records of at least `min_record_bytes` each, which must fit in what remains.
  Result<uint32_t> count(size_t min_record_bytes, const char* what) {
    CHEXRT_ASSIGN_OR_RETURN(uint32_t n, u32());
    if (static_cast<uint64_t>(n) * min_record_bytes > remaining()) {
      return error(std::string(what) + " count " + std::to_string(n) + " does not fit in the section");
    }
    return n;
  }
  Status expect_end() const {
    if (remaining() != 0) return error(std::to_string(remaining()) + " unread bytes at the end of the section");
    return Status::ok_status();
  }

 private:
  const std::vector<uint8_t>& bytes_;
  size_t pos_;
  size_t end_;
  std::string where_;
};

// ---- writing ----

void write_fingerprint(ByteWriter& w, const EngineFingerprint& f) {
  w.str(f.backend);
  w.str(f.device_name);
  w.i64(f.compute_capability_major);
  w.i64(f.compute_capability_minor);
  w.i64(f.cuda_runtime_version);
  w.i64(f.cudnn_version);
  w.str(f.chexrt_version);
  w.str(f.precision);
  w.i64(f.max_batch);
}

void write_attributes(ByteWriter& w, const ir::Attributes& attrs) {
  w.u32(static_cast<uint32_t>(attrs.all().size()));
  for (const auto& [name, value] : attrs.all()) {
    w.str(name);
    w.u8(static_cast<uint8_t>(value.index()));  // AttrValue's alternatives are in AttrKind order
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, int64_t>) {
            w.i64(v);
          } else if constexpr (std::is_same_v<T, float>) {
            w.f32(v);
          } else if constexpr (std::is_same_v<T, std::string>) {
            w.str(v);
          } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
            w.u32(static_cast<uint32_t>(v.size()));
            for (int64_t e : v) w.i64(e);
          } else {
            w.u32(static_cast<uint32_t>(v.size()));
            for (float e : v) w.f32(e);
          }
        },
        value);
  }
}
static_assert(std::is_same_v<std::variant_alternative_t<static_cast<size_t>(AttrKind::kFloats), ir::AttrValue>,
                             std::vector<float>>,
              "AttrKind must follow ir::AttrValue's alternatives");

// The graph section. Constants' data lives in the data section; `weight_offsets` gives each
// constant's absolute file offset.
void write_graph(ByteWriter& w, const ir::Graph& graph, const std::vector<uint64_t>& weight_offsets) {
  std::vector<bool> is_input(graph.num_values(), false);
  for (int in : graph.inputs()) is_input[in] = true;
  w.u32(static_cast<uint32_t>(graph.num_values()));
  for (int v = 0; v < graph.num_values(); ++v) {
    const ir::Value& value = graph.value(v);
    w.str(value.name);
    w.u8(static_cast<uint8_t>(value.dtype));
    const ValueKind kind = is_input[v]           ? ValueKind::kGraphInput
                           : value.is_constant() ? ValueKind::kConstant
                                                 : ValueKind::kNodeOutput;
    w.u8(static_cast<uint8_t>(kind));
    w.u32(static_cast<uint32_t>(value.dims.size()));
    for (int64_t d : value.dims) w.i64(d);
    if (kind == ValueKind::kConstant) {
      w.u64(weight_offsets[v]);
      w.u64(value.constant.nbytes());
    }
  }
  w.u32(static_cast<uint32_t>(graph.inputs().size()));
  for (int in : graph.inputs()) w.u32(static_cast<uint32_t>(in));
  w.u32(static_cast<uint32_t>(graph.outputs().size()));
  for (int out : graph.outputs()) w.u32(static_cast<uint32_t>(out));
  w.u32(static_cast<uint32_t>(graph.num_nodes()));
  for (const ir::Node& node : graph.nodes()) {
    w.str(ir::op_name(node.op));
    w.str(node.name);
    w.u32(static_cast<uint32_t>(node.inputs.size()));
    for (int in : node.inputs) w.u32(static_cast<uint32_t>(in));  // kNoValue (-1) is 0xffffffff
    w.u32(static_cast<uint32_t>(node.outputs.size()));
    for (int out : node.outputs) w.u32(static_cast<uint32_t>(out));
    write_attributes(w, node.attrs);
  }
}

void write_section(ByteWriter& out, const char* tag, const std::vector<uint8_t>& payload) {
  out.raw(tag, 4);
  out.u32(0);
  out.u64(payload.size());
  out.raw(payload.data(), payload.size());
}

Status check_writable(const EngineFile& file) {
  const ir::Graph& graph = file.graph;
  CHEXRT_RETURN_IF_ERROR(ir::verify(graph).with_context("engine graph"));
  if (!file.tactics.empty() && file.tactics.size() != static_cast<size_t>(graph.num_nodes())) {
    return invalid_argument("engine has " + std::to_string(file.tactics.size()) + " tactics for " +
                            std::to_string(graph.num_nodes()) + " nodes");
  }
  for (const ir::Node& node : graph.nodes()) {
    for (const auto& [name, value] : node.attrs.all()) {
      std::vector<int64_t> ints;
      if (const auto* i = std::get_if<int64_t>(&value)) ints = {*i};
      if (const auto* is = std::get_if<std::vector<int64_t>>(&value)) ints = *is;
      for (int64_t i : ints) {
        if (i > kMaxAttributeInt || i < -kMaxAttributeInt) {
          return invalid_argument("engine graph: " + ir::describe(node) + ": attribute '" + name + "' holds " +
                                  std::to_string(i) + ", more than an engine file stores");
        }
      }
    }
  }
  std::vector<bool> is_input(graph.num_values(), false);
  for (int in : graph.inputs()) is_input[in] = true;
  for (int v = 0; v < graph.num_values(); ++v) {
    const ir::Value& value = graph.value(v);
    if (value.name.empty()) return invalid_argument("engine graph: value " + std::to_string(v) + " has no name");
    if (!is_input[v] && !value.is_constant() && value.producer < 0) {
      return invalid_argument("engine graph: value '" + value.name + "' is neither an input, a constant nor produced");
    }
  }
  return Status::ok_status();
}

// ---- reading ----

Status as_parse_error(const Status& s, const std::string& context) { return parse_error(context + ": " + s.message()); }

Result<EngineFingerprint> read_fingerprint(ByteReader& r) {
  EngineFingerprint f;
  CHEXRT_ASSIGN_OR_RETURN(f.backend, r.str());
  CHEXRT_ASSIGN_OR_RETURN(f.device_name, r.str());
  CHEXRT_ASSIGN_OR_RETURN(int64_t major, r.i64());
  CHEXRT_ASSIGN_OR_RETURN(int64_t minor, r.i64());
  CHEXRT_ASSIGN_OR_RETURN(int64_t cuda, r.i64());
  CHEXRT_ASSIGN_OR_RETURN(int64_t cudnn, r.i64());
  f.compute_capability_major = static_cast<int>(major);
  f.compute_capability_minor = static_cast<int>(minor);
  f.cuda_runtime_version = static_cast<int>(cuda);
  f.cudnn_version = static_cast<int>(cudnn);
  CHEXRT_ASSIGN_OR_RETURN(f.chexrt_version, r.str());
  CHEXRT_ASSIGN_OR_RETURN(f.precision, r.str());
  CHEXRT_ASSIGN_OR_RETURN(f.max_batch, r.i64());
  CHEXRT_RETURN_IF_ERROR(r.expect_end());
  return f;
}

Result<int64_t> read_attribute_int(ByteReader& r, const std::string& name) {
  CHEXRT_ASSIGN_OR_RETURN(int64_t v, r.i64());
  if (v > kMaxAttributeInt || v < -kMaxAttributeInt) {
    return r.error("attribute '" + name + "' holds " + std::to_string(v) + ", out of range");
  }
  return v;
}

Result<ir::Attributes> read_attributes(ByteReader& r) {
  ir::Attributes attrs;
  CHEXRT_ASSIGN_OR_RETURN(uint32_t n, r.count(5, "attribute"));
  for (uint32_t i = 0; i < n; ++i) {
    CHEXRT_ASSIGN_OR_RETURN(std::string name, r.str());
    CHEXRT_ASSIGN_OR_RETURN(uint8_t kind, r.u8());
    switch (static_cast<AttrKind>(kind)) {
      case AttrKind::kInt: {
        CHEXRT_ASSIGN_OR_RETURN(int64_t v, read_attribute_int(r, name));
        attrs.set(name, v);
        break;
      }
      case AttrKind::kFloat: {
        CHEXRT_ASSIGN_OR_RETURN(float v, r.f32());
        attrs.set(name, v);
        break;
      }
      case AttrKind::kString: {
        CHEXRT_ASSIGN_OR_RETURN(std::string v, r.str());
        attrs.set(name, v);
        break;
      }
      case AttrKind::kInts: {
        CHEXRT_ASSIGN_OR_RETURN(uint32_t count, r.count(8, "attribute element"));
        std::vector<int64_t> v(count);
        for (auto& e : v) {
          CHEXRT_ASSIGN_OR_RETURN(e, read_attribute_int(r, name));
        }
        attrs.set(name, v);
        break;
      }
      case AttrKind::kFloats: {
        CHEXRT_ASSIGN_OR_RETURN(uint32_t count, r.count(4, "attribute element"));
        std::vector<float> v(count);
        for (auto& e : v) {
          CHEXRT_ASSIGN_OR_RETURN(e, r.f32());
        }
        attrs.set(name, v);
        break;
      }
      default:
        return r.error("attribute '" + name + "' has unknown kind " + std::to_string(kind));
    }
  }
  return attrs;
}

struct FileValue {
  std::string name;
  DataType dtype = DataType::kFloat32;
  ValueKind kind = ValueKind::kNodeOutput;
  Dims dims;
  uint64_t offset = 0;
  uint64_t nbytes = 0;
};

struct FileNode {
  ir::OpType op = ir::OpType::kIdentity;
  std::string name;
  std::vector<int> inputs;
  std::vector<int> outputs;
  ir::Attributes attrs;
};

struct DataRange {
  uint64_t begin = 0;
  uint64_t end = 0;
};

Result<FileValue> read_value(ByteReader& r, const DataRange& data) {
  FileValue v;
  CHEXRT_ASSIGN_OR_RETURN(v.name, r.str());
  if (v.name.empty()) return r.error("value without a name");
  CHEXRT_ASSIGN_OR_RETURN(uint8_t dtype, r.u8());
  if (dtype > static_cast<uint8_t>(DataType::kFloat64)) {
    return r.error("value '" + v.name + "' has unknown dtype " + std::to_string(dtype));
  }
  v.dtype = static_cast<DataType>(dtype);
  CHEXRT_ASSIGN_OR_RETURN(uint8_t kind, r.u8());
  if (kind > static_cast<uint8_t>(ValueKind::kConstant)) {
    return r.error("value '" + v.name + "' has unknown kind " + std::to_string(kind));
  }
  v.kind = static_cast<ValueKind>(kind);
  CHEXRT_ASSIGN_OR_RETURN(uint32_t rank, r.u32());
  if (rank > kMaxRank) return r.error("value '" + v.name + "' has rank " + std::to_string(rank));
  int64_t numel = 1;
  for (uint32_t i = 0; i < rank; ++i) {
    CHEXRT_ASSIGN_OR_RETURN(int64_t d, r.i64());
    if (d < 0 || d > kMaxDim || __builtin_mul_overflow(numel, d, &numel)) {
      return r.error("value '" + v.name + "' has an impossible dimension " + std::to_string(d));
    }
    v.dims.push_back(d);
  }
  if (v.kind != ValueKind::kConstant) return v;
  CHEXRT_ASSIGN_OR_RETURN(v.offset, r.u64());
  CHEXRT_ASSIGN_OR_RETURN(v.nbytes, r.u64());
  uint64_t expected = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(numel), dtype_size(v.dtype), &expected) || v.nbytes != expected) {
    return r.error("constant '" + v.name + "' holds " + std::to_string(v.nbytes) + " bytes, its dims " +
                   dims_to_string(v.dims) + " need " + std::to_string(expected));
  }
  if (v.offset % kWeightAlignment != 0 || v.offset < data.begin || v.offset > data.end ||
      v.nbytes > data.end - v.offset) {
    return r.error("constant '" + v.name + "' data [" + std::to_string(v.offset) + ", +" + std::to_string(v.nbytes) +
                   ") is not an aligned range of the data section");
  }
  return v;
}

Result<int> read_index(ByteReader& r, size_t limit, bool allow_absent, const char* what) {
  CHEXRT_ASSIGN_OR_RETURN(uint32_t i, r.u32());
  if (allow_absent && i == 0xffffffffu) return ir::kNoValue;
  if (i >= limit) return r.error(std::string(what) + " index " + std::to_string(i) + " is out of range");
  return static_cast<int>(i);
}

// Rebuilds the graph through its public API, so that it is checked like any other: names are
// unique, node inputs exist before they are read. Values come in a canonical order (inputs,
// constants, then node outputs), so indices may differ from the writer's; names, nodes and
// their order do not.
Result<ir::Graph> build_graph(const std::vector<uint8_t>& bytes, const std::vector<FileValue>& values,
                              const std::vector<int>& inputs, const std::vector<int>& outputs,
                              const std::vector<FileNode>& nodes) {
  ir::Graph graph;
  std::vector<int> index(values.size(), -1);
  std::vector<bool> produced(values.size(), false);
  for (int in : inputs) {
    if (values[in].kind != ValueKind::kGraphInput || index[in] >= 0) {
      return parse_error("graph input '" + values[in].name + "' is listed twice or is not an input value");
    }
    auto added = graph.add_input(values[in].name, values[in].dtype, values[in].dims);
    if (!added.ok()) return as_parse_error(added.status(), "graph input");
    index[in] = *added;
  }
  for (size_t v = 0; v < values.size(); ++v) {
    if (values[v].kind == ValueKind::kGraphInput && index[v] < 0) {
      return parse_error("value '" + values[v].name + "' is marked as an input but is not in the input list");
    }
    if (values[v].kind != ValueKind::kConstant) continue;
    HostTensor t(values[v].dtype, values[v].dims);
    if (values[v].nbytes > 0) std::memcpy(t.raw(), bytes.data() + values[v].offset, values[v].nbytes);
    auto added = graph.add_constant(values[v].name, std::move(t));
    if (!added.ok()) return as_parse_error(added.status(), "constant");
    index[v] = *added;
  }
  for (const FileNode& fn : nodes) {
    const std::string where = "node '" + fn.name + "' (" + ir::op_name(fn.op) + ")";
    std::vector<int> node_inputs;
    for (int in : fn.inputs) {
      if (in != ir::kNoValue && index[in] < 0) {
        return parse_error(where + " reads '" + values[in].name + "' before it is produced");
      }
      node_inputs.push_back(in == ir::kNoValue ? ir::kNoValue : index[in]);
    }
    std::vector<std::string> names;
    for (int out : fn.outputs) {
      if (values[out].kind != ValueKind::kNodeOutput || produced[out]) {
        return parse_error(where + " writes '" + values[out].name + "', which is not a value a node can produce");
      }
      produced[out] = true;
      names.push_back(values[out].name);
    }
    auto added = graph.add_node(fn.op, fn.name, node_inputs, names, fn.attrs);
    if (!added.ok()) return as_parse_error(added.status(), "graph");
    for (size_t i = 0; i < fn.outputs.size(); ++i) {
      const int v = graph.node(*added).outputs[i];
      index[fn.outputs[i]] = v;
      graph.value(v).dtype = values[fn.outputs[i]].dtype;
      graph.value(v).dims = values[fn.outputs[i]].dims;
    }
  }
  for (size_t v = 0; v < values.size(); ++v) {
    if (values[v].kind == ValueKind::kNodeOutput && !produced[v]) {
      return parse_error("value '" + values[v].name + "' is not produced by any node");
    }
  }
  for (int out : outputs) {
    if (!graph.mark_output(index[out]).ok()) return parse_error("graph output index is invalid");
  }
  // Shape inference must agree with the stored shapes: a cheap check that the nodes, their
  // attributes and the dims were all read as they were written.
  Status inferred = ir::infer_shapes(graph);
  if (!inferred.ok()) return as_parse_error(inferred, "graph");
  for (size_t v = 0; v < values.size(); ++v) {
    const ir::Value& got = graph.value(index[v]);
    if (got.dims != values[v].dims || got.dtype != values[v].dtype) {
      return parse_error("value '" + values[v].name + "' is stored as " + dims_to_string(values[v].dims) + " " +
                         dtype_name(values[v].dtype) + " but its node gives " + dims_to_string(got.dims) + " " +
                         dtype_name(got.dtype));
    }
  }
  Status verified = ir::verify(graph);
  if (!verified.ok()) return as_parse_error(verified, "graph");
  return graph;
}

Result<ir::Graph> read_graph(ByteReader& r, const std::vector<uint8_t>& bytes, const DataRange& data) {
  // The smallest value record: empty name (4), dtype, kind, rank (4).
  CHEXRT_ASSIGN_OR_RETURN(uint32_t num_values, r.count(10, "value"));
  std::vector<FileValue> values;
  for (uint32_t v = 0; v < num_values; ++v) {
    CHEXRT_ASSIGN_OR_RETURN(FileValue value, read_value(r, data));
    values.push_back(std::move(value));
  }
  std::vector<int> inputs, outputs;
  CHEXRT_ASSIGN_OR_RETURN(uint32_t num_inputs, r.count(4, "graph input"));
  for (uint32_t i = 0; i < num_inputs; ++i) {
    CHEXRT_ASSIGN_OR_RETURN(int in, read_index(r, values.size(), false, "graph input"));
    inputs.push_back(in);
  }
  CHEXRT_ASSIGN_OR_RETURN(uint32_t num_outputs, r.count(4, "graph output"));
  for (uint32_t i = 0; i < num_outputs; ++i) {
    CHEXRT_ASSIGN_OR_RETURN(int out, read_index(r, values.size(), false, "graph output"));
    outputs.push_back(out);
  }
  // The smallest node record: op name, node name, three counts.
  CHEXRT_ASSIGN_OR_RETURN(uint32_t num_nodes, r.count(20, "node"));
  std::vector<FileNode> nodes;
  for (uint32_t n = 0; n < num_nodes; ++n) {
    FileNode node;
    CHEXRT_ASSIGN_OR_RETURN(std::string op, r.str());
    const auto type = ir::op_from_name(op);
    if (!type) return r.error("unknown op '" + op + "'");
    node.op = *type;
    CHEXRT_ASSIGN_OR_RETURN(node.name, r.str());
    CHEXRT_ASSIGN_OR_RETURN(uint32_t n_in, r.count(4, "node input"));
    for (uint32_t i = 0; i < n_in; ++i) {
      CHEXRT_ASSIGN_OR_RETURN(int in, read_index(r, values.size(), true, "node input"));
      node.inputs.push_back(in);
    }
    CHEXRT_ASSIGN_OR_RETURN(uint32_t n_out, r.count(4, "node output"));
    for (uint32_t i = 0; i < n_out; ++i) {
      CHEXRT_ASSIGN_OR_RETURN(int out, read_index(r, values.size(), false, "node output"));
      node.outputs.push_back(out);
    }
    CHEXRT_ASSIGN_OR_RETURN(node.attrs, read_attributes(r));
    nodes.push_back(std::move(node));
  }
  CHEXRT_RETURN_IF_ERROR(r.expect_end());
  return build_graph(bytes, values, inputs, outputs, nodes);
}

}  // namespace

const char* chexrt_version() { return CHEXRT_VERSION; }

Result<std::vector<uint8_t>> serialize_engine(const EngineFile& file) {
  CHEXRT_RETURN_IF_ERROR(check_writable(file));
  const ir::Graph& graph = file.graph;

  ByteWriter fingerprint, metadata, tactics;
  write_fingerprint(fingerprint, file.fingerprint);
  metadata.u32(static_cast<uint32_t>(file.metadata.size()));
  for (const auto& [key, value] : file.metadata) {
    metadata.str(key);
    metadata.str(value);
  }
  tactics.u32(static_cast<uint32_t>(graph.num_nodes()));
  for (int n = 0; n < graph.num_nodes(); ++n) tactics.str(file.tactics.empty() ? std::string() : file.tactics[n]);

  // The graph section's size does not depend on the offsets it records (they are fixed-width),
  // so it is written once to measure where the data section starts, then with the offsets.
  std::vector<uint64_t> relative(graph.num_values(), 0);
  size_t data_size = 0;
  for (int v = 0; v < graph.num_values(); ++v) {
    if (!graph.value(v).is_constant()) continue;
    data_size = align_up(data_size, kWeightAlignment);
    relative[v] = data_size;
    data_size += graph.value(v).constant.nbytes();
  }
  ByteWriter measured;
  write_graph(measured, graph, relative);
  const size_t before_data = kHeaderSize + kSectionCount * kSectionHeaderSize + fingerprint.size() + metadata.size() +
                             measured.size() + tactics.size();
  const size_t data_start = align_up(before_data, kWeightAlignment);
  std::vector<uint64_t> absolute(graph.num_values(), 0);
  for (int v = 0; v < graph.num_values(); ++v) absolute[v] = data_start + relative[v];
  ByteWriter graph_section;
  write_graph(graph_section, graph, absolute);

  ByteWriter data;
  data.zeros(data_start - before_data);
  for (int v = 0; v < graph.num_values(); ++v) {
    const ir::Value& value = graph.value(v);
    if (!value.is_constant()) continue;
    data.zeros(absolute[v] - (before_data + data.size()));
    data.raw(value.constant.raw(), value.constant.nbytes());
  }

  ByteWriter out;
  out.raw(kMagic, sizeof(kMagic));
  out.u32(kEngineFormatVersion);
  out.u32(kSectionCount);
  out.u64(before_data + data.size() + kChecksumSize);
  write_section(out, kSectionTags[0], fingerprint.bytes());
  write_section(out, kSectionTags[1], metadata.bytes());
  write_section(out, kSectionTags[2], graph_section.bytes());
  write_section(out, kSectionTags[3], tactics.bytes());
  write_section(out, kSectionTags[4], data.bytes());
  out.u64(fnv1a64(out.bytes().data(), out.size()));
  return std::move(out.bytes());
}

Status write_engine_file(const std::string& path, const EngineFile& file) {
  CHEXRT_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, serialize_engine(file));
  return core::write_file_atomically(path, bytes);
}

Result<EngineFile> parse_engine(const std::vector<uint8_t>& bytes, const std::string& source) {
  auto fail = [&](const std::string& what) { return parse_error(source + ": " + what); };
  if (bytes.size() < kHeaderSize + kChecksumSize) {
    return fail("truncated: " + std::to_string(bytes.size()) + " bytes is less than an engine file's header");
  }
  if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return fail("not a chexrt engine file (the magic bytes are not \"CHXRTENG\")");
  }
  ByteReader header(bytes, sizeof(kMagic), kHeaderSize, "header");
  const uint32_t version = header.u32().value();
  if (version != kEngineFormatVersion) {
    return fail("engine format version " + std::to_string(version) + " is not supported (this build reads version " +
                std::to_string(kEngineFormatVersion) + "); rebuild the engine");
  }
  const uint32_t sections = header.u32().value();
  const uint64_t file_size = header.u64().value();
  if (file_size != bytes.size()) {
    return fail("the header gives a size of " + std::to_string(file_size) + " bytes but the file has " +
                std::to_string(bytes.size()) + " (truncated or damaged)");
  }
  const size_t body_end = bytes.size() - kChecksumSize;
  ByteReader trailer(bytes, body_end, bytes.size(), "checksum");
  if (trailer.u64().value() != fnv1a64(bytes.data(), body_end)) return fail("checksum mismatch: the file is damaged");
  if (sections != kSectionCount) {
    return fail(std::to_string(sections) + " sections, version " + std::to_string(kEngineFormatVersion) + " has " +
                std::to_string(kSectionCount));
  }

  // The section table: each section's payload range, in the fixed order.
  std::vector<DataRange> payload(kSectionCount);
  size_t pos = kHeaderSize;
  for (uint32_t s = 0; s < kSectionCount; ++s) {
    ByteReader r(bytes, pos, body_end, std::string("section ") + kSectionTags[s]);
    if (r.remaining() < kSectionHeaderSize || std::memcmp(bytes.data() + pos, kSectionTags[s], 4) != 0) {
      return fail(std::string("section ") + kSectionTags[s] + " is missing at byte " + std::to_string(pos));
    }
    r.u32();  // the tag, checked above
    if (r.u32().value() != 0) return fail(std::string("section ") + kSectionTags[s] + ": reserved word is not 0");
    const uint64_t size = r.u64().value();
    if (size > r.remaining()) {
      return fail(std::string("section ") + kSectionTags[s] + " claims " + std::to_string(size) + " bytes, " +
                  std::to_string(r.remaining()) + " remain");
    }
    payload[s] = {r.position(), r.position() + size};
    pos = r.position() + size;
  }
  if (pos != body_end) return fail(std::to_string(body_end - pos) + " stray bytes after the last section");

  EngineFile file;
  auto section = [&](int s) {
    return ByteReader(bytes, payload[s].begin, payload[s].end, std::string("section ") + kSectionTags[s]);
  };
  auto in_context = [&](const Status& s) { return s.with_context(source); };

  ByteReader fingerprint = section(0);
  auto fp = read_fingerprint(fingerprint);
  if (!fp.ok()) return in_context(fp.status());
  file.fingerprint = std::move(fp).value();

  ByteReader metadata = section(1);
  auto num_entries = metadata.count(8, "metadata entry");
  if (!num_entries.ok()) return in_context(num_entries.status());
  for (uint32_t i = 0; i < *num_entries; ++i) {
    auto key = metadata.str();
    if (!key.ok()) return in_context(key.status());
    auto value = metadata.str();
    if (!value.ok()) return in_context(value.status());
    file.metadata[*key] = *value;
  }
  if (Status s = metadata.expect_end(); !s.ok()) return in_context(s);

  ByteReader graph = section(2);
  auto g = read_graph(graph, bytes, payload[4]);
  if (!g.ok()) return in_context(g.status());
  file.graph = std::move(g).value();

  ByteReader tactics = section(3);
  auto num_tactics = tactics.count(4, "tactic");
  if (!num_tactics.ok()) return in_context(num_tactics.status());
  if (*num_tactics != static_cast<uint32_t>(file.graph.num_nodes())) {
    return fail(std::to_string(*num_tactics) + " tactics for " + std::to_string(file.graph.num_nodes()) + " nodes");
  }
  for (uint32_t i = 0; i < *num_tactics; ++i) {
    auto t = tactics.str();
    if (!t.ok()) return in_context(t.status());
    file.tactics.push_back(*t);
  }
  if (Status s = tactics.expect_end(); !s.ok()) return in_context(s);
  return file;
}

Result<EngineFile> read_engine_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return io_error("cannot open engine file '" + path + "': " + std::strerror(errno));
  const std::streamoff size = in.tellg();
  if (size < 0) return io_error("cannot read engine file '" + path + "'");
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(bytes.data()), size);
  if (!in) return io_error("cannot read engine file '" + path + "'");
  return parse_engine(bytes, path);
}

Status check_fingerprint(const EngineFingerprint& file, const EngineFingerprint& here) {
  std::string diff;
  auto compare = [&](const char* field, const std::string& built, const std::string& now) {
    if (built == now) return;
    diff += std::string(diff.empty() ? "" : "; ") + field + ": engine built with '" + built + "', here '" + now + "'";
  };
  compare("backend", file.backend, here.backend);
  compare("device_name", file.device_name, here.device_name);
  compare("compute_capability",
          std::to_string(file.compute_capability_major) + "." + std::to_string(file.compute_capability_minor),
          std::to_string(here.compute_capability_major) + "." + std::to_string(here.compute_capability_minor));
  compare("cuda_runtime_version", std::to_string(file.cuda_runtime_version), std::to_string(here.cuda_runtime_version));
  compare("cudnn_version", std::to_string(file.cudnn_version), std::to_string(here.cudnn_version));
  compare("chexrt_version", file.chexrt_version, here.chexrt_version);
  if (diff.empty()) return Status::ok_status();
  return Status(StatusCode::kVersionMismatch, "engine does not match this machine (" + diff + "); rebuild it");
}

}  // namespace chexrt::engine
