#include "dynamo/workload/driver.hpp"

#include "dynamo/error.hpp"
#include "dynamo/workload/schedule.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>

namespace dynamo::workload {

namespace {

using json = nlohmann::json;
using clock_type = stream_clock;

/// How long a stopped run waits for cancelled requests to be reported.
constexpr auto stop_grace = std::chrono::seconds{5};

std::string_view classify_failure(const caf::error& err) {
  switch (classify(err)) {
    case errc::deadline_exceeded:
      return failure_kind::timeout;
    case errc::disconnected:
      return failure_kind::disconnected;
    case errc::unavailable:
      return failure_kind::connect;
    case errc::cancelled:
      return failure_kind::cancelled;
    default:
      return failure_kind::protocol;
  }
}

/// The error text of a non-2xx body: error.message of an OpenAI error object, else its start.
std::string error_text(std::string_view body) {
  auto doc = json::parse(body, nullptr, false);
  if (!doc.is_discarded() && doc.is_object()) {
    auto e = doc.find("error");
    if (e != doc.end()) {
      if (e->is_object()) {
        auto m = e->find("message");
        if (m != e->end() && m->is_string())
          return m->get<std::string>();
      } else if (e->is_string()) {
        return e->get<std::string>();
      }
    }
  }
  constexpr size_t max_text = 200;
  std::string text{body.substr(0, max_text)};
  if (body.size() > max_text)
    text += "...";
  return text;
}

uint32_t field_u32(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || !it->is_number_integer())
    return 0;
  auto v = it->get<int64_t>();
  return static_cast<uint32_t>(std::clamp<int64_t>(v, 0, std::numeric_limits<uint32_t>::max()));
}

void set_failure(request_record& r, std::string_view kind, std::string text) {
  if (!r.failure.empty())
    return;
  r.failure = std::string{kind};
  r.error = std::move(text);
}

bool is_tty(std::FILE* f) {
  return f != nullptr && ::isatty(::fileno(f)) == 1;
}

} // namespace

std::optional<double> request_record::ttft_s() const noexcept {
  if (!first_token_s)
    return std::nullopt;
  return *first_token_s - intended_s;
}

std::optional<double> request_record::ttft_from_send_s() const noexcept {
  if (!first_token_s || !sent_s)
    return std::nullopt;
  return *first_token_s - *sent_s;
}

std::optional<double> request_record::queue_s() const noexcept {
  if (!sent_s)
    return std::nullopt;
  return *sent_s - intended_s;
}

std::optional<double> request_record::mean_itl_s() const noexcept {
  if (itl_s.empty())
    return std::nullopt;
  double sum = 0.0;
  for (auto x : itl_s)
    sum += x;
  return sum / static_cast<double>(itl_s.size());
}

std::string format_progress(const progress_snapshot& p) {
  auto rate = p.elapsed_s > 0.0 ? static_cast<double>(p.done) / p.elapsed_s : 0.0;
  auto ttft = p.p50_ttft_s ? fmt::format("{:.1f} ms", *p.p50_ttft_s * 1e3) : std::string{"-"};
  return fmt::format("sent {}/{} done {} failed {} queued {} | {:.1f} req/s | p50 TTFT {} | "
                     "{:.1f} s",
                     p.sent, p.total, p.done, p.failed, p.queued, rate, ttft, p.elapsed_s);
}

/// Everything one run() owns; the client's callbacks borrow it and never outlive run().
struct driver::run_state {
  const workload* w = nullptr;
  std::optional<dispatch_schedule> schedule;
  std::vector<request_record> records;
  std::vector<uint64_t> client_ids;  // 0 when not in flight
  std::vector<uint8_t> done_marker;
  std::deque<due_request> queue;
  std::vector<double> ttfts;         // successful TTFTs, for the progress line
  clock_type::time_point t0;
  clock_type::time_point next_progress;
  size_t sent = 0;
  size_t done = 0;
  size_t failed = 0;
  bool progress = false;
  bool tty = false;

  double secs(clock_type::time_point t) const {
    return std::chrono::duration<double>(t - t0).count();
  }

