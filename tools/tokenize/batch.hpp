// The JSON-lines protocol of dynamo-tokenize --batch, used by the golden tests.
#pragma once

#include "dynamo/tokenizer/tokenizer.hpp"

#include <iosfwd>

namespace dynamo::tools {

/// Reads one JSON request per line from `in` and writes one JSON reply per line to `out`:
///   {"op":"encode","text":T,"special":B}      -> {"ids":[...]}
///   {"op":"decode","ids":[...],"skip_special":B} -> {"text":T}
///   {"op":"stream","ids":[...],"skip_special":B} -> {"deltas":[...],"text":T}
///   {"op":"info"} -> {"vocab_size":N,"bos":ID|null,"eos":ID|null,"prefix":[...]}
/// Text travels as JSON strings; "text_hex" (encode input) carries arbitrary bytes instead.
/// A bad request gets {"error":message} and processing continues. Returns the number of
/// requests that failed.
int run_batch(const tokenizer::tokenizer& tok, std::istream& in, std::ostream& out);

} // namespace dynamo::tools
