// libFuzzer target: the safetensors reader (io/safetensors.hpp) on arbitrary bytes. Properties:
// it returns tensors or throws a graft::Error; what it accepts serialises to bytes that parse back
// to the same names, dtypes, shapes, bytes and metadata.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace graft;
  const SafetensorsLimits limits = fuzz::read_options().weights;
  SafetensorsFile file;
  try {
    file = parse_safetensors(data, size, "<fuzz>", limits);
  } catch (const Error&) {
    return 0;
  }
  std::string bytes;
  try {
    bytes = serialize_safetensors(file.tensors, file.metadata);
  } catch (const Error& e) {
    // Every dtype the reader accepts is one the writer can write.
    fuzz::violated("graft writes what it read", e.what());
  }
  SafetensorsFile back;
  try {
    back = parse_safetensors(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), "<rewritten>", limits);
  } catch (const Error& e) {
    fuzz::violated("graft reads what it wrote", e.what());
  }
  fuzz::require(back.metadata == file.metadata, "metadata survives a round trip");
  fuzz::require(back.tensors.size() == file.tensors.size(), "tensor count survives a round trip");
  for (std::size_t i = 0; i < file.tensors.size(); ++i) {
    const auto& [name, t] = file.tensors[i];
    const Tensor* u = back.find(name);
    fuzz::require(u != nullptr, "every tensor survives a round trip", name);
    fuzz::require(u->dtype() == t.dtype() && u->shape() == t.shape(), "dtype and shape survive a round trip", name);
    fuzz::require(u->nbytes() == t.nbytes() && (t.nbytes() == 0 || std::memcmp(u->raw_data(), t.raw_data(), t.nbytes()) == 0),
                  "tensor bytes survive a round trip", name);
  }
  return 0;
}