  void on_event(size_t index, std::string_view data, clock_type::time_point at) {
    auto& r = records[index];
    auto t = secs(at);
    if (data == "[DONE]") {
      done_marker[index] = 1;
      return;
    }
    auto doc = json::parse(data, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
      set_failure(r, failure_kind::protocol,
                  fmt::format("a stream chunk is not a JSON object: '{}'", data.substr(0, 100)));
      return;
    }
    if (auto e = doc.find("error"); e != doc.end() && !e->is_null()) {
      set_failure(r, failure_kind::stream_error, error_text(data));
      return;
    }
    if (auto u = doc.find("usage"); u != doc.end() && u->is_object()) {
      r.has_usage = true;
      r.prompt_tokens = field_u32(*u, "prompt_tokens");
      r.completion_tokens = field_u32(*u, "completion_tokens");
      auto details = u->find("prompt_tokens_details");
      r.cached_tokens = details != u->end() && details->is_object()
                          ? field_u32(*details, "cached_tokens")
                          : 0;
    }
    auto choices = doc.find("choices");
    if (choices == doc.end() || !choices->is_array() || choices->empty()
        || !choices->front().is_object())
      return;
    const auto& choice = choices->front();
    bool has_text = false;
    if (auto text = choice.find("text"); text != choice.end() && text->is_string()) {
      has_text = !text->get_ref<const std::string&>().empty();
    } else if (auto delta = choice.find("delta"); delta != choice.end() && delta->is_object()) {
      auto content = delta->find("content");
      has_text = content != delta->end() && content->is_string()
                 && !content->get_ref<const std::string&>().empty();
    }
    size_t n = 0;
    if (auto ids = choice.find("token_ids"); ids != choice.end() && ids->is_array())
      n = ids->size();
    if (n == 0 && !has_text)
      return;
    n = std::max<size_t>(n, 1);
    ++r.chunks;
    r.chunk_tokens += static_cast<uint32_t>(n);
    if (!r.first_token_s) {
      r.first_token_s = t;
    } else {
      auto gap = (t - *r.last_token_s) / static_cast<double>(n);
      r.itl_s.insert(r.itl_s.end(), n, gap);
    }
    r.last_token_s = t;
  }

  void on_done(size_t index, stream_result res, clock_type::time_point at) {
    auto& r = records[index];
    client_ids[index] = 0;
    r.done_s = secs(at);
    r.status = res.status;
    if (res.status != 0 && (res.status < 200 || res.status > 299)) {
      // The status names the failure even when an error event or a broken body came first.
      std::string text = !r.error.empty() ? r.error
                         : res.error      ? client_message(res.error)
                                          : error_text(res.body);
      r.failure = fmt::format("http_{}", res.status);
      r.error = std::move(text);
    } else if (res.error) {
      set_failure(r, classify_failure(res.error), client_message(res.error));
    } else if (!res.event_stream) {
      set_failure(r, failure_kind::protocol,
                  fmt::format("expected a text/event-stream response, got '{}'",
                              res.content_type));
    } else if (done_marker[index] == 0) {
      set_failure(r, failure_kind::protocol, "the stream ended without data: [DONE]");
    }
    ++done;
    if (!r.ok())
      ++failed;
    else if (auto ttft = r.ttft_s())
      ttfts.push_back(*ttft);
    schedule->complete(index, r.done_s);
  }
};

driver::driver(driver_config cfg, std::string body_prefix, std::unique_ptr<stream_client> client)
  : cfg_(std::move(cfg)), body_prefix_(std::move(body_prefix)), client_(std::move(client)) {
}

driver::~driver() = default;

