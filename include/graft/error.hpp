// graft/error.hpp - the exceptions graft throws.
//
// Every graft error derives from graft::Error (a std::runtime_error), so one catch clause covers
// the library; the message names the node, argument, tensor, file or byte offset at fault. This
// header has the graph and tensor errors; the layers add their own (ExecError in
// exec/interpreter.hpp, FormatError and FileError in io/, SafetensorsError in io/safetensors.hpp).
#pragma once

#include <stdexcept>
#include <string>

namespace graft {

// Base of every graft error; `what()` names the node, argument or byte offset at fault.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A graph operation that would break an invariant (erasing a used node, a use before its
// definition, a duplicate name, ...), or a failed `lint()`.
class GraphError : public Error {
 public:
  using Error::Error;
};

// An argument read through an op schema that the schema does not have, or of the wrong kind.
class SchemaError : public Error {
 public:
  using Error::Error;
};

// A tensor whose dtype, shape or size is invalid for what was asked of it.
class TensorError : public Error {
 public:
  using Error::Error;
};

}  // namespace graft
