# Installs the SDK: public headers, libraries and a CMake package config, so that an out-of-tree
# project can find_package(libdynamo) and link dynamo::core, dynamo::actors, ...
include(CMakePackageConfigHelpers)
get_property(dynamo_libs GLOBAL PROPERTY DYNAMO_LIBRARIES)
get_property(dynamo_header_dirs GLOBAL PROPERTY DYNAMO_HEADER_DIRS)
foreach(dir IN LISTS dynamo_header_dirs)
  install(DIRECTORY ${dir}/dynamo DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
          FILES_MATCHING PATTERN "*.hpp" PATTERN "internal" EXCLUDE)
endforeach()
install(TARGETS ${dynamo_libs} EXPORT libdynamoTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT libdynamoTargets NAMESPACE dynamo:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/libdynamo)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/libdynamoConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/libdynamoConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/libdynamo)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/libdynamoConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/libdynamoConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/libdynamoConfigVersion.cmake
              ${CMAKE_CURRENT_LIST_DIR}/FindCAF.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/libdynamo)
