#pragma once
// tapegrad-lm serve: autocomplete over HTTP (cpp-httplib), for a page that suggests as you type.
//
//   GET  /          one self-contained page: a text box whose suggestions follow every key
//   POST /complete  {"text": "king sits on", "top": 3} ->
//                   {"suggestions": [{"token": "the", "probability": 0.93}, ...],
//                    "completion": "the", "unknown": [], "micros": 412}
//   GET  /health    {"status": "ok", ...}
//
// Every request reads its text with a Predictor of its own over the one model (read-only), so
// requests run in parallel on the server's bounded worker pool. Bad requests get a 4xx with a JSON
// {"error": "..."} naming what was expected and what was given, and the server goes on serving:
// malformed JSON or a missing or mistyped field (400), invalid UTF-8 (400), "top" out of range
// (400), a body over the limit (413), an unknown path (404) or method (405). Characters or words
// the vocabulary lacks are listed in "unknown", not refused.
#include <atomic>
#include <cstddef>
#include <memory>
#include <string>

#include "lm/model_dir.hpp"

namespace tapegrad::lm {

struct ServeOptions {
  std::string host = "127.0.0.1";  // loopback unless told otherwise
  int port = 8080;                 // 0: any free port (bind() says which)
  std::size_t threads = 4;         // the worker pool: requests served at once
  std::size_t max_body_bytes = 16 * 1024;
  std::size_t max_text_bytes = 4096;  // "text" longer than this: 413
  std::size_t max_top = 50;
  double timeout_seconds = 5;  // reading or writing one request
};

/// A status and a JSON body.
struct HttpAnswer {
  int status;
  std::string body;
};

/// The answer to a POST /complete body (the server's work without the server, for tests).
HttpAnswer answer_complete(const LanguageModel& lm, const std::string& body,
                           const ServeOptions& options);
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
