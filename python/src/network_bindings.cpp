// chexrt.NetworkDefinition (include/chexrt/network.h, layer by layer) and the parsers that make
// one: parse_onnx, and parse_tensorflow / parse_caffe where those importers are built.
#include <pybind11/stl.h>

#include <optional>

#include "bindings.h"
#include "chexrt/onnx_parser.h"
#include "errors.h"
#include "numpy_tensor.h"

#if __has_include("chexrt/tensorflow_parser.h")
#include "chexrt/tensorflow_parser.h"
#define CHEXRT_PYTHON_HAVE_TENSORFLOW 1
#else
#define CHEXRT_PYTHON_HAVE_TENSORFLOW 0
#endif
#if __has_include("chexrt/caffe_parser.h")
#include "chexrt/caffe_parser.h"
#define CHEXRT_PYTHON_HAVE_CAFFE 1
#else
#define CHEXRT_PYTHON_HAVE_CAFFE 0
#endif

namespace py = pybind11;

namespace chexrt::python {

namespace {

// A network as Python holds it: build_engine() consumes it, as in C++, and later use says so
// instead of touching a moved-from definition.
struct PyNetwork {
  std::optional<NetworkDefinition> network;

  NetworkDefinition& get() {
    if (!network) raise_status(invalid_argument("this NetworkDefinition was consumed by build_engine()"));
    return *network;
  }
  // A layer's result: a failed add_* raises the network's error, which names the layer.
  Tensor checked(Tensor t) {
    if (!t.valid()) raise_status(get().status());
    return t;
  }
};

HostTensor optional_weights(const py::object& value, const std::string& what) {
  if (value.is_none()) return HostTensor();
  return tensor_from_array(value, DataType::kFloat32, what, false).clone();
}

HostTensor weights(const py::object& value, const std::string& what) {
  if (value.is_none()) raise_status(invalid_argument(what + " is required"));
  return optional_weights(value, what);
}

template <class E>
E enum_of(const py::object& value, std::initializer_list<std::pair<const char*, E>> words, const char* what) {
  if (py::isinstance<py::str>(value)) {
    const std::string word = value.cast<std::string>();
    std::string known;
    for (const auto& [w, e] : words) {
      if (word == w) return e;
      known += (known.empty() ? "" : ", ") + std::string(w);
    }
    raise_status(invalid_argument(std::string(what) + " must be one of " + known + ", not '" + word + "'"));
  }
  return value.cast<E>();
}

DataType dtype_arg(const py::object& value) {
  if (py::isinstance<DataType>(value)) return value.cast<DataType>();
  return data_type_of(py::dtype::from_args(value), "dtype");
}

WindowParams window(std::vector<int64_t> kernel, std::vector<int64_t> strides, std::vector<int64_t> dilations,
                    std::vector<int64_t> pads, std::string auto_pad) {
  WindowParams w;
  w.kernel = std::move(kernel);
  w.strides = std::move(strides);
  w.dilations = std::move(dilations);
  w.pads = std::move(pads);
  w.auto_pad = std::move(auto_pad);
  return w;
}

LayerAttribute attribute(const std::string& name, const py::handle& value) {
  if (py::isinstance<py::bool_>(value) || py::isinstance<py::int_>(value)) {
    return LayerAttribute::integer(name, value.cast<int64_t>());
  }
  if (py::isinstance<py::float_>(value)) return LayerAttribute::real(name, value.cast<float>());
  if (py::isinstance<py::str>(value)) return LayerAttribute::string(name, value.cast<std::string>());
  if (py::isinstance<py::sequence>(value)) {
    py::sequence seq = py::reinterpret_borrow<py::sequence>(value);
    bool all_ints = true;
    for (py::handle item : seq) all_ints = all_ints && py::isinstance<py::int_>(item);
    if (all_ints) return LayerAttribute::integers(name, seq.cast<std::vector<int64_t>>());
    return LayerAttribute::reals(name, seq.cast<std::vector<float>>());
  }
  raise_status(invalid_argument("attribute '" + name + "': an int, float, str or a list of ints or floats, not " +
                                py::str(py::type::of(value)).cast<std::string>()));
}

[[maybe_unused]] std::map<std::string, Dims> shapes_of(const py::object& shapes) {
  std::map<std::string, Dims> result;
  if (shapes.is_none()) return result;
  for (auto item : py::reinterpret_borrow<py::dict>(shapes)) {
    result[py::str(item.first).cast<std::string>()] = item.second.cast<Dims>();
  }
  return result;
}

py::object wrap_network(Result<NetworkDefinition> parsed) {
  auto holder = std::make_unique<PyNetwork>();
  holder->network.emplace(unwrap(std::move(parsed)));
  return py::cast(std::move(holder));
}

py::object parse_onnx(const py::handle& path, int64_t batch_size, bool fold_constants) {
  OnnxImportOptions options;
  options.batch_size = batch_size;
  options.fold_constants = fold_constants;
  const std::string file = path_of(path);
  Result<NetworkDefinition> parsed = Status();
  {
    py::gil_scoped_release release;
    parsed = parse_onnx_file(file, options);
  }
  return wrap_network(std::move(parsed));
}

py::object parse_tensorflow(const py::handle& path, const py::object& input_shapes, const py::object& outputs) {
#if CHEXRT_PYTHON_HAVE_TENSORFLOW
  TensorflowImportOptions options;
  options.input_shapes = shapes_of(input_shapes);
  if (!outputs.is_none()) options.outputs = outputs.cast<std::vector<std::string>>();
  const std::string file = path_of(path);
  Result<NetworkDefinition> parsed = Status();
  {
    py::gil_scoped_release release;
    parsed = parse_tensorflow_file(file, options);
  }
  return wrap_network(std::move(parsed));
#else
  raise_status(unsupported("this chexrt was built without the TensorFlow importer (chexrt/tensorflow_parser.h)"));
#endif
}

py::object parse_caffe(const py::handle& prototxt, const py::object& caffemodel, const py::object& input_shapes,
                       int64_t batch_size, bool seeded_weights, uint32_t seed) {
#if CHEXRT_PYTHON_HAVE_CAFFE
  CaffeImportOptions options;
  options.input_shapes = shapes_of(input_shapes);
  options.batch_size = batch_size;
  options.seeded_weights = seeded_weights;
  options.seed = seed;
  const std::string definition = path_of(prototxt);
  const std::string weights = caffemodel.is_none() ? std::string() : path_of(caffemodel);
  Result<NetworkDefinition> parsed = Status();
  {
    py::gil_scoped_release release;
    parsed = parse_caffe_files(definition, weights, options);
  }
  return wrap_network(std::move(parsed));
#else
  raise_status(unsupported("this chexrt was built without the Caffe importer (chexrt/caffe_parser.h)"));
#endif
}

}  // namespace

NetworkDefinition take_network(py::handle network) {
  PyNetwork& holder = network.cast<PyNetwork&>();
  NetworkDefinition taken = std::move(holder.get());
  holder.network.reset();
  return taken;
}

void register_network(py::module_& m) {
  py::enum_<DataType>(m, "DataType")
      .value("FLOAT32", DataType::kFloat32)
      .value("FLOAT16", DataType::kFloat16)
      .value("INT64", DataType::kInt64)
      .value("INT32", DataType::kInt32)
      .value("INT8", DataType::kInt8)
      .value("UINT8", DataType::kUInt8)
      .value("BOOL", DataType::kBool)
      .value("FLOAT64", DataType::kFloat64);
  py::enum_<Activation>(m, "Activation").value("RELU", Activation::kRelu).value("SIGMOID", Activation::kSigmoid);
  py::enum_<PoolType>(m, "PoolType").value("MAX", PoolType::kMax).value("AVERAGE", PoolType::kAverage);
  py::enum_<ElementwiseOp>(m, "ElementwiseOp")
      .value("ADD", ElementwiseOp::kAdd)
      .value("SUB", ElementwiseOp::kSub)
      .value("MUL", ElementwiseOp::kMul)
      .value("DIV", ElementwiseOp::kDiv);

  py::class_<Tensor>(m, "Tensor", "A handle to a tensor of a NetworkDefinition.")
      .def_readonly("id", &Tensor::id)
      .def_property_readonly("valid", &Tensor::valid)
      .def("__repr__", [](const Tensor& t) { return "<chexrt.Tensor id=" + std::to_string(t.id) + ">"; });

  const auto no_bias = py::none();
  py::class_<PyNetwork>(m, "NetworkDefinition",
                        "A model as layers added one by one (chexrt::NetworkDefinition). Each add_* checks its "
                        "inputs and infers the output shape at once; a failure raises the error naming the "
                        "layer, and the network then refuses further layers (its first error stands).")
      .def(py::init([] {
        auto holder = std::make_unique<PyNetwork>();
        holder->network.emplace();
        return holder;
      }))
      .def(
          "add_input",
          [](PyNetwork& n, const std::string& name, const Dims& shape, const py::object& dtype) {
            return n.checked(n.get().add_input(name, dtype_arg(dtype), shape));
          },
          py::arg("name"), py::arg("shape"), py::arg("dtype") = py::str("float32"))
      .def(
          "add_constant",
          [](PyNetwork& n, const py::object& value, const std::string& name) {
            return n.checked(n.get().add_constant(name, tensor_copy(value, "constant '" + name + "'")));
          },
          py::arg("value"), py::arg("name") = "")
      .def(
          "add_convolution",
          [](PyNetwork& n, const std::string& name, Tensor input, const py::object& weight, const py::object& bias,
             std::vector<int64_t> kernel, std::vector<int64_t> strides, std::vector<int64_t> dilations,
             std::vector<int64_t> pads, std::string auto_pad, int64_t groups) {
            HostTensor w = weights(weight, "layer '" + name + "' weight");
            if (kernel.empty() && w.rank() > 2) kernel.assign(w.dims().begin() + 2, w.dims().end());
            return n.checked(n.get().add_convolution(name, input, w,
                                                     optional_weights(bias, "layer '" + name + "' bias"),
                                                     window(kernel, strides, dilations, pads, auto_pad), groups));
          },
          py::arg("name"), py::arg("input"), py::arg("weight"), py::arg("bias") = no_bias, py::kw_only(),
          py::arg("kernel") = std::vector<int64_t>{}, py::arg("strides") = std::vector<int64_t>{},
          py::arg("dilations") = std::vector<int64_t>{}, py::arg("pads") = std::vector<int64_t>{},
          py::arg("auto_pad") = "NOTSET", py::arg("groups") = 1,
          "weight: [out_channels, in_channels / groups, k...]; bias: [out_channels] or None; pads as ONNX "
          "[begin..., end...]; kernel defaults to the weight's.")
      .def(
          "add_batch_norm",
          [](PyNetwork& n, const std::string& name, Tensor input, const py::object& scale, const py::object& bias,
             const py::object& mean, const py::object& var, float epsilon) {
            const std::string what = "layer '" + name + "' ";
            return n.checked(n.get().add_batch_norm(name, input, weights(scale, what + "scale"),
                                                    weights(bias, what + "bias"), weights(mean, what + "mean"),
                                                    weights(var, what + "var"), epsilon));
          },
          py::arg("name"), py::arg("input"), py::arg("scale"), py::arg("bias"), py::arg("mean"), py::arg("var"),
          py::arg("epsilon") = 1e-5f)
      .def(
          "add_activation",
          [](PyNetwork& n, const std::string& name, Tensor input, const py::object& type) {
            const Activation a =
                enum_of<Activation>(type, {{"relu", Activation::kRelu}, {"sigmoid", Activation::kSigmoid}}, "type");
            return n.checked(n.get().add_activation(name, input, a));
          },
          py::arg("name"), py::arg("input"), py::arg("type"))
      .def(
          "add_pooling",
          [](PyNetwork& n, const std::string& name, Tensor input, const py::object& type, std::vector<int64_t> kernel,
             std::vector<int64_t> strides, std::vector<int64_t> dilations, std::vector<int64_t> pads,
             std::string auto_pad, bool ceil_mode, bool count_include_pad) {
            const PoolType p =
                enum_of<PoolType>(type, {{"max", PoolType::kMax}, {"average", PoolType::kAverage}}, "type");
            PoolParams params;
            params.window = window(kernel, strides, dilations, pads, auto_pad);
            params.ceil_mode = ceil_mode;
            params.count_include_pad = count_include_pad;
            return n.checked(n.get().add_pooling(name, input, p, params));
          },
          py::arg("name"), py::arg("input"), py::arg("type"), py::kw_only(), py::arg("kernel"),
          py::arg("strides") = std::vector<int64_t>{}, py::arg("dilations") = std::vector<int64_t>{},
          py::arg("pads") = std::vector<int64_t>{}, py::arg("auto_pad") = "NOTSET", py::arg("ceil_mode") = false,
          py::arg("count_include_pad") = false)
      .def(
          "add_global_average_pool",
          [](PyNetwork& n, const std::string& name, Tensor input) {
            return n.checked(n.get().add_global_average_pool(name, input));
          },
          py::arg("name"), py::arg("input"))
      .def(
          "add_concat",
          [](PyNetwork& n, const std::string& name, const std::vector<Tensor>& inputs, int64_t axis) {
            return n.checked(n.get().add_concat(name, inputs, axis));
          },
          py::arg("name"), py::arg("inputs"), py::arg("axis"))
      .def(
          "add_fully_connected",
          [](PyNetwork& n, const std::string& name, Tensor input, const py::object& weight, const py::object& bias) {
            return n.checked(n.get().add_fully_connected(name, input, weights(weight, "layer '" + name + "' weight"),
                                                         optional_weights(bias, "layer '" + name + "' bias")));
          },
          py::arg("name"), py::arg("input"), py::arg("weight"), py::arg("bias") = no_bias)
      .def(
          "add_matmul",
          [](PyNetwork& n, const std::string& name, Tensor a, Tensor b) {
            return n.checked(n.get().add_matmul(name, a, b));
          },
          py::arg("name"), py::arg("a"), py::arg("b"))
      .def(
          "add_elementwise",
          [](PyNetwork& n, const std::string& name, Tensor a, Tensor b, const py::object& op) {
            const ElementwiseOp e = enum_of<ElementwiseOp>(op,
                                                           {{"add", ElementwiseOp::kAdd},
                                                            {"sub", ElementwiseOp::kSub},
                                                            {"mul", ElementwiseOp::kMul},
                                                            {"div", ElementwiseOp::kDiv}},
                                                           "op");
            return n.checked(n.get().add_elementwise(name, a, b, e));
          },
          py::arg("name"), py::arg("a"), py::arg("b"), py::arg("op"))
      .def(
          "add_flatten",
          [](PyNetwork& n, const std::string& name, Tensor input, int64_t axis) {
            return n.checked(n.get().add_flatten(name, input, axis));
          },
          py::arg("name"), py::arg("input"), py::arg("axis") = 1)
      .def(
          "add_reshape",
          [](PyNetwork& n, const std::string& name, Tensor input, const std::vector<int64_t>& shape) {
            return n.checked(n.get().add_reshape(name, input, shape));
          },
          py::arg("name"), py::arg("input"), py::arg("shape"))
      .def(
          "add_transpose",
          [](PyNetwork& n, const std::string& name, Tensor input, const std::vector<int64_t>& perm) {
            return n.checked(n.get().add_transpose(name, input, perm));
          },
          py::arg("name"), py::arg("input"), py::arg("perm"))
      .def(
          "add_softmax",
          [](PyNetwork& n, const std::string& name, Tensor input, int64_t axis) {
            return n.checked(n.get().add_softmax(name, input, axis));
          },
          py::arg("name"), py::arg("input"), py::arg("axis"))
      .def(
          "add_layer",
          [](PyNetwork& n, const std::string& op, const std::string& name, const std::vector<Tensor>& inputs,
             const py::object& attributes, int num_outputs, const std::vector<std::string>& output_names) {
            std::vector<LayerAttribute> attrs;
            if (!attributes.is_none()) {
              for (auto item : py::reinterpret_borrow<py::dict>(attributes)) {
                attrs.push_back(attribute(py::str(item.first).cast<std::string>(), item.second));
              }
            }
            std::vector<Tensor> outputs = n.get().add_layer(op, name, inputs, attrs, num_outputs, output_names);
            if (outputs.empty()) raise_status(n.get().status());
            return outputs;
          },
          py::arg("op"), py::arg("name"), py::arg("inputs"), py::arg("attributes") = py::none(),
          py::arg("num_outputs") = 1, py::arg("output_names") = std::vector<std::string>{},
          "Any op of chexrt's op list by its ONNX name, with ONNX attributes as a dict (int, float, str, "
          "list of ints or floats). Returns the output tensors.")
      .def(
          "mark_output", [](PyNetwork& n, Tensor t, const std::string& name) { n.get().mark_output(t, name); },
          py::arg("tensor"), py::arg("name") = "")
      .def(
          "set_tensor_name", [](PyNetwork& n, Tensor t, const std::string& name) { n.get().set_tensor_name(t, name); },
          py::arg("tensor"), py::arg("name"))
      .def(
          "tensor_name", [](PyNetwork& n, Tensor t) { return n.get().tensor_name(t); }, py::arg("tensor"))
      .def(
          "tensor_shape", [](PyNetwork& n, Tensor t) { return py::tuple(py::cast(n.get().tensor_dims(t))); },
          py::arg("tensor"))
      .def(
          "tensor_dtype", [](PyNetwork& n, Tensor t) { return numpy_dtype(n.get().tensor_dtype(t)); },
          py::arg("tensor"))
      .def(
          "find_tensor",
          [](PyNetwork& n, const std::string& name) -> py::object {
            const Tensor t = n.get().find_tensor(name);
            return t.valid() ? py::cast(t) : py::object(py::none());
          },
          py::arg("name"), "The tensor with that name, or None.")
      .def_property_readonly("num_layers", [](PyNetwork& n) { return n.get().num_layers(); })
      .def_property_readonly("num_parameters", [](PyNetwork& n) { return n.get().num_parameters(); })
      .def("__repr__", [](PyNetwork& n) {
        if (!n.network) return std::string("<chexrt.NetworkDefinition consumed by build_engine()>");
        return "<chexrt.NetworkDefinition " + std::to_string(n.network->num_layers()) + " layers>";
      });

  m.def("parse_onnx", &parse_onnx, py::arg("path"), py::kw_only(), py::arg("batch_size") = 1,
        py::arg("fold_constants") = true,
        "Parses an ONNX model into a NetworkDefinition (chexrt::parse_onnx_file); dynamic dims become "
        "batch_size (build_engine() sets the batch to its max_batch).");
  m.def("parse_tensorflow", &parse_tensorflow, py::arg("path"), py::kw_only(), py::arg("input_shapes") = py::none(),
        py::arg("outputs") = py::none(),
        "Parses a TensorFlow frozen graph (.pb or .pbtxt). input_shapes: {placeholder: dims} for unknown dims; "
        "outputs: node names ('node' or 'node:index'), default the nodes nothing consumes. Raises "
        "UnsupportedError where chexrt was built without the TensorFlow importer (has_tensorflow_parser).");
  m.def("parse_caffe", &parse_caffe, py::arg("prototxt"), py::arg("caffemodel") = py::none(), py::kw_only(),
        py::arg("input_shapes") = py::none(), py::arg("batch_size") = 0, py::arg("seeded_weights") = false,
        py::arg("seed") = 0,
        "Parses a Caffe model (.prototxt and .caffemodel; caffemodel None: no weights file, which only networks "
        "without learned blobs or seeded_weights=True accept). input_shapes: {input: dims} replacing the "
        "prototxt's; batch_size > 0: dim 0 of the other inputs. Raises UnsupportedError where chexrt was built "
        "without the Caffe importer (has_caffe_parser).");
  m.attr("has_tensorflow_parser") = py::bool_(CHEXRT_PYTHON_HAVE_TENSORFLOW);
  m.attr("has_caffe_parser") = py::bool_(CHEXRT_PYTHON_HAVE_CAFFE);
}

}  // namespace chexrt::python
