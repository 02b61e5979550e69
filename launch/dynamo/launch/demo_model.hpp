// Where the example graphs keep the model they synthesize on first run.
#pragma once

#include <filesystem>

namespace dynamo {

/// The demo model's directory: $XDG_CACHE_HOME (else $HOME/.cache, else ./.cache)
/// /libdynamo/models/tiny, read from `envp` (main's third argument; no getenv). Any thread.
std::filesystem::path demo_model_dir(char** envp);

} // namespace dynamo
