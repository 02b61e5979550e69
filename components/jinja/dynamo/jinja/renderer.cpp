#include "dynamo/jinja/renderer.hpp"

#include "dynamo/jinja/builtins.hpp"
#include "dynamo/jinja/diagnostics.hpp"

#include <fmt/format.h>

namespace dynamo::jinja {

namespace {

// Bounds the C++ recursion of exec/eval; legitimate templates stay far below it.
constexpr size_t max_eval_depth = 512;

class depth_guard {
public:
  explicit depth_guard(size_t& depth) : depth_(depth) {
    if (++depth_ > max_eval_depth)
      throw template_error(failure::limit,
                           fmt::format("template recursion exceeds the limit of {} levels",
                                       max_eval_depth));
  }
  ~depth_guard() { --depth_; }
  depth_guard(const depth_guard&) = delete;
  depth_guard& operator=(const depth_guard&) = delete;

private:
  size_t& depth_;
};

// A macro (or the body of a call block, as `caller`), with the variables it closed over.
class macro_object final : public object {
public:
  macro_object(std::shared_ptr<const macro_def> def,
               std::vector<std::pair<std::string, value>> closure)
    : def_(std::move(def)), closure_(std::move(closure)) {
  }

  std::string_view type_name() const override { return "Macro"; }

  std::string to_str() const override { return fmt::format("<Macro '{}'>", def_->name); }

  bool is_callable() const noexcept override { return true; }

  value call(renderer& r, call_args args) const override {
    return r.invoke_macro(def_, closure_, std::move(args), value{});
  }

  /// Calls with a `caller` (call blocks).
  value call_with_caller(renderer& r, call_args args, const value& caller) const {
    return r.invoke_macro(def_, closure_, std::move(args), caller);
  }

private:
  std::shared_ptr<const macro_def> def_;
  std::vector<std::pair<std::string, value>> closure_;
};

// loop.cycle(a, b, ...): the argument at loop.index0 modulo the count.
class cycle_object final : public object {
public:
  explicit cycle_object(size_t index) : index_(index) {
  }
  std::string_view type_name() const override { return "method"; }
  bool is_callable() const noexcept override { return true; }
  value call(renderer&, call_args args) const override {
    if (args.positional.empty() || !args.keyword.empty())
      fail("loop.cycle() takes at least one positional argument");
    return args.positional[index_ % args.positional.size()];
  }

private:
  size_t index_;
};

// The `loop` variable of a for loop.
class loop_object final : public object {
public:
  explicit loop_object(std::shared_ptr<const std::vector<value>> items)
    : items_(std::move(items)) {
  }

  std::string_view type_name() const override { return "LoopContext"; }

  std::string to_str() const override {
    return fmt::format("<LoopContext {}/{}>", index_ + 1, items_->size());
  }

  void set_index(size_t i) noexcept { index_ = i; }

