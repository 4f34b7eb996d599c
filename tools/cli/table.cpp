#include "table.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>

namespace chexrt::cli {

namespace {
bool looks_numeric(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789.-+eE%x ,") == std::string::npos;
}
}  // namespace

std::string Table::to_string() const {
  std::vector<size_t> width(header_.size(), 0);
  for (size_t c = 0; c < header_.size(); ++c) width[c] = header_[c].size();
  for (const auto& row : rows_) {
    for (size_t c = 0; c < row.size() && c < width.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  auto line = [&](const std::vector<std::string>& cells, bool header) {
    std::string out;
    for (size_t c = 0; c < width.size(); ++c) {
      const std::string cell = c < cells.size() ? cells[c] : "";
      const std::string pad(width[c] - cell.size(), ' ');
      const bool right = !header && looks_numeric(cell);
      out += (c ? "  " : "") + (right ? pad + cell : cell + (c + 1 < width.size() ? pad : ""));
    }
    return out + "\n";
  };
  std::string out = line(header_, true);
  size_t total = 0;
  for (size_t w : width) total += w;
  out += std::string(total + 2 * (width.empty() ? 0 : width.size() - 1), '-') + "\n";
  for (const auto& row : rows_) out += line(row, false);
  return out;
}

std::string format(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  char buf[512];
  std::vsnprintf(buf, sizeof(buf), fmt, args);
  va_end(args);
  return buf;
}

}  // namespace chexrt::cli
