// d/dw sum(w^2) = 2w: the smallest program that proves the installed package works.
#include <iostream>

#include <tapegrad/autograd.hpp>

int main() {
  using namespace tapegrad;
  Parameter<float> w(Tensor<float>{1, 2, 3});
  Tape<float> tape;
  tape.backward(sum(square(tape.param(w))));
  std::cout << "dloss/dw = " << shape_str(w.grad) << "\n";
  return 0;
}
