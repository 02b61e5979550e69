#include "dynamo/jinja/template.hpp"

#include "dynamo/error.hpp"
#include "dynamo/jinja/ast.hpp"
#include "dynamo/jinja/diagnostics.hpp"
#include "dynamo/jinja/parser.hpp"

#include <fmt/format.h>

#include <new>

namespace dynamo::jinja {

namespace {

std::string where(source_pos pos) {
  if (pos.line == 0)
    return {};
  return fmt::format(" at line {}, column {}", pos.line, pos.column);
}

} // namespace

caf::expected<compiled_template> compiled_template::parse(std::string_view source,
                                                          const template_options& options) {
  try {
    auto ast = std::make_shared<template_ast>(parse_template(source, options));
    return compiled_template{std::move(ast)};
  } catch (const template_error& err) {
    auto message = fmt::format("template syntax error{}: {}", where(err.pos()), err.message());
    return make_error(errc::invalid_request, message, message);
  } catch (const std::bad_alloc&) {
    return make_error(errc::invalid_request, "template is too large to parse",
                      "out of memory while parsing a template");
  }
}

caf::expected<std::string> compiled_template::render(const json& context,
                                                     const render_options& options) const {
  return render(std::make_shared<const json>(context), options);
}

caf::expected<std::string> compiled_template::render(std::shared_ptr<const json> context,
                                                     const render_options& options) const {
  std::string out;
  try {
    renderer r{options, out};
    r.render(*ast_, std::move(context));
  } catch (const template_error& err) {
    if (err.kind() == failure::raised)
      return make_error(errc::invalid_request, err.message(),
                        fmt::format("raise_exception{}", where(err.pos())));
    auto message = fmt::format("template error{}: {}", where(err.pos()), err.message());
    return make_error(errc::invalid_request, message, message);
  } catch (const std::bad_alloc&) {
    return make_error(errc::invalid_request, "template rendering ran out of memory",
                      "std::bad_alloc while rendering a template");
  } catch (const std::exception& err) {
    return make_error(errc::internal, "template rendering failed",
                      fmt::format("unexpected exception while rendering: {}", err.what()));
  }
  return out;
}

} // namespace dynamo::jinja
