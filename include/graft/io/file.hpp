// graft/io/file.hpp - whole-file reads, and writes that leave nothing behind on failure.
//
// `read_file` returns a file's bytes; `write_file_atomically` / `write_files_atomically` write
// to temporary files next to the targets and rename them into place only once every write
// succeeded, so a failure (a full disk, a bad path) leaves no partial output. Errors are
// FileError naming the file.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "graft/error.hpp"

namespace graft::io {

class FileError : public Error {
 public:
  using Error::Error;
};

// The bytes of `path`; a FileError naming the file when it cannot be read.
inline std::string read_file(const std::filesystem::path& path,
                             std::uint64_t max_bytes = std::numeric_limits<std::uint64_t>::max()) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw FileError(path.string() + ": is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError(path.string() + ": cannot open the file");
  if (std::filesystem::is_regular_file(path, ec)) {
    const std::uintmax_t size = std::filesystem::file_size(path, ec);
    if (!ec && size > max_bytes)
      throw FileError(path.string() + ": " + std::to_string(size) + " bytes, more than the limit of " +
                      std::to_string(max_bytes));
  }
  std::string bytes;
  char chunk[1 << 16];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    bytes.append(chunk, static_cast<std::size_t>(in.gcount()));
    if (bytes.size() > max_bytes)  // pipes and devices have no size to check up front
      throw FileError(path.string() + ": more than the limit of " + std::to_string(max_bytes) + " bytes");
  }
  if (in.bad()) throw FileError(path.string() + ": read failed");
  return bytes;
}

// Writes every (path, bytes) pair: each to a temporary file beside its target first, then all
// renamed into place. A failure before the renames removes the temporaries and leaves every
// target as it was.
inline void write_files_atomically(const std::vector<std::pair<std::filesystem::path, std::string_view>>& files) {
  std::vector<std::filesystem::path> temps;
  auto cleanup = [&] {
    std::error_code ignored;
    for (const auto& t : temps) std::filesystem::remove(t, ignored);
  };
  try {
    for (const auto& [path, bytes] : files) {
      std::filesystem::path tmp = path;
      tmp += ".graft-tmp";
      temps.push_back(tmp);
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      if (!out) throw FileError(path.string() + ": cannot open for writing");
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      out.close();
      if (!out) throw FileError(path.string() + ": write failed");
    }
    for (std::size_t i = 0; i < files.size(); ++i) {
      std::error_code ec;
      std::filesystem::rename(temps[i], files[i].first, ec);
      if (ec) throw FileError(files[i].first.string() + ": cannot move the written file into place: " + ec.message());
    }
  } catch (...) {
    cleanup();
    throw;
  }
}

// Writes `bytes` to `path` through a temporary file renamed into place.
inline void write_file_atomically(const std::filesystem::path& path, std::string_view bytes) {
  write_files_atomically({{path, bytes}});
}

}  // namespace graft::io