  value get_attr(std::string_view name) const override {
    auto n = static_cast<int64_t>(items_->size());
    auto i = static_cast<int64_t>(index_);
    if (name == "index")
      return value{json(i + 1)};
    if (name == "index0")
      return value{json(i)};
    if (name == "revindex")
      return value{json(n - i)};
    if (name == "revindex0")
      return value{json(n - i - 1)};
    if (name == "first")
      return value{json(i == 0)};
    if (name == "last")
      return value{json(i == n - 1)};
    if (name == "length")
      return value{json(n)};
    if (name == "depth")
      return value{json(1)};
    if (name == "depth0")
      return value{json(0)};
    if (name == "previtem")
      return i > 0 ? (*items_)[index_ - 1] : value::undefined("there is no previous item");
    if (name == "nextitem")
      return i + 1 < n ? (*items_)[index_ + 1] : value::undefined("there is no next item");
    if (name == "cycle")
      return value{std::make_shared<cycle_object>(index_)};
    return object::get_attr(name);
  }

private:
  std::shared_ptr<const std::vector<value>> items_;
  size_t index_ = 0;
};

// Attaches the node's position to errors thrown beneath it that have none yet.
template <class F>
auto with_pos(source_pos pos, F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (template_error& err) {
    err.set_pos_if_unknown(pos);
    throw;
  }
}

} // namespace

renderer::renderer(const render_options& options, std::string& out)
  : options_(options), out_(&out) {
}

void renderer::render(const template_ast& ast, std::shared_ptr<const json> context) {
  context_ = std::move(context);
  frames_.clear();
  frames_.emplace_back();
  floor_ = 0;
  exec_body(ast.root);
}

void renderer::count_iteration() {
  if (++iterations_ > options_.max_iterations)
    throw template_error(failure::limit,
                         fmt::format("loop iterations exceed the limit of {}",
                                     options_.max_iterations));
}

void renderer::check_size(size_t bytes) const {
  if (bytes > options_.max_output_bytes)
    throw template_error(failure::limit, fmt::format("output exceeds the limit of {} bytes",
                                                     options_.max_output_bytes));
}

void renderer::emit(std::string_view text) {
  check_size(out_->size() + text.size());
  out_->append(text);
}

value renderer::lookup(const std::string& name) const {
  auto search = [&name](const frame& f) -> const value* {
    for (auto it = f.rbegin(); it != f.rend(); ++it)
      if (it->first == name)
        return &it->second;
    return nullptr;
  };
  for (size_t i = frames_.size(); i-- > std::max<size_t>(floor_, 1);)
    if (const auto* v = search(frames_[i]))
      return *v;
  if (const auto* v = search(frames_[0]))
    return *v;
  if (context_ && context_->is_object()) {
    auto it = context_->find(name);
    if (it != context_->end())
      return value::alias(context_, *it);
  }
  auto global = builtin_global(name);
  if (!global.is_undefined())
    return global;
  return value::undefined(fmt::format("'{}' is undefined", name));
}

void renderer::assign(const std::string& name, value v) {
  auto& top = frames_.back();
  for (auto& [key, old] : top)
    if (key == name) {
      old = std::move(v);
      return;
    }
  top.emplace_back(name, std::move(v));
}

renderer::frame renderer::closure() const {
  frame out;
  for (size_t i = std::max<size_t>(floor_, 1); i < frames_.size(); ++i)
    for (const auto& entry : frames_[i])
      out.push_back(entry);
  return out;
}

std::string renderer::capture(const body& b) {
  std::string buffer;
  auto* saved = std::exchange(out_, &buffer);
  try {
    exec_body(b);
  } catch (...) {
    out_ = saved;
    throw;
  }
  out_ = saved;
  return buffer;
}

renderer::flow renderer::exec_body(const body& b) {
  depth_guard guard{eval_depth_};
  for (const auto& s : b) {
    auto f = with_pos(s->pos, [this, &s] { return exec(*s); });
    if (f != flow::normal)
      return f;
  }
  return flow::normal;
}

renderer::flow renderer::exec(const stmt& s) {
  switch (s.kind) {
    case stmt_kind::text:
      emit(static_cast<const text_stmt&>(s).text);
      return flow::normal;
    case stmt_kind::output:
      emit(to_str(eval(*static_cast<const output_stmt&>(s).expression)));
      return flow::normal;
    case stmt_kind::if_: {
      const auto& node = static_cast<const if_stmt&>(s);
      for (const auto& [cond, branch] : node.branches)
        if (truthy(eval(*cond)))
          return exec_body(branch);
      return exec_body(node.otherwise);
    }
    case stmt_kind::for_:
      return exec_for(static_cast<const for_stmt&>(s));
    case stmt_kind::set: {
      const auto& node = static_cast<const set_stmt&>(s);
      exec_set(node.target, eval(*node.val), node.pos);
      return flow::normal;
    }
    case stmt_kind::set_block: {
      const auto& node = static_cast<const set_block_stmt&>(s);
      auto v = apply_filters(node.filters, value{json(capture(node.content))});
      exec_set(node.target, std::move(v), node.pos);
      return flow::normal;
    }
    case stmt_kind::macro: {
      const auto& node = static_cast<const macro_stmt&>(s);
      assign(node.def->name, value{std::make_shared<macro_object>(node.def, closure())});
      return flow::normal;
    }
    case stmt_kind::call_block: {
      const auto& node = static_cast<const call_block_stmt&>(s);
      const auto& call = static_cast<const call_expr&>(*node.call);
      auto callee = eval(*call.callee);
      auto* macro = callee.is_object() ? dynamic_cast<macro_object*>(callee.obj().get()) : nullptr;
      if (macro == nullptr)
        fail("a call block must call a macro");
      value caller{std::make_shared<macro_object>(node.caller, closure())};
      emit(to_str(macro->call_with_caller(*this, eval_args(call.args), caller)));
      return flow::normal;
    }
    case stmt_kind::filter_block: {
      const auto& node = static_cast<const filter_block_stmt&>(s);
      emit(to_str(apply_filters(node.filters, value{json(capture(node.content))})));
      return flow::normal;
    }
    case stmt_kind::with: {
      const auto& node = static_cast<const with_stmt&>(s);
      frame scoped;
      for (const auto& [name, e] : node.assignments)
        scoped.emplace_back(name, eval(*e));
      frames_.push_back(std::move(scoped));
      auto f = exec_body(node.content);
      frames_.pop_back();
      return f;
    }
    case stmt_kind::scope:
      return exec_body(static_cast<const scope_stmt&>(s).content);
    case stmt_kind::break_:
      return flow::break_;
    case stmt_kind::continue_:
      return flow::continue_;
  }
  fail("unknown statement");
}

renderer::flow renderer::exec_for(const for_stmt& s) {
  auto items = iterate(eval(*s.iterable));
  auto bind = [this, &s](const value& item) {
    if (s.targets.size() == 1) {
      assign(s.targets[0], item);
      return;
    }
    auto parts = iterate(item);
    if (parts.size() != s.targets.size())
      fail(fmt::format("cannot unpack {} values into {} loop variables", parts.size(),
                       s.targets.size()));
    for (size_t k = 0; k < parts.size(); ++k)
      assign(s.targets[k], parts[k]);
  };
  if (s.filter) {
    std::vector<value> kept;
    for (auto& item : items) {
      count_iteration();
      frames_.emplace_back();
      bind(item);
      bool keep = truthy(eval(*s.filter));
      frames_.pop_back();
      if (keep)
        kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty())
    return exec_body(s.otherwise);
  auto shared = std::make_shared<const std::vector<value>>(std::move(items));
  auto loop = std::make_shared<loop_object>(shared);
  value loop_value{loop};
  for (size_t i = 0; i < shared->size(); ++i) {
    count_iteration();
    loop->set_index(i);
    frames_.emplace_back();
    bind((*shared)[i]);
    assign("loop", loop_value);
    auto f = exec_body(s.loop_body);
    frames_.pop_back();
    if (f == flow::break_)
      break;
  }
  return flow::normal;
}

void renderer::exec_set(const assign_target& target, value v, source_pos) {
  if (!target.attribute.empty()) {
    auto ns = lookup(target.names[0]);
    auto* obj = ns.is_object() ? dynamic_cast<namespace_object*>(ns.obj().get()) : nullptr;
    if (obj == nullptr)
      fail(fmt::format("cannot assign attribute on non-namespace object '{}'", target.names[0]));
    obj->set(target.attribute, std::move(v));
    return;
  }
  if (target.names.size() == 1) {
    assign(target.names[0], std::move(v));
    return;
  }
  auto parts = iterate(v);
  if (parts.size() != target.names.size())
    fail(fmt::format("cannot unpack {} values into {} variables", parts.size(),
                     target.names.size()));
  for (size_t k = 0; k < parts.size(); ++k)
    assign(target.names[k], parts[k]);
}

value renderer::apply_filters(const std::vector<filter_call>& filters, value v) {
  for (const auto& f : filters)
    v = with_pos(f.pos, [this, &f, &v] { return filter(f.name, v, eval_args(f.args)); });
  return v;
}

value renderer::invoke_macro(const std::shared_ptr<const macro_def>& def,
                             const std::vector<std::pair<std::string, value>>& closure_vars,
                             call_args args, const value& caller) {
  if (call_depth_ >= options_.max_call_depth)
    throw template_error(failure::limit, fmt::format("macro calls nested deeper than {}",
                                                     options_.max_call_depth));
  ++call_depth_;
  auto saved_floor = floor_;
  auto saved_size = frames_.size();
  frames_.push_back(closure_vars);
  floor_ = frames_.size() - 1;
  frames_.emplace_back();
  const auto& params = def->params;
  std::vector<bool> bound(params.size(), false);
  json varargs = json::array();
  for (size_t i = 0; i < args.positional.size(); ++i) {
    if (i < params.size()) {
      assign(params[i].name, std::move(args.positional[i]));
      bound[i] = true;
    } else {
      varargs.push_back(to_data(args.positional[i]));
    }
  }
  json kwargs = json::object();
  for (auto& [name, v] : args.keyword) {
    size_t k = 0;
    while (k < params.size() && params[k].name != name)
      ++k;
    if (k == params.size()) {
      kwargs[name] = to_data(v);
      continue;
    }
    if (bound[k])
      fail(fmt::format("macro '{}' got multiple values for argument '{}'", def->name, name));
    assign(name, std::move(v));
    bound[k] = true;
  }
  for (size_t k = 0; k < params.size(); ++k) {
    if (bound[k])
      continue;
    if (params[k].fallback)
      assign(params[k].name, eval(*params[k].fallback));
    else
      assign(params[k].name,
             value::undefined(fmt::format("parameter '{}' was not provided", params[k].name)));
  }
  assign("varargs", value{std::move(varargs)});
  assign("kwargs", value{std::move(kwargs)});
  if (!caller.is_undefined())
    assign("caller", caller);
  auto result = capture(def->content);
  frames_.resize(saved_size);
  floor_ = saved_floor;
  --call_depth_;
  return value{json(std::move(result))};
}

value renderer::call(const value& callee, call_args args) {
  if (callee.is_undefined())
    fail(callee.undefined_hint());
  if (!callee.is_object() || !callee.obj()->is_callable())
    fail(fmt::format("'{}' object is not callable", type_name(callee)));
  return callee.obj()->call(*this, std::move(args));
}

value renderer::filter(std::string_view name, const value& input, call_args args) {
  return apply_filter(*this, name, input, std::move(args));
}

bool renderer::test(std::string_view name, const value& input, call_args args) {
  return apply_test(*this, name, input, std::move(args));
}

call_args renderer::eval_args(const arg_list& args) {
  call_args out;
  out.positional.reserve(args.positional.size());
  for (const auto& e : args.positional)
    out.positional.push_back(eval(*e));
  for (const auto& [name, e] : args.keyword)
    out.keyword.emplace_back(name, eval(*e));
  return out;
}

value renderer::eval(const expr& e) {
  depth_guard guard{eval_depth_};
  return with_pos(e.pos, [this, &e]() -> value {
    switch (e.kind) {
      case expr_kind::literal:
        return static_cast<const literal_expr&>(e).val;
      case expr_kind::name:
        return lookup(static_cast<const name_expr&>(e).name);
      case expr_kind::list:
      case expr_kind::tuple: {
        json out = json::array();
        for (const auto& item : static_cast<const sequence_expr&>(e).items)
          out.push_back(to_data(eval(*item)));
        return value{std::move(out)};
      }
      case expr_kind::dict: {
        json out = json::object();
        for (const auto& [k, v] : static_cast<const dict_expr&>(e).items) {
          auto key = eval(*k);
          if (!key.is_string())
            fail(fmt::format("dict keys must be strings, got '{}'", type_name(key)));
          out[key.str()] = to_data(eval(*v));
        }
        return value{std::move(out)};
      }
      case expr_kind::unary: {
        const auto& node = static_cast<const unary_expr&>(e);
        auto operand = eval(*node.operand);
        if (node.op == "not")
          return value{json(!truthy(operand))};
        return unary_operator(node.op, operand);
      }
      case expr_kind::binary:
        return eval_binary(static_cast<const binary_expr&>(e));
      case expr_kind::compare:
        return eval_compare(static_cast<const compare_expr&>(e));
      case expr_kind::condition: {
        const auto& node = static_cast<const condition_expr&>(e);
        if (truthy(eval(*node.cond)))
          return eval(*node.then);
        if (node.otherwise)
          return eval(*node.otherwise);
        return value::undefined("the inline if expression evaluated to false and had no else");
      }
      case expr_kind::getattr: {
        const auto& node = static_cast<const getattr_expr&>(e);
        return get_attribute(eval(*node.object), node.name);
      }
      case expr_kind::getitem: {
        const auto& node = static_cast<const getitem_expr&>(e);
        auto obj = eval(*node.object);
        return get_item(obj, eval(*node.key));
      }
      case expr_kind::slice: {
        const auto& node = static_cast<const slice_expr&>(e);
        auto obj = eval(*node.object);
        auto part = [this](const expr_ptr& p) { return p ? eval(*p) : value{json(nullptr)}; };
        auto start = part(node.start);
        auto stop = part(node.stop);
        auto step = part(node.step);
        return get_slice(obj, start, stop, step);
      }
      case expr_kind::call:
        return eval_call(static_cast<const call_expr&>(e));
      case expr_kind::filter:
      case expr_kind::test:
        return eval_filter(static_cast<const filter_expr&>(e));
    }
    fail("unknown expression");
  });
}

value renderer::eval_binary(const binary_expr& e) {
  if (e.op == "and") {
    auto left = eval(*e.left);
    return truthy(left) ? eval(*e.right) : left;
  }
  if (e.op == "or") {
    auto left = eval(*e.left);
    return truthy(left) ? left : eval(*e.right);
  }
  auto left = eval(*e.left);
  auto right = eval(*e.right);
  return binary_operator(*this, e.op, left, right);
}

value renderer::eval_compare(const compare_expr& e) {
  auto left = eval(*e.first);
  for (const auto& [op, rhs] : e.rest) {
    auto right = eval(*rhs);
    bool ok = false;
    if (op == "==")
      ok = equals(left, right);
    else if (op == "!=")
      ok = !equals(left, right);
    else if (op == "in")
      ok = contains(right, left);
    else if (op == "not in")
      ok = !contains(right, left);
    else {
      int c = compare(left, right);
      ok = op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0;
    }
    if (!ok)
      return value{json(false)};
    left = std::move(right);
  }
  return value{json(true)};
}

value renderer::eval_call(const call_expr& e) {
  auto callee = eval(*e.callee);
  return call(callee, eval_args(e.args));
}

value renderer::eval_filter(const filter_expr& e) {
  auto input = eval(*e.operand);
  auto args = eval_args(e.args);
  if (e.kind == expr_kind::test) {
    bool result = test(e.name, input, std::move(args));
    return value{json(e.negated ? !result : result)};
  }
  return filter(e.name, input, std::move(args));
}

} // namespace dynamo::jinja
