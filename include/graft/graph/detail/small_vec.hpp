// graft/graph/detail/small_vec.hpp - a vector of trivially copyable values with inline room for
// the first few (a node's input list: most nodes read one to three nodes).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

namespace graft::detail {

template <typename T, std::size_t N>
class SmallVec {
  static_assert(std::is_trivially_copyable_v<T>, "SmallVec holds trivially copyable values");
  static_assert(N > 0, "SmallVec needs inline room");

 public:
  SmallVec() noexcept {}
  SmallVec(const SmallVec& o) { assign(o.begin(), o.end()); }
  SmallVec(SmallVec&& o) noexcept { steal(o); }
  SmallVec& operator=(const SmallVec& o) {
    if (this != &o) assign(o.begin(), o.end());
    return *this;
  }
  SmallVec& operator=(SmallVec&& o) noexcept {
    if (this != &o) {
      release();
      steal(o);
    }
    return *this;
  }
  ~SmallVec() { release(); }
  void swap(SmallVec& o) noexcept {
    SmallVec tmp(std::move(o));
    o = std::move(*this);
    *this = std::move(tmp);
  }

  T* data() noexcept { return heap_ ? heap_ : inline_; }
  const T* data() const noexcept { return heap_ ? heap_ : inline_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  T* begin() noexcept { return data(); }
  T* end() noexcept { return data() + size_; }
  const T* begin() const noexcept { return data(); }
  const T* end() const noexcept { return data() + size_; }
  T& operator[](std::size_t i) noexcept { return data()[i]; }
  const T& operator[](std::size_t i) const noexcept { return data()[i]; }

  void clear() noexcept { size_ = 0; }
  void reserve(std::size_t n) {
    if (n > capacity()) grow(n);
  }
  void push_back(T v) {
    if (size_ == capacity()) grow(std::max<std::size_t>(2 * capacity(), N));
    data()[size_++] = v;
  }
  void assign(const T* b, const T* e) {
    const auto n = static_cast<std::size_t>(e - b);
    size_ = 0;
    reserve(n);
    if (n) std::memmove(data(), b, n * sizeof(T));
    size_ = static_cast<std::uint32_t>(n);
  }

 private:
  std::size_t capacity() const noexcept { return heap_ ? cap_ : N; }
  void grow(std::size_t n) {
    T* fresh = new T[n];
    if (size_) std::memcpy(fresh, data(), size_ * sizeof(T));
    delete[] heap_;
    heap_ = fresh;
    cap_ = static_cast<std::uint32_t>(n);
  }
  void release() noexcept {
    delete[] heap_;
    heap_ = nullptr;
    size_ = 0;
    cap_ = 0;
  }
  void steal(SmallVec& o) noexcept {
    heap_ = o.heap_;
    size_ = o.size_;
    cap_ = o.cap_;
    if (!heap_ && size_) std::memcpy(inline_, o.inline_, size_ * sizeof(T));
    o.heap_ = nullptr;
    o.size_ = 0;
    o.cap_ = 0;
  }

  T* heap_ = nullptr;  // null while the values fit inline_
  std::uint32_t size_ = 0;
  std::uint32_t cap_ = 0;  // of heap_
  T inline_[N];
};

}  // namespace graft::detail
