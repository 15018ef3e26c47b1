// The README's "gradient in twenty lines", built against the installed package: it must
// compile as printed and its training must work.
#include <iostream>

#include <tapegrad/autograd.hpp>
using namespace tapegrad;

int main() {
  Parameter<float> W(Tensor<float>{{0.5f, -0.2f}, {0.1f, 0.3f}}, "W");  // persists across steps
  Parameter<float> b(Tensor<float>{0.0f, 0.1f}, "b");
  Tape<float> tape;
  float first = 0, last = 0;
  for (int step = 0; step < 100; ++step) {
    Var<float> x = tape.constant(Tensor<float>{{1.0f, 2.0f}});      // data: no gradient
    Var<float> h = tanh(matmul(x, tape.param(W)) + tape.param(b));  // [1,2] + [2] broadcasts
    Var<float> loss = softmax_cross_entropy(h, Indices{1});
    tape.backward(loss);  // W.grad, b.grad += ...
    for (Parameter<float>* p : {&W, &b}) {
      p->value -= 0.1f * p->grad;  // plain SGD
      p->zero_grad();
    }
    (step == 0 ? first : last) = loss.item();
    tape.clear();  // keeps every buffer: the next step reuses them
  }
  std::cout << "loss " << first << " -> " << last << "\n";
  return last < first ? 0 : 1;
}
