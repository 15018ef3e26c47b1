#include "lm/serve.hpp"

#include <httplib.h>
#include <sys/socket.h>

#include <cctype>
#include <chrono>
#include <list>
#include <mutex>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "lm/generate.hpp"

namespace tapegrad::lm {

using json = nlohmann::json;

namespace {

// JSON text of `j`; bytes that are not UTF-8 (a message quoting a bad request) become U+FFFD
// instead of making dump() throw.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

HttpAnswer error_answer(int status, const std::string& message) {
  return HttpAnswer{status, dump(json{{"error", message}})};
}

// A session id: 1 to 64 letters, digits, '-' or '_' (what a page makes up), so that ids are
// bounded and print plainly in an error.
bool valid_session_id(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  return true;
}

// Brings `p` to having read exactly `tokens`: back to the longest prefix the two share, then
// the rest. Returns how many tokens were read.
std::size_t read_to(train::Predictor& p, const Indices& tokens) {
  const Indices& read = p.tokens();
  std::size_t common = 0;
  while (common < read.size() && common < tokens.size() && read[common] == tokens[common]) ++common;
  p.back(read.size() - common);
  for (std::size_t i = common; i < tokens.size(); ++i) p.feed(tokens[i]);
  return tokens.size() - common;
}

}  // namespace

struct Sessions::Impl {
  struct Session {
    explicit Session(const LanguageModel& lm, std::size_t history) : predictor(*lm.net, history) {
      predictor.never_suggest(never_suggested(lm.vocabulary));
    }
    std::mutex in_use;
    train::Predictor predictor;
  };
  Impl(const LanguageModel& lm, std::size_t capacity, std::size_t history)
      : lm(lm), capacity(capacity), history(history) {}
  const LanguageModel& lm;
  const std::size_t capacity, history;
  mutable std::mutex mutex;       // guards the two below
  std::list<std::string> recent;  // most recently used first
  std::unordered_map<std::string,
                     std::pair<std::shared_ptr<Session>, std::list<std::string>::iterator>>
      by_id;
};

Sessions::Sessions(const LanguageModel& lm, std::size_t capacity, std::size_t history)
    : impl_(std::make_unique<Impl>(lm, capacity, history)) {
  if (capacity == 0) throw Error("Sessions: the capacity must be at least 1, got 0");
}

Sessions::~Sessions() = default;

void Sessions::with(const std::string& id, const std::function<void(train::Predictor&)>& work) {
  Impl& s = *impl_;
  std::shared_ptr<Impl::Session> session;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    auto found = s.by_id.find(id);
    if (found != s.by_id.end()) {
      s.recent.splice(s.recent.begin(), s.recent, found->second.second);
      session = found->second.first;
    } else {
      if (s.by_id.size() == s.capacity) {  // dropped here; a request still using it keeps it
        s.by_id.erase(s.recent.back());
        s.recent.pop_back();
      }
      s.recent.push_front(id);
      session = std::make_shared<Impl::Session>(s.lm, s.history);
      s.by_id.emplace(id, std::make_pair(session, s.recent.begin()));
    }
  }
  std::lock_guard<std::mutex> lock(session->in_use);
  work(session->predictor);
}

std::size_t Sessions::size() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->by_id.size();
}

