// The per-thread cache of freed graph chunks (graph/detail/chunk_cache.hpp): what it keeps, its
// bound, and that graphs on other threads and at thread exit free what they must.
#include <doctest/doctest.h>

#include <string>
#include <thread>

#include "graft/graph.hpp"

using namespace graft;
using graft::detail::ChunkCache;

namespace {
// A graph of `n` relu nodes, big enough to take several chunks of every kind.
void build_and_drop(int n) {
  Graph g;
  Node* cur = g.placeholder("x");
  for (int i = 0; i < n; ++i) cur = g.call_function("aten.relu.default", {cur});
  g.output(cur);
}
}  // namespace

TEST_CASE("the chunk cache hands a freed block of the same size back, and frees past its bound") {
  ChunkCache cache;
  cache.set_limit(3 * 4096);
  void* a = cache.take(4096);
  void* b = cache.take(4096);
  void* c = cache.take(8192);
  cache.give(a, 4096);
  cache.give(c, 8192);
  CHECK(cache.held() == 4096 + 8192);
  cache.give(b, 4096);  // 16 KiB would pass the 12 KiB bound: freed
  CHECK(cache.held() == 4096 + 8192);
  CHECK(cache.take(4096) == a);
  CHECK(cache.take(8192) == c);
  CHECK(cache.held() == 0);
  void* d = cache.take(4096);  // nothing cached: a new block
  CHECK(d != a);
  cache.give(a, 4096);
  cache.give(c, 8192);
  cache.give(d, 4096);
  CHECK(cache.held() == 4096 + 8192);  // d did not fit: freed
  cache.set_limit(0);                  // everything goes back to the heap
  CHECK(cache.held() == 0);
}

TEST_CASE("the chunk cache keeps at most eight sizes and reuses a bin that is empty") {
  ChunkCache cache;
  cache.set_limit(std::size_t(1) << 20);  // (the default is 0 under AddressSanitizer)
  void* blocks[9];
  for (std::size_t i = 0; i < 9; ++i) blocks[i] = cache.take(64 * (i + 1));
  for (std::size_t i = 0; i < 9; ++i) cache.give(blocks[i], 64 * (i + 1));
  std::size_t eight = 0;
  for (std::size_t i = 0; i < 8; ++i) eight += 64 * (i + 1);
  CHECK(cache.held() == eight);  // the ninth size found no bin: freed
  CHECK(cache.take(64) == blocks[0]);  // its bin is empty now
  void* other = cache.take(64 * 20);
  cache.give(other, 64 * 20);  // takes the emptied bin
  CHECK(cache.held() == eight - 64 + 64 * 20);
  CHECK(cache.take(64 * 20) == other);
  ::operator delete(blocks[0]);  // taken out of the cache: the caller's to free
  ::operator delete(other);
}

TEST_CASE("a destroyed graph leaves its chunks to the next graph on the thread, within the limit") {
  const std::size_t old = set_graph_chunk_cache_limit(0);
  CHECK(graph_chunk_cache_held() == 0);
  build_and_drop(2000);
  CHECK(graph_chunk_cache_held() == 0);  // limit 0: nothing kept
  set_graph_chunk_cache_limit(std::size_t(64) << 20);
  build_and_drop(2000);
  const std::size_t held = graph_chunk_cache_held();
  CHECK(held > 2000 * sizeof(Node));  // the node chunks, at least
  build_and_drop(2000);               // takes them and gives them back
  CHECK(graph_chunk_cache_held() == held);
  CHECK(set_graph_chunk_cache_limit(4096) == (std::size_t(64) << 20));
  CHECK(graph_chunk_cache_held() <= 4096);
  set_graph_chunk_cache_limit(old);
}

TEST_CASE("graphs built on other threads, or moved between threads, free their memory") {
  // AddressSanitizer's leak check fails this test if a thread's cache is not freed at its exit.
  std::thread worker([] {
    set_graph_chunk_cache_limit(std::size_t(64) << 20);  // (0 by default under AddressSanitizer)
    build_and_drop(3000);
    CHECK(graph_chunk_cache_held() > 0);
  });
  worker.join();
  Graph* made_there = nullptr;
  std::thread maker([&] {
    made_there = new Graph;
    Node* x = made_there->placeholder("x");
    made_there->output(made_there->call_function("aten.relu.default", {x}));
  });
  maker.join();
  made_there->lint();
  CHECK(made_there->size() == 3);
  delete made_there;  // its chunks go to this thread's cache
}
