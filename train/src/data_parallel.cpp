#include "tapegrad/train/data_parallel.hpp"

#include "tapegrad/train/fingerprint.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>

namespace tapegrad::train {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::size_t env_count(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return 0;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v, &end, 10);
  return end != nullptr && *end == '\0' ? std::size_t(n) : 0;
}

}  // namespace

std::size_t launched_processes() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"})
    if (const std::size_t n = env_count(name)) return n;
  return 0;
}

std::string broadcast_string(ProcessGroup& group, const std::string& text, std::size_t root) {
  std::uint64_t length = text.size();
  group.broadcast(&length, sizeof length, root);
  std::string out = group.rank() == root ? text : std::string(length, '\0');
  if (length > 0) group.broadcast(out.data(), length, root);
  return out;
}

void run_on_root(ProcessGroup* group, const std::function<void()>& work, std::size_t root) {
  if (!is_parallel(group)) {
    work();
    return;
  }
  // 0: done; 1: failed with a message. Only root works, so only root's outcome is sent.
  std::string failure;
  std::uint8_t failed = 0;
  if (group->rank() == root) {
    try {
      work();
    } catch (const std::exception& e) {
      failure = e.what();
      failed = 1;
    }
  }
  group->broadcast(&failed, 1, root);
  if (!failed) return;
  throw CollectiveError(broadcast_string(*group, failure, root));
}

void check_same_everywhere(ProcessGroup& group, std::uint64_t value, const std::string& what) {
  if (group.size() < 2) return;
  std::uint64_t root_value = value;
  group.broadcast(&root_value, sizeof root_value, 0);
  // Slot r is 1 when process r differs: every process learns which ones do.
  std::vector<double> differs(group.size(), 0.0);
  differs[group.rank()] = value == root_value ? 0.0 : 1.0;
  group.sum(differs.data(), differs.size());
  std::string which;
  std::size_t count = 0;
  for (std::size_t r = 0; r < differs.size(); ++r)
    if (differs[r] != 0) {
      which += (count++ ? ", " : "") + std::to_string(r);
    }
  if (count > 0)
    throw CollectiveError(what + ": process" + (count > 1 ? "es " : " ") + which + " differ" +
                          (count > 1 ? "" : "s") + " from process 0");
}

template <class T>
std::uint64_t fingerprint_values(const std::vector<Parameter<T>*>& parameters) {
  std::uint64_t h = kFnvOffset;
  for (const Parameter<T>* p : parameters) fnv1a(h, p->value.data(), p->value.size() * sizeof(T));
  return h;
}

template <class T>
std::uint64_t fingerprint_layout(const std::vector<Parameter<T>*>& parameters) {
  std::uint64_t h = kFnvOffset;
  for (const Parameter<T>* p : parameters) {
    fnv1a(h, p->name.data(), p->name.size());
    const std::uint64_t rank = p->value.dimension();
    fnv1a(h, &rank, sizeof rank);
    for (std::size_t d : p->value.shape()) {
      const std::uint64_t extent = d;
      fnv1a(h, &extent, sizeof extent);
    }
  }
  return h;
}

template <class T>
void broadcast_tensors(ProcessGroup& group, const std::vector<Tensor<T>*>& tensors) {
  if (group.size() < 2) return;
  std::uint64_t h = kFnvOffset;
  for (const Tensor<T>* t : tensors)
    for (std::size_t d : t->shape()) {
      const std::uint64_t extent = d;
      fnv1a(h, &extent, sizeof extent);
    }
  check_same_everywhere(group, h, "broadcast_tensors: the tensors' shapes");
  for (Tensor<T>* t : tensors)
    if (t->size() > 0) group.broadcast(t->data(), t->size() * sizeof(T), 0);
}

template <class T>
void broadcast_parameters(ProcessGroup& group, nn::Module<T>& model) {
  if (group.size() < 2) return;
  const std::vector<Parameter<T>*> parameters = model.parameters();
  check_same_everywhere(group, fingerprint_layout(parameters),
                        "broadcast_parameters: the parameters' names and shapes");
  std::vector<Tensor<T>*> values;
  for (Parameter<T>* p : parameters) values.push_back(&p->value);
  broadcast_tensors(group, values);
}

template <class T>
GradientAverager<T>::GradientAverager(ProcessGroup& group, std::vector<Parameter<T>*> parameters,
                                      std::size_t extra)
    : group_(group), parameters_(std::move(parameters)), extra_(extra) {
  std::size_t n = extra_;
  for (const Parameter<T>* p : parameters_) n += p->value.size();
  buffer_.assign(n, T(0));
}

template <class T>
void GradientAverager<T>::operator()(T* extra_values) {
  if (extra_ > 0 && extra_values == nullptr)
    throw Error("GradientAverager: " + std::to_string(extra_) +
                " extra values to average, given none");
  const std::size_t processes = group_.size();
  if (processes < 2) return;
  Clock::time_point start = Clock::now();
  T* at = buffer_.data();
  for (Parameter<T>* p : parameters_) {
    // A gradient no backward pass reached may still be unallocated: it counts as zeros.
    if (p->grad.size() != p->value.size()) p->zero_grad();
    at = std::copy(p->grad.data(), p->grad.data() + p->grad.size(), at);
  }
  std::copy(extra_values, extra_values + extra_, at);
  copy_seconds_ += seconds_since(start);

  start = Clock::now();
  group_.sum(buffer_.data(), buffer_.size());
  sum_seconds_ += seconds_since(start);

  start = Clock::now();
  const T scale = T(1) / T(processes);
  const T* from = buffer_.data();
  for (Parameter<T>* p : parameters_) {
    T* g = p->grad.data();
    for (std::size_t i = 0, n = p->grad.size(); i < n; ++i) g[i] = from[i] * scale;
    from += p->grad.size();
  }
  for (std::size_t i = 0; i < extra_; ++i) extra_values[i] = from[i] * scale;
  copy_seconds_ += seconds_since(start);
}

template std::uint64_t fingerprint_values(const std::vector<Parameter<float>*>&);
template std::uint64_t fingerprint_values(const std::vector<Parameter<double>*>&);
template std::uint64_t fingerprint_layout(const std::vector<Parameter<float>*>&);
template std::uint64_t fingerprint_layout(const std::vector<Parameter<double>*>&);
template void broadcast_tensors(ProcessGroup&, const std::vector<Tensor<float>*>&);
template void broadcast_tensors(ProcessGroup&, const std::vector<Tensor<double>*>&);
template void broadcast_parameters(ProcessGroup&, nn::Module<float>&);
template void broadcast_parameters(ProcessGroup&, nn::Module<double>&);
template class GradientAverager<float>;
template class GradientAverager<double>;

}  // namespace tapegrad::train