HttpAnswer answer_complete(const LanguageModel& lm, const std::string& body,
                           const ServeOptions& options, Sessions* sessions) {
  const auto start = std::chrono::steady_clock::now();
  json request;
  try {
    request = json::parse(body);
  } catch (const json::parse_error& e) {
    return error_answer(400, std::string("the body is not JSON (") + e.what() +
                                 "); expected an object like {\"text\": \"king sits on\"}");
  }
  if (!request.is_object())
    return error_answer(400, std::string("expected a JSON object like {\"text\": \"king sits "
                                         "on\"}, got a JSON ") +
                                 request.type_name());
  if (!request.contains("text"))
    return error_answer(400, "missing field \"text\" (the text typed so far, a string)");
  if (!request["text"].is_string())
    return error_answer(
        400, std::string("\"text\" must be a string, got a JSON ") + request["text"].type_name());
  const std::string& text = request["text"].get_ref<const std::string&>();
  if (text.size() > options.max_text_bytes)
    return error_answer(413, "\"text\" holds " + std::to_string(text.size()) + " bytes; at most " +
                                 std::to_string(options.max_text_bytes) + " are read");
  std::size_t top = 3;
  if (request.contains("top")) {
    const json& t = request["top"];
    const bool in_range = t.is_number_integer() && t.get<long long>() >= 1 &&
                          t.get<long long>() <= static_cast<long long>(options.max_top);
    if (!in_range)
      return error_answer(400, "\"top\" must be an integer from 1 to " +
                                   std::to_string(options.max_top) + ", got " + t.dump());
    top = t.get<std::size_t>();
  }
  std::string session;
  if (request.contains("session")) {
    const json& id = request["session"];
    if (!id.is_string() || !valid_session_id(id.get_ref<const std::string&>()))
      return error_answer(400,
                          "\"session\" must be a string of 1 to 64 letters, digits, '-' or "
                          "'_', got " +
                              dump(id));
    session = id.get<std::string>();
  }
  Prompt prompt;
  try {
    prompt = read_prompt(lm.vocabulary, text, true);
  } catch (const Error& e) {  // invalid UTF-8
    return error_answer(400, e.what());
  }

  if (prompt.tokens.empty()) {
    // Nothing typed yet (or nothing the model knows): suggest how a text starts.
    const auto begin = lm.vocabulary.find(lm.vocabulary.level() == Level::character ? "\n" : ".");
    if (begin) prompt.tokens.push_back(*begin);
  }
  json suggestions = json::array();
  std::string completion;
  std::size_t read = 0;
  const auto answer = [&](train::Predictor& predictor) {
    read = read_to(predictor, prompt.tokens);
    if (predictor.empty()) return;
    for (const auto& [index, p] : predictor.top(top))
      suggestions.push_back(
          {{"token", lm.vocabulary.symbol(std::size_t(index))}, {"probability", p}});
    completion = detokenize(lm.vocabulary, suggest_completion(predictor, lm.vocabulary));
  };
  if (sessions && !session.empty()) {
    sessions->with(session, answer);
  } else {
    train::Predictor predictor(*lm.net);
    predictor.never_suggest(never_suggested(lm.vocabulary));
    answer(predictor);
  }
  const double micros =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
  return HttpAnswer{200, json{{"suggestions", suggestions},
                              {"completion", completion},
                              {"unknown", prompt.unknown_words},
                              {"read", read},
                              {"micros", std::llround(micros)}}
                             .dump()};  // every symbol is valid UTF-8
}

struct CompletionServer::Impl {
  Impl(const LanguageModel& lm, ServeOptions options) : lm(lm), options(std::move(options)) {
    if (this->options.sessions > 0) {
      if (this->options.session_history == 0)
        throw Error("serve: a session's history must be at least 1 token, got 0");
      sessions =
          std::make_unique<Sessions>(lm, this->options.sessions, this->options.session_history);
    }
  }
  const LanguageModel& lm;
  ServeOptions options;
  std::unique_ptr<Sessions> sessions;  // null with options.sessions == 0
  httplib::Server server;
  int listening = -1;  // the socket bound last (set_socket_options sees it before bind)
};

