// all_bytes.bin (every byte value, then `)"\` and NUL), embedded by embed_file.cmake as the web
// page is: tests/server/CMakeLists.txt makes both.
#pragma once

#include <string_view>

namespace chexrt_test {

std::string_view all_bytes();

}  // namespace chexrt_test