caf::expected<std::unique_ptr<driver>> driver::make(driver_config cfg) {
  auto bad = [](std::string what) {
    return make_error(errc::invalid_request, "load driver: " + what);
  };
  auto url = parse_url(cfg.url);
  if (!url)
    return std::move(url.error());
  if (cfg.model.empty())
    return bad("the model name is required");
  if (!cfg.endpoint.starts_with('/'))
    return bad(fmt::format("the endpoint must be a path, got '{}'", cfg.endpoint));
  if (cfg.max_connections == 0 || cfg.max_connections > 65536)
    return bad("max_connections must be in [1, 65536]");
  if (!std::isfinite(cfg.speedup) || cfg.speedup <= 0.0)
    return bad("the speedup must be a finite number > 0");
  if (!std::isfinite(cfg.timeout_s) || cfg.timeout_s <= 0.0 || cfg.timeout_s > 1e6)
    return bad("the timeout must be in (0, 1e6] seconds");
  if (!std::isfinite(cfg.progress_interval_s) || cfg.progress_interval_s <= 0.0)
    return bad("the progress interval must be > 0");
  json prefix{{"model", cfg.model},
              {"stream", true},
              {"stream_options", {{"include_usage", true}}},
              {"ignore_eos", true},
              {"temperature", 0}};
  if (!cfg.nvext_json.empty()) {
    auto nvext = json::parse(cfg.nvext_json, nullptr, false);
    if (nvext.is_discarded() || !nvext.is_object())
      return bad(fmt::format("nvext must be a JSON object, got '{}'",
                             std::string_view{cfg.nvext_json}.substr(0, 100)));
    cfg.nvext_json = nvext.dump();
    prefix["nvext"] = std::move(nvext);
  }
  if (!cfg.log)
    cfg.log = default_logger("load-driver");
  cfg.url = url->to_string();
  auto body_prefix = prefix.dump(-1, ' ', false, json::error_handler_t::replace);
  body_prefix.pop_back();  // the closing brace; max_tokens and prompt follow
  stream_client::config ccfg;
  ccfg.url = *url;
  ccfg.max_connections = cfg.max_connections;
  ccfg.log = cfg.log;
  auto client = stream_client::make(std::move(ccfg));
  if (!client)
    return std::move(client.error());
  return std::unique_ptr<driver>(
    new driver(std::move(cfg), std::move(body_prefix), std::move(*client)));
}

std::string driver::completion_body(const request_spec& spec) const {
  std::string body;
  body.reserve(body_prefix_.size() + 32 + spec.prompt.size() * 7);
  body += body_prefix_;
  fmt::format_to(std::back_inserter(body), ",\"max_tokens\":{},\"prompt\":[{}]}}",
                 spec.max_tokens, fmt::join(spec.prompt, ","));
  return body;
}

void driver::stop() noexcept {
  stop_.store(true, std::memory_order_relaxed);
  client_->wake();
}

void driver::dispatch(run_state& st, size_t index) {
  const auto& spec = st.w->requests[index];
  auto& r = st.records[index];
  auto now = clock_type::now();
  r.sent_s = st.secs(now);
  stream_request req;
  req.target = cfg_.endpoint;
  req.body = completion_body(spec);
  req.timeout = std::chrono::milliseconds{static_cast<int64_t>(std::ceil(cfg_.timeout_s * 1e3))};
  stream_callbacks cb;
  cb.on_event = [state = &st, index](std::string_view data, clock_type::time_point at) {
    state->on_event(index, data, at);
  };
  cb.on_done = [state = &st, index](stream_result res, clock_type::time_point at) {
    state->on_done(index, std::move(res), at);
  };
  ++st.sent;
  auto id = client_->start(std::move(req), std::move(cb));
  if (!id) {
    // Capacity was checked, so this is a request the client refuses: record it as failed.
    set_failure(r, failure_kind::protocol, client_message(id.error()));
    r.done_s = r.sent_s.value_or(0.0);
    ++st.done;
    ++st.failed;
    st.schedule->complete(index, r.done_s);
    return;
  }
  st.client_ids[index] = *id;
}

void driver::show_progress(run_state& st, bool final) {
  if (!st.progress)
    return;
  auto now = clock_type::now();
  if (!final && now < st.next_progress)
    return;
  st.next_progress = now + std::chrono::duration_cast<clock_type::duration>(
                             std::chrono::duration<double>(cfg_.progress_interval_s));
  progress_snapshot p;
  p.total = st.records.size();
  p.sent = st.sent;
  p.done = st.done;
  p.failed = st.failed;
  p.queued = st.queue.size();
  p.elapsed_s = st.secs(now);
  if (!st.ttfts.empty()) {
    auto mid = st.ttfts.begin() + static_cast<std::ptrdiff_t>(st.ttfts.size() / 2);
    std::nth_element(st.ttfts.begin(), mid, st.ttfts.end());
    p.p50_ttft_s = *mid;
  }
  auto line = format_progress(p);
  if (st.tty)
    fmt::print(cfg_.progress_file, "\r{}\x1b[K{}", line, final ? "\n" : "");
  else
    fmt::print(cfg_.progress_file, "{}\n", line);
  std::fflush(cfg_.progress_file);
}