CompletionServer::CompletionServer(const LanguageModel& lm, ServeOptions options)
    : impl_(std::make_unique<Impl>(lm, std::move(options))) {
  Impl& s = *impl_;
  const std::size_t threads = s.options.threads == 0 ? 1 : s.options.threads;
  s.server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.server.set_payload_max_length(s.options.max_body_bytes);
  // One request per connection: the pool gives a connection a worker for its whole life, so
  // idle keep-alive connections (a browser opens six) would hold every worker and make the next
  // request wait out their timeout (seen: 5 s round trips from a page with 4 workers).
  s.server.set_keep_alive_max_count(1);
  // cpp-httplib listens with a backlog of 5 (compiled into Debian's library): 32 clients
  // connecting at once overflow it and wait out a 1 s SYN retransmit (seen: p99 1012 ms). The
  // socket is remembered here and its backlog raised after bind() (listen() again on a listening
  // socket sets a new backlog). The option httplib would set itself is kept.
  s.server.set_socket_options([this](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    impl_->listening = sock;
  });
  const auto seconds = static_cast<time_t>(s.options.timeout_seconds);
  const auto micros = static_cast<time_t>((s.options.timeout_seconds - double(seconds)) * 1e6);
  s.server.set_read_timeout(seconds, micros);
  s.server.set_write_timeout(seconds, micros);

  const auto send = [](httplib::Response& res, const HttpAnswer& a) {
    res.status = a.status;
    res.set_content(a.body, "application/json");
  };
  s.server.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(page_html(), "text/html; charset=utf-8");
  });
  s.server.Get("/health", [this, send](const httplib::Request&, httplib::Response& res) {
    const LanguageModel& lm = impl_->lm;
    send(res, HttpAnswer{200, json{{"status", "ok"},
                                   {"model", lm.hp.model},
                                   {"level", lm.vocabulary.level() == Level::character ? "character"
                                                                                       : "word"},
                                   {"vocabulary", lm.vocabulary.size()},
                                   {"sessions", impl_->sessions ? impl_->sessions->size() : 0}}
                                  .dump()});
  });
  s.server.Post("/complete", [this, send](const httplib::Request& req, httplib::Response& res) {
    send(res, answer_complete(impl_->lm, req.body, impl_->options, impl_->sessions.get()));
  });
  // The known paths with another method: 405 with the method that works.
  const auto wrong_method = [send](const char* allowed) {
    return [send, allowed](const httplib::Request& req, httplib::Response& res) {
      res.set_header("Allow", allowed);
      send(res,
           error_answer(405, req.method + " " + req.path + ": not allowed here, use " + allowed));
    };
  };
  s.server.Get("/complete", wrong_method("POST"));
  for (const char* path : {"/", "/health"}) s.server.Post(path, wrong_method("GET"));
  for (const char* path : {"/", "/health", "/complete"}) {
    const char* allowed = std::string(path) == "/complete" ? "POST" : "GET";
    s.server.Put(path, wrong_method(allowed));
    s.server.Delete(path, wrong_method(allowed));
    s.server.Patch(path, wrong_method(allowed));
  }
  // Everything else that ends in an error without a body of its own (an unknown path: 404; a
  // body over the limit: 413) gets a JSON body saying what happened.
  s.server.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string message;
    if (res.status == 404)
      message = "no such path: " + req.method + " " + req.path +
                " (the server has GET /, POST /complete and GET /health)";
    else if (res.status == 413)
      message = "the request body is larger than the " +
                std::to_string(impl_->options.max_body_bytes) + " bytes accepted";
    else
      message = "the request could not be served (HTTP " + std::to_string(res.status) + ")";
    res.set_content(dump(json{{"error", message}}), "application/json");
  });
}

CompletionServer::~CompletionServer() = default;

int CompletionServer::bind() {
  Impl& s = *impl_;
  int port = s.options.port;
  if (port == 0) {
    port = s.server.bind_to_any_port(s.options.host);
  } else if (!s.server.bind_to_port(s.options.host, port)) {
    port = -1;
  }
  if (port < 0)
    throw Error("serve: cannot listen on " + s.options.host + ":" + std::to_string(s.options.port) +
                " (in use, or not an address of this machine)");
  if (s.listening >= 0) ::listen(s.listening, SOMAXCONN);
  return port;
}

void CompletionServer::serve() { impl_->server.listen_after_bind(); }

void CompletionServer::stop() { impl_->server.stop(); }

}  // namespace tapegrad::lm

