#include "dynamo/tokenizer/tokenizer.hpp"

namespace dynamo::tokenizer {

decode_stream::~decode_stream() = default;

tokenizer::~tokenizer() = default;

} // namespace dynamo::tokenizer
