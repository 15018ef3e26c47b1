// Compiles the sequence ops' forward and backward for float and double, once, in the library
// (TAPEGRAD_BUILTIN_OP makes every other file that includes the header use these).
#define TAPEGRAD_COMPILING_BUILTIN_OPS
#include "tapegrad/ops/recurrent.hpp"
