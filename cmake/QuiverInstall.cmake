# Install rules: the static library and its public headers, a CMake package (find_package(quiver) ->
# quiver::quiver), a pkg-config file and the `quiver` command.
#
#   cmake --install build --prefix /opt/quiver
#
#   <prefix>/lib/libquiver.a
#   <prefix>/include/quiver/*.hpp
#   <prefix>/lib/cmake/quiver/quiverConfig.cmake, quiverConfigVersion.cmake, quiverTargets*.cmake
#   <prefix>/lib/pkgconfig/quiver.pc
#   <prefix>/bin/quiver
#
# Included from the top-level CMakeLists.txt after src/ and tools/quiver/, whose targets it installs.
# Nothing here changes how a target is built.

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(QUIVER_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/quiver"
    CACHE STRING "Where the CMake package files of quiver are installed (relative to the prefix)")

# quiver links the header-only Asio target PUBLIC, so it travels with the package as quiver::asio
# (ASIO_STANDALONE, ASIO_NO_DEPRECATED and Threads; the Asio headers themselves come from the system).
set_target_properties(asio_standalone PROPERTIES EXPORT_NAME asio)

install(TARGETS quiver asio_standalone
  EXPORT quiverTargets
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT development)
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/quiver"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}" COMPONENT development
  FILES_MATCHING PATTERN "*.hpp")
install(TARGETS quiver_cli
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT runtime)

# The CMake package. quiver is static, so its private dependencies (fmt, ngtcp2, nghttp3, nghttp2, GnuTLS,
# uriparser, zlib, brotli, zstd, http-parser) are
# link dependencies of consumers: quiverConfig.cmake finds them before it loads the targets.
install(EXPORT quiverTargets
  NAMESPACE quiver::
  FILE quiverTargets.cmake
  DESTINATION "${QUIVER_INSTALL_CMAKEDIR}" COMPONENT development)
configure_package_config_file("${CMAKE_CURRENT_LIST_DIR}/quiverConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/package/quiverConfig.cmake"
  INSTALL_DESTINATION "${QUIVER_INSTALL_CMAKEDIR}")
# 0.x: a minor release may break the API.
write_basic_package_version_file("${PROJECT_BINARY_DIR}/package/quiverConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}"
  COMPATIBILITY SameMinorVersion)
install(FILES
  "${PROJECT_BINARY_DIR}/package/quiverConfig.cmake"
  "${PROJECT_BINARY_DIR}/package/quiverConfigVersion.cmake"
  DESTINATION "${QUIVER_INSTALL_CMAKEDIR}" COMPONENT development)

# pkg-config. The prefix is computed from the .pc file's own location, so the tree can be installed
# with any --prefix (or DESTDIR) and moved afterwards.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(QUIVER_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH _quiver_pc_up "/quiver-root/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/quiver-root")
  string(REGEX REPLACE "/$" "" _quiver_pc_up "${_quiver_pc_up}")
  set(QUIVER_PC_PREFIX "\${pcfiledir}/${_quiver_pc_up}")
endif()
foreach(_quiver_dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_quiver_dir}}")
    set(QUIVER_PC_${_quiver_dir} "${CMAKE_INSTALL_${_quiver_dir}}")
  else()
    set(QUIVER_PC_${_quiver_dir} "\${prefix}/${CMAKE_INSTALL_${_quiver_dir}}")
  endif()
endforeach()
configure_file("${CMAKE_CURRENT_LIST_DIR}/quiver.pc.in" "${PROJECT_BINARY_DIR}/package/quiver.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/package/quiver.pc"
  DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig" COMPONENT development)
