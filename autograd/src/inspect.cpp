// Seeing inside a recording: scope paths, the bytes each node keeps for backward, the Wengert
// list (Tape::listing) and the Graphviz picture (Tape::to_dot). Nothing here runs while a
// program trains; it reads what recording left behind.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>
#include <unordered_map>

#include "tapegrad/op.hpp"

namespace tapegrad {
namespace {

std::string format_bytes(std::size_t bytes) {
  char buf[32];
  if (bytes < 1024) {
    std::snprintf(buf, sizeof buf, "%zu B", bytes);
  } else {
    const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
    double v = double(bytes) / 1024;
    std::size_t u = 0;
    while (v >= 1024 && u + 1 < 4) v /= 1024, ++u;
    std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  }
  return buf;
}

// A string as a DOT quoted string's contents.
std::string dot_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch == '\n' ? ' ' : ch;
  }
  return out;
}

std::string short_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2g", v);
  return buf;
}

template <class T>
double norm_of(const Tensor<T>& t) {
  double s = 0;
  for (const T& v : t) s += double(v) * double(v);
  return std::sqrt(s);
}

// From a pale grey-blue (weak gradient) to a dark red (strong): where a fraction in [0, 1] of
// the log range of the gradient norms on the tape falls.
std::string heat_colour(double fraction) {
  struct Stop {
    double at;
    int r, g, b;
  };
  static const Stop stops[] = {
      {0.0, 0xd0, 0xd8, 0xe8}, {0.5, 0xf4, 0xa5, 0x82}, {1.0, 0xb2, 0x18, 0x2b}};
  fraction = std::clamp(fraction, 0.0, 1.0);
  std::size_t k = fraction <= stops[1].at ? 0 : 1;
  const Stop &a = stops[k], &b = stops[k + 1];
  const double f = (fraction - a.at) / (b.at - a.at);
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", int(a.r + f * (b.r - a.r)),
                int(a.g + f * (b.g - a.g)), int(a.b + f * (b.b - a.b)));
  return buf;
}

}  // namespace

template <class T>
void Tape<T>::append_label(std::uint32_t scope, std::string& out) const {
  const detail::ScopeLabel& l = scopes_[scope];
  if (l.parent != 0) {
    append_label(l.parent, out);
    out += '/';
  }
  if (l.name) {
    out += l.name;
    out += std::to_string(l.number);
  } else {
    out += l.text;
  }
}

template <class T>
std::string Tape<T>::scope_path(std::size_t i) const {
  check_position("Tape::scope_path", i);
  std::string out;
  if (nodes_[i].scope != 0) append_label(nodes_[i].scope, out);
  return out;
}

template <class T>
std::size_t Tape<T>::saved_bytes(std::size_t i) const {
  check_position("Tape::saved_bytes", i);
  const detail::Node<T>& n = nodes_[i];
  if (n.param) return 0;
  std::size_t elements = n.value.size();
  for (std::size_t k = 0; k < n.saved_live; ++k) elements += n.saved[k].size();
  std::size_t bytes = elements * sizeof(T);
  if (n.indices_live) bytes += n.saved_indices.size() * sizeof(std::int64_t);
  return bytes;
}

template <class T>
std::vector<typename Tape<T>::ScopeTotal> Tape<T>::saved_bytes_by_scope() const {
  std::vector<ScopeTotal> totals;
  std::unordered_map<std::string, std::size_t> where;
  for (std::size_t i = 0; i < size_; ++i) {
    std::string path = scope_path(i);
    auto [it, added] = where.emplace(path, totals.size());
    if (added) totals.push_back({std::move(path), 0, 0});
    ScopeTotal& t = totals[it->second];
    ++t.nodes;
    t.bytes += saved_bytes(i);
  }
  return totals;
}

