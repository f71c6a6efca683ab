# migo_add_test(NAME SOURCES... [LIBS ...] [DEFINITIONS ...] [DEPENDS ...]) — one Catch2
# test binary, registered with CTest under its own name. Every unit test in
# the tree goes through here so all of them share one main and one set of
# flags, and nothing touches a test target when BUILD_TESTING is off
# (DEPENDS: the programs the test runs, built first).
if(BUILD_TESTING AND NOT TARGET migo_catch_main)
  add_library(migo_catch_main STATIC ${CMAKE_CURRENT_LIST_DIR}/catch_main.cc)
  target_link_libraries(migo_catch_main PUBLIC Catch2::Catch2)
endif()

function(migo_add_test name)
  if(NOT BUILD_TESTING)
    return()
  endif()
  cmake_parse_arguments(T "" "" "SOURCES;LIBS;DEFINITIONS;DEPENDS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE migo_catch_main ${T_LIBS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests/support)
  if(T_DEFINITIONS)
    target_compile_definitions(${name} PRIVATE ${T_DEFINITIONS})
  endif()
  if(T_DEPENDS)
    add_dependencies(${name} ${T_DEPENDS})
  endif()
  add_test(NAME ${name} COMMAND ${name})
endfunction()

# migo_add_fuzzer(NAME SOURCES... SEEDS DIR MAX_LEN N [INCLUDES ...]) — a
# libFuzzer target (clang only), registered with CTest for a short run from
# the seed corpus in DIR; run it longer by hand. libFuzzer adds new inputs
# to the FIRST corpus directory it is given, so that is a directory in the
# build tree and the seeds in the source tree are only read.
function(migo_add_fuzzer name)
  if(NOT BUILD_TESTING OR NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    return()
  endif()
  cmake_parse_arguments(F "" "SEEDS;MAX_LEN" "SOURCES;INCLUDES" ${ARGN})
  add_executable(${name} ${F_SOURCES})
  target_include_directories(${name} PRIVATE ${F_INCLUDES})
  target_compile_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
  set(corpus ${CMAKE_CURRENT_BINARY_DIR}/${name}-corpus)
  file(MAKE_DIRECTORY ${corpus})
  add_test(NAME ${name}
           COMMAND ${name} -max_total_time=20 -rss_limit_mb=1024 -max_len=${F_MAX_LEN}
                   -artifact_prefix=${CMAKE_CURRENT_BINARY_DIR}/ ${corpus} ${F_SEEDS})
endfunction()
