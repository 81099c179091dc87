// graft/version.hpp - the library version.
//
// GRAFT_VERSION_MAJOR / _MINOR / _PATCH for the preprocessor, `graft::version_string` at run
// time; the same version as CMake's `find_package(graft 0.1)` checks.
#pragma once

#define GRAFT_VERSION_MAJOR 0
#define GRAFT_VERSION_MINOR 1
#define GRAFT_VERSION_PATCH 0

namespace graft {
// The version as text, "major.minor.patch".
inline constexpr const char* version_string = "0.1.0";
}  // namespace graft
