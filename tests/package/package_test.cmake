# Installs the built tree into a temporary prefix and uses it from outside, as a user would:
# BUILD_DIR must have been built (at least the targets quiver and quiver_cli): ctest does not build.
#
#   1. cmake --install BUILD_DIR --prefix WORK_DIR/prefix, and check the expected files are there;
#   2. configure, build and run tests/package/consumer with find_package(quiver) (CMAKE_PREFIX_PATH);
#   3. compile and run the same main.cpp with `pkg-config --cflags --libs quiver`.
#
#   cmake -DBUILD_DIR=... -DCONSUMER_DIR=... -DWORK_DIR=... -DCXX=... [-DGENERATOR=...] -P package_test.cmake

foreach(var BUILD_DIR CONSUMER_DIR WORK_DIR CXX)
  if(NOT ${var})
    message(FATAL_ERROR "package_test.cmake: -D${var}=... is required")
  endif()
endforeach()

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " shown "${ARGN}")
    message(FATAL_ERROR "FAILED (${rc}): ${shown}\n${out}")
  endif()
  set(RUN_OUTPUT "${out}" PARENT_SCOPE)
endfunction()

set(prefix "${WORK_DIR}/prefix")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

# 1. Install.
run("${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${prefix}")
foreach(file
    lib/libquiver.a include/quiver/client.hpp include/quiver/request_builder.hpp
    lib/cmake/quiver/quiverConfig.cmake lib/cmake/quiver/quiverConfigVersion.cmake
    lib/cmake/quiver/quiverTargets.cmake lib/pkgconfig/quiver.pc bin/quiver)
  if(NOT EXISTS "${prefix}/${file}")
    message(FATAL_ERROR "not installed: ${prefix}/${file}")
  endif()
endforeach()
file(GLOB_RECURSE internal_headers "${prefix}/include/*/server.hpp" "${prefix}/include/*/connection.hpp")
if(internal_headers)
  message(FATAL_ERROR "internal headers were installed: ${internal_headers}")
endif()
run("${prefix}/bin/quiver" --version)
message(STATUS "installed into ${prefix}; quiver --version: ${RUN_OUTPUT}")

# 2. find_package(quiver). The consumer is compiled warning-clean against the installed headers.
set(generator_args "")
if(GENERATOR)
  set(generator_args -G "${GENERATOR}")
endif()
run("${CMAKE_COMMAND}" -S "${CONSUMER_DIR}" -B "${WORK_DIR}/consumer-build" ${generator_args}
    "-DCMAKE_PREFIX_PATH=${prefix}" "-DCMAKE_CXX_COMPILER=${CXX}"
    "-DCMAKE_CXX_FLAGS=-Wall -Wextra -Wpedantic -Werror")
run("${CMAKE_COMMAND}" --build "${WORK_DIR}/consumer-build")
run("${WORK_DIR}/consumer-build/consumer")
if(NOT RUN_OUTPUT MATCHES "consumer ok")
  message(FATAL_ERROR "the find_package consumer did not print 'consumer ok':\n${RUN_OUTPUT}")
endif()
message(STATUS "find_package(quiver) consumer:\n${RUN_OUTPUT}")

# 3. pkg-config.
find_program(PKG_CONFIG_EXECUTABLE pkg-config REQUIRED)
set(ENV{PKG_CONFIG_PATH} "${prefix}/lib/pkgconfig")
run("${PKG_CONFIG_EXECUTABLE}" --cflags --libs quiver)
string(STRIP "${RUN_OUTPUT}" pc_flags)
message(STATUS "pkg-config --cflags --libs quiver: ${pc_flags}")
separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
# No -std here: quiver.pc's Cflags carry -std=c++23.
run("${CXX}" -Wall -Wextra -Wpedantic -Werror "${CONSUMER_DIR}/main.cpp"
    -o "${WORK_DIR}/consumer-pc" ${pc_flags})
run("${WORK_DIR}/consumer-pc")
if(NOT RUN_OUTPUT MATCHES "consumer ok")
  message(FATAL_ERROR "the pkg-config consumer did not print 'consumer ok':\n${RUN_OUTPUT}")
endif()
message(STATUS "pkg-config consumer:\n${RUN_OUTPUT}")

# 4. A consumer compiled below C++23 is stopped by one clear message (include/quiver/config.hpp).
execute_process(COMMAND "${CXX}" -std=c++20 -fsyntax-only "-I${prefix}/include" -DASIO_STANDALONE
                        "${CONSUMER_DIR}/main.cpp"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc EQUAL 0 OR NOT out MATCHES "quiver needs C\\+\\+23")
  message(FATAL_ERROR "a C++20 consumer was not refused with 'quiver needs C++23' (exit ${rc}):\n${out}")
endif()
message(STATUS "a C++20 consumer is refused: quiver needs C++23")