caf::expected<run_result> driver::run(const workload& w) {
  auto schedule = dispatch_schedule::make(w, schedule_config{cfg_.speedup, cfg_.concurrency});
  if (!schedule)
    return std::move(schedule.error());
  run_state st;
  st.w = &w;
  st.schedule.emplace(std::move(*schedule));
  st.records.resize(w.requests.size());
  st.client_ids.assign(w.requests.size(), 0);
  st.done_marker.assign(w.requests.size(), 0);
  for (size_t i = 0; i < w.requests.size(); ++i) {
    const auto& spec = w.requests[i];
    auto& r = st.records[i];
    r.id = spec.id;
    r.session = spec.session;
    r.turn = spec.turn;
    r.prompt_len = static_cast<uint32_t>(spec.prompt.size());
    r.max_tokens = spec.max_tokens;
  }
  st.tty = is_tty(cfg_.progress_file);
  st.progress = cfg_.progress_file != nullptr
                && (cfg_.progress == progress_mode::always
                    || (cfg_.progress == progress_mode::when_tty && st.tty));
  auto stats_before = client_->stats();
  st.t0 = clock_type::now();
  st.next_progress = st.t0;
  cfg_.log->debug("run of '{}': {} requests", w.name, w.requests.size());
  while (!st.schedule->finished() && !stop_.load(std::memory_order_relaxed)) {
    for (auto& due : st.schedule->take_due(st.secs(clock_type::now()))) {
      st.records[due.index].intended_s = due.intended_s;
      st.queue.push_back(due);
    }
    while (!st.queue.empty() && client_->has_capacity()) {
      auto due = st.queue.front();
      st.queue.pop_front();
      dispatch(st, due.index);
    }
    auto now_s = st.secs(clock_type::now());
    auto wait_s = std::min(st.schedule->next_due_s() - now_s, 1.0);
    if (st.progress)
      wait_s = std::min(wait_s, st.secs(st.next_progress) - now_s);
    if (!st.queue.empty() && client_->has_capacity())
      wait_s = 0.0;
    auto wait = std::chrono::milliseconds{
      static_cast<int64_t>(std::ceil(std::clamp(wait_s, 0.0, 1.0) * 1e3))};
    client_->run_once(wait);
    show_progress(st, false);
  }
  run_result result;
  result.workload_name = w.name;
  if (stop_.load(std::memory_order_relaxed)) {
    result.stopped = true;
    for (auto id : st.client_ids)
      if (id != 0)
        client_->cancel(id);
    auto give_up = clock_type::now() + stop_grace;
    while (client_->in_flight() > 0 && clock_type::now() < give_up)
      client_->run_once(std::chrono::milliseconds{10});
    if (client_->in_flight() > 0)
      on_internal_error("load driver: cancelled requests were not reported");
    auto now_s = st.secs(clock_type::now());
    for (auto& r : st.records) {
      if (!r.sent_s) {
        set_failure(r, failure_kind::cancelled, "not sent: the run was stopped");
        r.done_s = now_s;
      }
    }
  }
  double last = 0.0;
  for (const auto& r : st.records)
    last = std::max(last, r.done_s);
  result.duration_s = last;
  show_progress(st, true);
  auto stats = client_->stats();
  result.client.requests = stats.requests - stats_before.requests;
  result.client.connections_opened = stats.connections_opened - stats_before.connections_opened;
  result.client.connections_reused = stats.connections_reused - stats_before.connections_reused;
  result.client.retries = stats.retries - stats_before.retries;
  result.client.bytes_received = stats.bytes_received - stats_before.bytes_received;
  result.records = std::move(st.records);
  return result;
}

} // namespace dynamo::workload
