# Fuzz targets of the Cap'n Proto request plane's decoders of network bytes (engineer "capnp"):
# the generate binding's wire types and the plane's error shape.
if(TARGET dynamo_actors)
  dynamo_add_fuzz_target(NAME capnp_generate_request SOURCES capnp_generate_request.cpp
                         DEPS dynamo::actors)
  dynamo_add_fuzz_target(NAME capnp_token_chunk SOURCES capnp_token_chunk.cpp
                         DEPS dynamo::actors)
  dynamo_add_fuzz_target(NAME capnp_generate_summary SOURCES capnp_generate_summary.cpp
                         DEPS dynamo::actors)
endif()
if(TARGET dynamo_capnp)
  dynamo_add_fuzz_target(NAME capnp_error SOURCES capnp_error.cpp DEPS dynamo::capnp)
endif()
