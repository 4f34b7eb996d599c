#include "chexrt/onnx_parser.h"
