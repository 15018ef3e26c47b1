#pragma once
// Layers and training: modules, initialisers, layers (dropout among them), optimisers and
// clipping.
#include "tapegrad/nn/atomic_file.hpp"
#include "tapegrad/nn/checkpoint.hpp"
#include "tapegrad/nn/conv1d.hpp"
#include "tapegrad/nn/dropout.hpp"
#include "tapegrad/nn/init.hpp"
#include "tapegrad/nn/linear.hpp"
#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/optim.hpp"
#include "tapegrad/nn/read_file.hpp"
#include "tapegrad/nn/recurrent.hpp"
#include "tapegrad/nn/state_dict.hpp"
