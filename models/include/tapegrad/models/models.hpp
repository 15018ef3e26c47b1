#pragma once
#include "tapegrad/models/char_lm.hpp"
#include "tapegrad/models/next_word.hpp"
#include "tapegrad/models/sequence_regressor.hpp"
#include "tapegrad/models/sine_regressor.hpp"
