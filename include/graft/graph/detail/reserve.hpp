// graft/graph/detail/reserve.hpp - room for one more element, so that the push_back after it
// cannot throw.
#pragma once

#include <algorithm>
#include <cstddef>

namespace graft::detail {

// Makes room for `n` more elements with geometric growth (reserve(size() + 1) would reallocate
// on every call).
template <typename V>
void reserve_one_more(V& v, std::size_t n = 1) {
  if (v.capacity() - v.size() < n) v.reserve(std::max(v.size() + n, 2 * v.capacity() + 16));
}

}  // namespace graft::detail
