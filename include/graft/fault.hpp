// graft/fault.hpp - fault injection, for testing that graft's passes keep the strong exception
// guarantee. Off (and free) unless GRAFT_FAULT_INJECTION is defined, in which case every
// translation unit of the program that includes graft must define it (it changes inline code).
//
// graft marks every point where it allocates something a pass depends on: node creation, a use
// (edge) added, node metadata created, a tensor allocated, a tensor added to a module. A test
// arms the k-th point from now to throw graft::fault::InjectedFault (a std::bad_alloc, so it
// behaves as running out of memory would), runs a pass, and checks the module is unchanged:
//
//   graft::fault::arm(k);            // the k-th point (0-based) from now throws, once
//   try { graft::qat::fuse_conv_bn_qat(m); } catch (const graft::fault::InjectedFault&) { ... }
//   graft::fault::disarm();
//   graft::fault::points_seen();     // how many points were passed since arm()
#pragma once

#include <new>

namespace graft::fault {

// The injected failure: a std::bad_alloc whose what() names the point.
class InjectedFault : public std::bad_alloc {
 public:
  explicit InjectedFault(const char* where) noexcept : where_(where) {}
  const char* what() const noexcept override { return where_; }

 private:
  const char* where_;
};

#ifdef GRAFT_FAULT_INJECTION
namespace detail {
struct State {
  long fail_at = -1;  // the point index that throws; -1: none
  long seen = 0;      // points passed since the last arm()
};
inline State& state() noexcept {
  static thread_local State s;
  return s;
}
}  // namespace detail

// The k-th fault point (0-based) reached from now on this thread throws, once.
inline void arm(long k) noexcept { detail::state() = detail::State{k, 0}; }
// No point throws; the count goes on.
inline void disarm() noexcept { detail::state().fail_at = -1; }
// Points reached on this thread since the last arm().
inline long points_seen() noexcept { return detail::state().seen; }
// A fault point (use GRAFT_FAULT_POINT).
inline void point(const char* where) {
  detail::State& s = detail::state();
  if (s.seen++ == s.fail_at) {
    s.fail_at = -1;
    throw InjectedFault(where);
  }
}
#endif

}  // namespace graft::fault

#ifdef GRAFT_FAULT_INJECTION
#define GRAFT_FAULT_POINT(where) ::graft::fault::point(where)
#else
#define GRAFT_FAULT_POINT(where) static_cast<void>(0)
#endif