template <class T>
std::string Tape<T>::listing(bool per_node) const {
  std::ostringstream os;
  if (per_node) {
    for (std::size_t i = 0; i < size_; ++i) {
      const detail::Node<T>& n = nodes_[i];
      std::string line = "%" + std::to_string(i) + " = ";
      if (n.kind == detail::NodeKind::op) {
        line += n.op->name;
        line += '(';
        for (std::uint32_t k = 0; k < n.in_count; ++k)
          line += (k ? ", %" : "%") + std::to_string(edges_[n.in_begin + k]);
        line += ')';
      } else if (n.param) {
        line += "parameter";
        if (!n.param->name.empty()) line += " " + n.param->name;
      } else {
        line += n.one_hot ? "one_hot" : op_name(i);
      }
      if (line.size() < 36) line.resize(36, ' ');
      std::string shape = shape_str(n.val().shape());
      if (shape.size() < 14) shape.resize(14, ' ');
      line += "  " + shape;
      std::string saved = n.param ? "" : "saved " + format_bytes(saved_bytes(i));
      if (saved.size() < 16) saved.resize(16, ' ');
      line += "  " + saved + "  " + scope_path(i);
      while (!line.empty() && line.back() == ' ') line.pop_back();
      os << line << '\n';
    }
    os << '\n';
  }
  os << "saved for backward, by scope:\n";
  std::size_t nodes = 0, bytes = 0;
  for (const ScopeTotal& t : saved_bytes_by_scope()) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%6zu %-5s  %12s  ", t.nodes, t.nodes == 1 ? "node" : "nodes",
                  format_bytes(t.bytes).c_str());
    os << "  " << buf << (t.path.empty() ? "(no scope)" : t.path) << '\n';
    nodes += t.nodes;
    bytes += t.bytes;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%6zu %-5s  %12s  ", nodes, nodes == 1 ? "node" : "nodes",
                format_bytes(bytes).c_str());
  os << "  " << buf << "in all\n";
  return os.str();
}

