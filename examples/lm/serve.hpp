#pragma once
// tapegrad-lm serve: autocomplete over HTTP (cpp-httplib), for a page that suggests as you type.
//
//   GET  /          one self-contained page: a text box whose suggestions follow every key
//   POST /complete  {"text": "king sits on", "top": 3} ->
//                   {"suggestions": [{"token": "the", "probability": 0.93}, ...],
//                    "completion": "the", "unknown": [], "read": 12, "micros": 412}
//   GET  /health    {"status": "ok", ...}
//
// A request that names a session ({"text": ..., "session": "k3x9"}, as the page does) continues
// that typist's Predictor: the text is compared with what the session read last and only the
// difference is read (one step per key typed, back() for a key erased). A request without one
// reads its text with a Predictor of its own. Either way the model is shared and read-only, so
// requests run in parallel on the server's bounded worker pool. Bad requests get a 4xx with a JSON
// {"error": "..."} naming what was expected and what was given, and the server goes on serving:
// malformed JSON or a missing or mistyped field (400), invalid UTF-8 (400), "top" out of range
// (400), a body over the limit (413), an unknown path (404) or method (405). Characters or words
// the vocabulary lacks are listed in "unknown", not refused.
#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include <tapegrad/train/predictor.hpp>

#include "lm/model_dir.hpp"

namespace tapegrad::lm {

struct ServeOptions {
  std::string host = "127.0.0.1";  // loopback unless told otherwise
  int port = 8080;                 // 0: any free port (bind() says which)
  std::size_t threads = 4;         // the worker pool: requests served at once
  std::size_t max_body_bytes = 16 * 1024;
  std::size_t max_text_bytes = 4096;  // "text" longer than this: 413
  std::size_t max_top = 50;
  std::size_t sessions = 256;        // typists whose state is kept; the least recent goes first
  std::size_t session_history = 32;  // tokens each session can erase without a re-read
  double timeout_seconds = 5;        // reading or writing one request
};

/// A status and a JSON body.
struct HttpAnswer {
  int status;
  std::string body;
};

/// The predictors of the typists a server keeps between requests, by session id, at most
/// `capacity` of them (the one used least recently is dropped for a new one). Each holds a
/// hidden state and `history` snapshots: about (history + 1) * layers * hidden * 4 bytes, twice
/// that for an LSTM.
class Sessions {
 public:
  Sessions(const LanguageModel& lm, std::size_t capacity, std::size_t history);
  ~Sessions();
  Sessions(const Sessions&) = delete;
  Sessions& operator=(const Sessions&) = delete;

  /// Runs `work` on session `id`'s predictor (a new one, empty, for an id not held), which no
  /// other call uses meanwhile. Different sessions run at once.
  void with(const std::string& id, const std::function<void(train::Predictor&)>& work);
  /// Sessions held now.
  std::size_t size() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The answer to a POST /complete body (the server's work without the server, for tests).
/// `sessions`: where a request's "session" is kept (nullptr: every request reads its text anew).
HttpAnswer answer_complete(const LanguageModel& lm, const std::string& body,
                           const ServeOptions& options, Sessions* sessions = nullptr);
/// The page GET / serves: HTML with its script and style inline, no external assets.
const std::string& page_html();

class CompletionServer {
 public:
  CompletionServer(const LanguageModel& lm, ServeOptions options);
  ~CompletionServer();
  CompletionServer(const CompletionServer&) = delete;
  CompletionServer& operator=(const CompletionServer&) = delete;

  /// Binds host:port (port 0: a free port); returns the port. An Error names the address when it
  /// cannot be bound.
  int bind();
  /// Serves until stop() (from another thread or a signal watcher). bind() first.
  void serve();
  /// Ends serve() after the requests in progress.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tapegrad::lm