namespace tapegrad::lm {

const std::string& page_html() {
  static const std::string page = R"PAGE(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tapegrad-lm: suggestions as you type</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  h1 { font-size: 1.3rem; margin-bottom: .2rem; }
  .model { color: #666; font-size: .9rem; margin-bottom: 1rem; }
  textarea { width: 100%; box-sizing: border-box; height: 7rem; font: inherit; padding: .6rem; border: 1px solid #aaa; border-radius: .4rem; }
  #chips { min-height: 2.6rem; margin: .6rem 0; display: flex; flex-wrap: wrap; gap: .4rem; }
  .chip { border: 1px solid #888; border-radius: 1rem; padding: .15rem .8rem; background: #f4f4f4; cursor: pointer; font: inherit; }
  .chip.first { background: #dbeafe; border-color: #3b82f6; }
  .chip small { color: #555; margin-left: .3rem; }
  #status { color: #555; font-size: .85rem; }
  #status.error { color: #b91c1c; }
</style>
</head>
<body>
<h1>Suggestions as you type</h1>
<div class="model" id="model">loading the model...</div>
<textarea id="text" autofocus placeholder="Type here; Tab takes the first suggestion"></textarea>
<div id="chips"></div>
<div id="status">&nbsp;</div>
<script>
"use strict";
const text = document.getElementById("text");
const chips = document.getElementById("chips");
const status = document.getElementById("status");
let level = "word", asked = 0, shown = 0, first = null;

function accept(piece) {
  if (!piece) return;
  if (level === "word" && text.value !== "" && !/\s$/.test(text.value)) text.value += " ";
  text.value += piece;
  if (level === "word") text.value += " ";
  text.focus();
  suggest();
}

function render(answer) {
  chips.textContent = "";
  first = null;
  const pieces = [];
  if (level === "character" && answer.completion) pieces.push([answer.completion, null]);
  for (const s of answer.suggestions) pieces.push([s.token, s.probability]);
  pieces.forEach(([piece, p], i) => {
    const b = document.createElement("button");
    b.className = i === 0 ? "chip first" : "chip";
    b.textContent = piece === "\n" ? "\u21b5" : piece;
    if (p !== null) {
      const small = document.createElement("small");
      small.textContent = (100 * p).toFixed(1) + "%";
      b.appendChild(small);
    }
    b.addEventListener("mousedown", e => { e.preventDefault(); accept(piece); });
    chips.appendChild(b);
    if (i === 0) first = piece;
  });
}

// This page's session: the server keeps its state between key presses and reads only what changed.
const session = Array.from({ length: 4 }, () => Math.random().toString(36).slice(2, 10)).join("");

async function suggest() {
  const id = ++asked;
  const typed = text.value;
  const t0 = performance.now();
  try {
    const r = await fetch("/complete", { method: "POST", headers: { "Content-Type": "application/json" },
                                         body: JSON.stringify({ text: typed, top: 5, session }) });
    const answer = await r.json();
    if (id < shown) return;  // an older answer arriving late
    shown = id;
    if (!r.ok) throw new Error(answer.error || ("HTTP " + r.status));
    render(answer);
    chips.dataset.for = typed;  // the text these suggestions answer
    const note = answer.unknown.length ? " \u00b7 not in the vocabulary: " + answer.unknown.join(" ") : "";
    status.className = "";
    status.textContent = "model " + (answer.micros / 1000).toFixed(2) + " ms, round trip " +
                         (performance.now() - t0).toFixed(1) + " ms" + note;
  } catch (e) {
    status.className = "error";
    status.textContent = String(e.message || e);
  }
}

text.addEventListener("input", suggest);
text.addEventListener("keydown", e => {
  if (e.key === "Tab" && first !== null) { e.preventDefault(); accept(first); }
});
fetch("/health").then(r => r.json()).then(h => {
  level = h.level;
  document.getElementById("model").textContent =
    h.model + " language model, " + h.level + " level, vocabulary of " + h.vocabulary;
  suggest();
});
</script>
</body>
</html>
)PAGE";
  return page;
}

}  // namespace tapegrad::lm