template <class T>
std::string Tape<T>::to_dot() const {
  // Gradient norms, where the last backward() left one (a parameter: its accumulated gradient).
  std::vector<double> norm(size_, -1);
  double lo = INFINITY, hi = 0;
  if (released_) {
    for (std::size_t i = 0; i < size_; ++i) {
      const detail::Node<T>& n = nodes_[i];
      if (!n.grad_live) continue;
      norm[i] = norm_of(n.param ? n.param->grad : n.grad);
      if (norm[i] > 0) lo = std::min(lo, norm[i]), hi = std::max(hi, norm[i]);
    }
  }
  auto fraction = [&](double v) {
    if (!(v > 0) || !(hi > lo)) return v > 0 ? 1.0 : 0.0;
    return (std::log(v) - std::log(lo)) / (std::log(hi) - std::log(lo));
  };

  // One DOT node per parameter, however many tape nodes bind it.
  std::map<const Parameter<T>*, std::size_t> param_id;
  auto id_of = [&](std::size_t i) {
    const detail::Node<T>& n = nodes_[i];
    if (n.param) return "p" + std::to_string(param_id.emplace(n.param, i).first->second);
    return "n" + std::to_string(i);
  };
  auto node_line = [&](std::size_t i) {
    const detail::Node<T>& n = nodes_[i];
    std::string label = "%" + std::to_string(i) + " ";
    std::string attrs;
    if (n.kind == detail::NodeKind::op) {
      label += n.op->name;
    } else if (n.param) {
      label = n.param->name.empty() ? "parameter" : n.param->name;
      attrs = ", shape=box, fillcolor=\"#fde8c8\"";
    } else if (n.kind == detail::NodeKind::leaf) {
      label += "leaf";
      attrs = ", fillcolor=\"#e0f0e0\"";
    } else {
      label += n.one_hot ? "one_hot" : "constant";
      attrs = ", fillcolor=\"#eeeeee\", fontcolor=\"#555555\"";
    }
    // "\n" is DOT's line break inside a label: added after the user's text is escaped.
    label = dot_escape(label) + "\\n" + shape_str(n.val().shape());
    if (norm[i] >= 0) label += "\\n|grad| " + short_number(norm[i]);
    return "  " + id_of(i) + " [label=\"" + label + "\"" + attrs + "];\n";
  };

  std::ostringstream os;
  os << "digraph tape {\n"
        "  rankdir=LR;\n"
        "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", "
        "fontname=\"Helvetica\", "
        "fontsize=10];\n"
        "  edge [fontname=\"Helvetica\", fontsize=8, color=\"#888888\"];\n";
  // Clusters, nested as the scopes nest; nodes outside any scope and parameters at the top.
  std::vector<std::vector<std::size_t>> nodes_in(scope_count_), children(scope_count_);
  for (std::uint32_t s = 1; s < scope_count_; ++s) children[scopes_[s].parent].push_back(s);
  for (std::size_t i = 0; i < size_; ++i)
    if (!nodes_[i].param) nodes_in[nodes_[i].scope].push_back(i);
  for (std::size_t i = 0; i < size_; ++i) {
    const detail::Node<T>& n = nodes_[i];
    if (n.param && param_id.find(n.param) == param_id.end()) os << node_line(i);
  }
  std::function<void(std::uint32_t, int)> emit = [&](std::uint32_t s, int depth) {
    const std::string indent(2 * depth, ' ');
    for (std::size_t i : nodes_in[s]) os << indent << node_line(i);
    for (std::uint32_t c : children[s]) {
      std::string label;
      const detail::ScopeLabel& l = scopes_[c];
      label = l.name ? l.name + std::to_string(l.number) : l.text;
      os << indent << "  subgraph cluster_" << c << " {\n"
         << indent << "    label=\"" << dot_escape(label) << "\"; style=\"rounded\"; "
         << "color=\"#aaaaaa\"; fontname=\"Helvetica\"; fontsize=10;\n";
      emit(c, depth + 1);
      os << indent << "  }\n";
    }
  };
  emit(0, 0);
  // Edges: input -> op, coloured by the gradient at the op's output (what flows back along it).
  for (std::size_t i = 0; i < size_; ++i) {
    const detail::Node<T>& n = nodes_[i];
    for (std::uint32_t k = 0; k < n.in_count; ++k) {
      const std::uint32_t from = edges_[n.in_begin + k];
      // A weight's edges reach every step: they must not pull the steps' layout together
      // (constraint=false), and they stay thin and unlabelled so the unrolled chain reads.
      const bool weight = nodes_[from].param != nullptr;
      std::vector<std::string> attrs;
      if (weight) attrs.push_back("constraint=false");
      if (norm[i] >= 0 && nodes_[from].requires_grad) {
        const double f = fraction(norm[i]);
        char width[16];
        std::snprintf(width, sizeof width, "%.1f", weight ? 0.6 + f : 1 + 2 * f);
        attrs.push_back("color=\"" + heat_colour(f) + "\"");
        attrs.push_back(std::string("penwidth=") + width);
        if (!weight) attrs.push_back("label=\"" + short_number(norm[i]) + "\"");
      }
      os << "  " << id_of(from) << " -> " << id_of(i);
      for (std::size_t a = 0; a < attrs.size(); ++a) os << (a ? ", " : " [") << attrs[a];
      os << (attrs.empty() ? ";\n" : "];\n");
    }
  }
  os << "}\n";
  return os.str();
}

#define TAPEGRAD_TAPE_INSPECT(T)                                                   \
  template void Tape<T>::append_label(std::uint32_t, std::string&) const;          \
  template std::string Tape<T>::scope_path(std::size_t) const;                     \
  template std::size_t Tape<T>::saved_bytes(std::size_t) const;                    \
  template std::vector<Tape<T>::ScopeTotal> Tape<T>::saved_bytes_by_scope() const; \
  template std::string Tape<T>::listing(bool) const;                               \
  template std::string Tape<T>::to_dot() const;
TAPEGRAD_TAPE_INSPECT(float)
TAPEGRAD_TAPE_INSPECT(double)
#undef TAPEGRAD_TAPE_INSPECT

}  // namespace tapegrad
