// Compile-cost probe (i): the one file of the separately compiled mode (GRAFT_EXTERN_TEMPLATES),
// which compiles graft's passes, interpreter and readers once for the whole program.
#include "graft/instantiate.hpp"
