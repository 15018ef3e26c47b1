// tapegrad-lm serve over real HTTP: a server on a free loopback port in this process, asked by
// cpp-httplib's client. The answers, the page, every kind of bad request (a 4xx naming what was
// expected, and the server still serving after it), and many clients at once.
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "lm/generate.hpp"
#include "lm/lm_support.hpp"
#include "lm/serve.hpp"

using namespace tapegrad;
using namespace tapegrad::lm;
using json = nlohmann::json;
using lmtest::builtin_word_model;
using lmtest::contains;

namespace {

// The server on a free port, serving on its own thread until the fixture ends.
struct RunningServer {
  explicit RunningServer(const LanguageModel& lm, ServeOptions o = {}) {
    o.port = 0;
    server = std::make_unique<CompletionServer>(lm, o);
    port = server->bind();
    thread = std::thread([this] { server->serve(); });
  }
  ~RunningServer() {
    server->stop();
    thread.join();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(10, 0);
    return c;
  }
  std::unique_ptr<CompletionServer> server;
  int port = 0;
  std::thread thread;
};

// POST /complete with `body`: the status and the JSON answer.
std::pair<int, json> complete(const RunningServer& s, const std::string& body) {
  auto r = s.client().Post("/complete", body, "application/json");
  BOOST_TEST_REQUIRE(bool(r));
  return {r->status, json::parse(r->body)};
}

bool healthy(const RunningServer& s) {
  auto r = s.client().Get("/health");
  return r && r->status == 200 && json::parse(r->body)["status"] == "ok";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(lm_serve)

BOOST_AUTO_TEST_CASE(suggests_the_next_word_over_http) {
  RunningServer s(builtin_word_model());
  const auto [status, answer] = complete(s, R"({"text": "king sits on", "top": 3})");
  BOOST_TEST(status == 200);
  BOOST_TEST_REQUIRE(answer["suggestions"].size() == 3u);
  BOOST_TEST(answer["suggestions"][0]["token"] == "the");
  BOOST_TEST(answer["suggestions"][0]["probability"].get<double>() > 0.8);
  BOOST_TEST(answer["suggestions"][0]["probability"].get<double>() >=
             answer["suggestions"][1]["probability"].get<double>());
  BOOST_TEST(answer["completion"] == "the");  // word level: the most likely next word
  BOOST_TEST(answer["unknown"].empty());
  BOOST_TEST(answer["micros"].is_number_integer());  // the time the model took, in us
  // The same as the library's complete().
  const Completion c = lm::complete(builtin_word_model(), "king sits on", 3);
  for (std::size_t i = 0; i < 3; ++i) {
    BOOST_TEST(answer["suggestions"][i]["token"] == c.top[i].symbol);
    BOOST_TEST(answer["suggestions"][i]["probability"].get<double>() == c.top[i].probability);
  }
  // Unknown words are a note, not an error; an empty text gets the start of a sentence.
  const auto [s2, unknown] = complete(s, R"({"text": "the dragon sits on"})");
  BOOST_TEST(s2 == 200);
  BOOST_TEST(unknown["unknown"] == json::array({"dragon"}));
  BOOST_TEST(unknown["suggestions"].size() == 3u);  // the default top
  const auto [s3, empty] = complete(s, R"({"text": ""})");
  BOOST_TEST(s3 == 200);
  BOOST_TEST(empty["suggestions"].size() == 3u);

  auto health = s.client().Get("/health");
  BOOST_TEST_REQUIRE(bool(health));
  const json h = json::parse(health->body);
  BOOST_TEST(h["level"] == "word");
  BOOST_TEST(h["vocabulary"].get<std::size_t>() == builtin_word_model().vocabulary.size());
}

BOOST_AUTO_TEST_CASE(the_page_is_self_contained) {
  RunningServer s(builtin_word_model());
  auto r = s.client().Get("/");
  BOOST_TEST_REQUIRE(bool(r));
  BOOST_TEST(r->status == 200);
  BOOST_TEST(contains(r->get_header_value("Content-Type"), "text/html"));
  BOOST_TEST(contains(r->body, "<textarea"));
  BOOST_TEST(contains(r->body, "fetch(\"/complete\""));
  // No external assets: nothing fetched from another origin, no script or style files.
  BOOST_TEST(!contains(r->body, "http://"));
  BOOST_TEST(!contains(r->body, "https://"));
  BOOST_TEST(!contains(r->body, "src="));
  BOOST_TEST(!contains(r->body, "<link"));
}

BOOST_AUTO_TEST_CASE(every_bad_request_gets_a_4xx_and_the_server_keeps_serving) {
  ServeOptions o;
  o.max_text_bytes = 100;
  o.max_body_bytes = 1000;
  RunningServer s(builtin_word_model(), o);
  struct Case {
    std::string body;
    int status;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"{bad", 400, "the body is not JSON"},
      {"[1, 2]", 400, "expected a JSON object like {\"text\": \"king sits on\"}, got a JSON array"},
      {"{}", 400, "missing field \"text\""},
      {R"({"text": 5})", 400, "\"text\" must be a string, got a JSON number"},
      {R"({"text": "a", "top": 0})", 400, "\"top\" must be an integer from 1 to 50, got 0"},
      {R"({"text": "a", "top": 51})", 400, "got 51"},
      {R"({"text": "a", "top": "3"})", 400, "got \"3\""},
      {R"({"text": "a", "top": 2.5})", 400, "got 2.5"},
      {"{\"text\": \"" + std::string(101, 'a') + "\"}", 413,
       "\"text\" holds 101 bytes; at most 100"},
      {"{\"text\": \"king \xff\"}", 400, "invalid"},
      {std::string(1001, ' '), 413, "larger than the 1000 bytes accepted"},
      {R"({"text": "a", "session": 7})", 400,
       "\"session\" must be a string of 1 to 64 letters, digits, '-' or '_', got 7"},
      {R"({"text": "a", "session": ""})", 400, "got \"\""},
      {R"({"text": "a", "session": "a b"})", 400, "got \"a b\""},
      {"{\"text\": \"a\", \"session\": \"" + std::string(65, 'x') + "\"}", 400, "1 to 64"},
  };
  for (const Case& c : cases) {
    auto r = s.client().Post("/complete", c.body, "application/json");
    BOOST_TEST_REQUIRE(bool(r), c.body.substr(0, 40));
    BOOST_TEST(r->status == c.status, c.body.substr(0, 40));
    const json answer = json::parse(r->body);
    BOOST_TEST(contains(answer["error"].get<std::string>(), c.says),
               answer["error"].get<std::string>());
    BOOST_TEST(healthy(s));
  }
  auto nope = s.client().Get("/nope");
  BOOST_TEST_REQUIRE(bool(nope));
  BOOST_TEST(nope->status == 404);
  BOOST_TEST(
      contains(json::parse(nope->body)["error"].get<std::string>(), "no such path: GET /nope"));
  auto wrong = s.client().Delete("/complete");
  BOOST_TEST_REQUIRE(bool(wrong));
  BOOST_TEST(wrong->status == 405);
  BOOST_TEST(wrong->get_header_value("Allow") == "POST");
  auto get_complete = s.client().Get("/complete");
  BOOST_TEST_REQUIRE(bool(get_complete));
  BOOST_TEST(get_complete->status == 405);
  BOOST_TEST(healthy(s));
}

BOOST_AUTO_TEST_CASE(many_clients_at_once_get_the_answers_of_one) {
  ServeOptions o;
  o.threads = 4;
  RunningServer s(builtin_word_model(), o);
  const std::vector<std::string> texts = {"king sits on", "the queen", "the king sits on the", "a"};
  std::vector<std::string> alone;
  for (const std::string& t : texts) {
    json a = complete(s, json{{"text", t}}.dump()).second;
    a.erase("micros");
    a.erase("read");
    alone.push_back(a.dump());
  }
  std::atomic<int> wrong{0}, failed{0};
  std::vector<std::thread> clients;
  // Half the clients keep a session (two of them share one): each text then continues from
  // the previous one (back to the common prefix, then the rest), and must answer as a fresh read.
  for (int c = 0; c < 8; ++c)
    clients.emplace_back([&, c] {
      httplib::Client client = s.client();
      for (int i = 0; i < 20; ++i) {
        const std::size_t k = std::size_t(c + i) % texts.size();
        json request{{"text", texts[k]}};
        if (c % 2 == 0) request["session"] = "typist-" + std::to_string(std::min(c, 4));
        auto r = client.Post("/complete", request.dump(), "application/json");
        if (!r || r->status != 200) {
          ++failed;
          continue;
        }
        json a = json::parse(r->body);
        a.erase("micros");
        a.erase("read");
        wrong += a.dump() != alone[k];
      }
    });
  for (std::thread& t : clients) t.join();
  BOOST_TEST(failed.load() == 0);
  BOOST_TEST(wrong.load() == 0);
  auto health = s.client().Get("/health");
  BOOST_TEST_REQUIRE(bool(health));
  BOOST_TEST(json::parse(health->body)["sessions"] == 3);  // typist-0, typist-2, typist-4
}

BOOST_AUTO_TEST_CASE(a_session_reads_only_what_changed) {
  const LanguageModel& lm = builtin_word_model();
  Sessions sessions(lm, 2, 4);
  const auto ask = [&](const std::string& text, const std::string& session) {
    const HttpAnswer a = answer_complete(lm, json{{"text", text}, {"session", session}}.dump(),
                                         ServeOptions{}, &sessions);
    BOOST_TEST_REQUIRE(a.status == 200);
    return json::parse(a.body);
  };
  struct Step {
    std::string text;
    std::size_t read;  // words read for it: what changed since the session's last text
  };
  const std::vector<Step> typing = {
      {"the", 1},
      {"the king", 1},
      {"the king sits", 1},
      {"the king sits on", 1},
      {"the king sits", 0},  // erased a word: back() to its state
      {"the king sits on", 1},
      {"a queen", 2},  // a new text: nothing in common
      {"the king", 2},
      {"", 1},  // empty: the start-of-sentence token
  };
  for (const Step& step : typing) {
    json a = ask(step.text, "k1");
    BOOST_TEST(a["read"] == step.read, step.text);
    json fresh = json::parse(answer_complete(lm, json{{"text", step.text}}.dump(), {}).body);
    BOOST_TEST(fresh["read"] > 0);
    for (json* j : {&a, &fresh}) {
      j->erase("micros");
      j->erase("read");
    }
    BOOST_TEST(a.dump() == fresh.dump(), step.text);
  }
  // At most two sessions: a third drops the one used least recently, which starts over.
  ask("the king", "k2");
  ask("the king", "k3");
  BOOST_TEST(sessions.size() == 2u);
  BOOST_TEST(ask("the king sits", "k3")["read"] == 1);
  BOOST_TEST(ask("the king sits", "k1")["read"] == 3);  // k1 was dropped
  sessions.with("k1", [](train::Predictor& p) { BOOST_TEST(p.size() == 3u); });
  BOOST_TEST(lmtest::error_of([&] { Sessions(lm, 0, 4); }) ==
             "Sessions: the capacity must be at least 1, got 0");
}

BOOST_AUTO_TEST_CASE(character_level_completes_the_word_and_notes_unknown_characters) {
  lmtest::LmTempDir tmp;
  TrainOptions o =
      lmtest::tiny_options(tmp.write("data.txt", lmtest::small_text()), tmp.path("run"), 400);
  o.hp.hidden = 32;
  Trainer(o).run(nullptr, nullptr);
  const std::unique_ptr<LanguageModel> lm = std::move(load_model_dir(o.out_dir).lm);
  const HttpAnswer a = answer_complete(*lm, R"({"text": "the cat sat on the m", "top": 2})", {});
  BOOST_TEST(a.status == 200);
  const json answer = json::parse(a.body);
  BOOST_TEST(answer["completion"] == "at");  // "mat", learnt from the text
  BOOST_TEST(answer["suggestions"][0]["token"] == "a");
  // 'Z' and 'é' are not in the text: left out and listed; the rest is read.
  const json z = json::parse(answer_complete(*lm, R"({"text": "the cZat s\u00e9"})", {}).body);
  BOOST_TEST(z["unknown"] == json::array({"Z", "\u00e9"}));
  BOOST_TEST(z["suggestions"].size() == 3u);
}

BOOST_AUTO_TEST_SUITE_END()
