// The drain protocol every long-lived component actor speaks: refuse new work, finish in-flight
// work within a bound, reply with a report, then terminate.
#pragma once

#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>

namespace dynamo {

/// Graceful drain request carrying the bound in milliseconds.
using drain_atom = caf::atom_constant<caf::atom("drain")>;

/// A component's answer to drain.
struct drain_report {
  bool clean = true;        ///< Everything in flight finished within the bound.
  uint32_t abandoned = 0;   ///< In-flight requests still running when the bound passed.
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, drain_report& x) {
  return f(caf::meta::type_name("drain_report"), x.clean, x.abandoned);
}

/// Every component actor handles drain; after replying it terminates.
using lifecycle_actor = caf::typed_actor<caf::replies_to<drain_atom, uint32_t>::with<drain_report>>;

} // namespace dynamo
