# Turns a file into a C++ source that returns its bytes as a std::string_view, so that a program
# carries the file inside it. Run in script mode:
#   cmake -DINPUT=page.html -DOUTPUT=page.cpp -DFUNCTION=ns::name -DHEADER=dir/page.h -P embed_file.cmake
# The bytes are written as a hexadecimal array, not a raw string literal: any byte (NUL, `)"`,
# invalid UTF-8) passes unchanged, and no compiler limit on string literal length applies.
foreach(var INPUT OUTPUT FUNCTION HEADER)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "embed_file.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT EXISTS "${INPUT}")
  message(FATAL_ERROR "embed_file.cmake: ${INPUT}: no such file")
endif()

file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" num_hex_digits)
math(EXPR num_bytes "${num_hex_digits} / 2")
if(num_bytes EQUAL 0)
  # C++ has no empty arrays; the one byte is not part of the view.
  set(bytes "0x00,")
else()
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  # 16 bytes a line keeps the generated file readable and diff-friendly.
  string(REPEAT "0x..," 16 line_pattern)
  string(REGEX REPLACE "(${line_pattern})" "\\1\n" bytes "${bytes}")
endif()

get_filename_component(input_name "${INPUT}" NAME)
file(WRITE "${OUTPUT}.tmp"
     "// Generated from ${input_name} by embed_file.cmake at build time; edit ${input_name}.\n"
     "#include <string_view>\n\n#include \"${HEADER}\"\n\n"
     "namespace {\nconst unsigned char kBytes[] = {\n${bytes}\n};\n}  // namespace\n\n"
     "std::string_view ${FUNCTION}() {\n"
     "  return std::string_view(reinterpret_cast<const char*>(kBytes), ${num_bytes});\n}\n")
# Renamed into place so that an interrupted build never leaves half a source behind.
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
