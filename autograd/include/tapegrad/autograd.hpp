#pragma once
// Everything of the engine: tensors, the tape, the built-in ops and gradcheck.
#include "tapegrad/error.hpp"
#include "tapegrad/gradcheck.hpp"
#include "tapegrad/op.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/tape.hpp"
#include "tapegrad/tensor.hpp"
