// CHEXRT_HOST_DEVICE marks the functions that the host code and the CUDA kernels both compile
// (the shared arithmetic of core/heatmap_draw.h and core/png_encode.h): __host__ __device__
// under nvcc, nothing for the host compiler.
#pragma once

#if defined(__CUDACC__)
#define CHEXRT_HOST_DEVICE __host__ __device__
#else
#define CHEXRT_HOST_DEVICE
#endif
