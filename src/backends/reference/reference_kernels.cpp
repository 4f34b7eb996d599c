#include "backends/reference/reference_kernels.h"
namespace chexrt::reference {}
