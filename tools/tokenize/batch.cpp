#include "batch.hpp"

#include "dynamo/tokenizer/utf8.hpp"

#include <nlohmann/json.hpp>

#include <istream>
#include <ostream>
#include <string>

namespace dynamo::tools {

namespace {

using json = nlohmann::json;

std::string from_hex(const std::string& hex) {
  if (hex.size() % 2 != 0)
    throw std::invalid_argument("text_hex must have an even number of digits");
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

std::vector<tokenizer::token_id> ids_of(const json& request) {
  return request.at("ids").get<std::vector<tokenizer::token_id>>();
}

json handle(const tokenizer::tokenizer& tok, const json& request) {
  auto op = request.at("op").get<std::string>();
  if (op == "encode") {
    auto text = request.contains("text_hex") ? from_hex(request.at("text_hex").get<std::string>())
                                             : request.at("text").get<std::string>();
    bool special = request.value("special", false);
    return json{{"ids", special ? tok.encode_special(text) : tok.encode(text)}};
  }
  if (op == "decode")
    return json{{"text", tok.decode(ids_of(request), request.value("skip_special", true))}};
  if (op == "stream") {
    auto stream = tok.make_decode_stream(request.value("skip_special", true));
    json deltas = json::array();
    std::string text;
    bool valid = true;
    auto add = [&](std::string delta) {
      valid = valid && tokenizer::is_valid_utf8(delta);
      text += delta;
      deltas.push_back(std::move(delta));
    };
    for (auto id : ids_of(request))
      add(stream->push(id));
    add(stream->flush());
    return json{{"deltas", std::move(deltas)}, {"text", std::move(text)}, {"valid", valid}};
  }
  if (op == "info") {
    auto optional_id = [](std::optional<tokenizer::token_id> id) {
      return id ? json(*id) : json(nullptr);
    };
    return json{{"vocab_size", tok.vocab_size()},
                {"bos", optional_id(tok.bos_token_id())},
                {"eos", optional_id(tok.eos_token_id())},
                {"prefix", tok.prompt_prefix()}};
  }
  throw std::invalid_argument("unknown op '" + op + "'");
}

} // namespace

int run_batch(const tokenizer::tokenizer& tok, std::istream& in, std::ostream& out) {
  int failures = 0;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty())
      continue;
    json reply;
    try {
      reply = handle(tok, json::parse(line));
    } catch (const std::exception& e) {
      reply = json{{"error", e.what()}};
      ++failures;
    }
    out << reply.dump(-1, ' ', false, json::error_handler_t::replace) << '\n' << std::flush;
  }
  return failures;
}

} // namespace dynamo::tools
