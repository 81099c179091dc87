// graft/pattern/typelist.hpp - compile-time sets of capture tags.
//
// The pattern DSL's bookkeeping: `tl::list<...>` with contains, add, join (union), meet
// (intersection) and index_of, used to compute which captures a pattern binds on every path and
// to give each capture a fixed slot in a match. Internal to the pattern layer.
#pragma once

#include <cstddef>
#include <type_traits>

namespace graft::pattern::tl {

template <typename... T>
struct list {
  static constexpr std::size_t size = sizeof...(T);
};

template <typename L, typename T>
struct contains;
template <typename T, typename... Ts>
struct contains<list<Ts...>, T> : std::bool_constant<(std::is_same_v<T, Ts> || ...)> {};
template <typename L, typename T>
inline constexpr bool contains_v = contains<L, T>::value;

// Appends T unless present.
template <typename L, typename T, bool = contains_v<L, T>>
struct add;
template <typename... Ts, typename T>
struct add<list<Ts...>, T, true> {
  using type = list<Ts...>;
};
template <typename... Ts, typename T>
struct add<list<Ts...>, T, false> {
  using type = list<Ts..., T>;
};

// Set union, keeping first-appearance order.
template <typename A, typename B>
struct join;
template <typename A>
struct join<A, list<>> {
  using type = A;
};
template <typename A, typename T, typename... Ts>
struct join<A, list<T, Ts...>> {
  using type = typename join<typename add<A, T>::type, list<Ts...>>::type;
};
template <typename... Ls>
struct join_all {
  using type = list<>;
};
template <typename L, typename... Ls>
struct join_all<L, Ls...> {
  using type = typename join<L, typename join_all<Ls...>::type>::type;
};
template <typename... Ls>
using join_t = typename join_all<Ls...>::type;

// Set intersection.
template <typename A, typename B>
struct meet;
template <typename B>
struct meet<list<>, B> {
  using type = list<>;
};
template <typename T, typename... Ts, typename B>
struct meet<list<T, Ts...>, B> {
  using rest = typename meet<list<Ts...>, B>::type;
  using type = std::conditional_t<contains_v<B, T>, typename join<list<T>, rest>::type, rest>;
};
template <typename A, typename B>
using meet_t = typename meet<A, B>::type;

template <typename L, typename T>
struct index_of;
template <typename T, typename... Ts>
struct index_of<list<T, Ts...>, T> : std::integral_constant<std::size_t, 0> {};
template <typename T, typename U, typename... Ts>
struct index_of<list<U, Ts...>, T>
    : std::integral_constant<std::size_t, 1 + index_of<list<Ts...>, T>::value> {};
template <typename L, typename T>
inline constexpr std::size_t index_of_v = index_of<L, T>::value;

// True when every element of A is in B.
template <typename A, typename B>
struct subset;
template <typename... As, typename B>
struct subset<list<As...>, B> : std::bool_constant<(contains_v<B, As> && ...)> {};

}  // namespace graft::pattern::tl
