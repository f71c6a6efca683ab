# migo_add_test(NAME SOURCES... [LIBS ...] [DEFINITIONS ...]) — one Catch2
# test binary, registered with CTest under its own name. Every unit test in
# the tree goes through here so all of them share one main and one set of
# flags, and nothing touches a test target when BUILD_TESTING is off.
if(BUILD_TESTING AND NOT TARGET migo_catch_main)
  add_library(migo_catch_main STATIC ${CMAKE_CURRENT_LIST_DIR}/catch_main.cc)
  target_link_libraries(migo_catch_main PUBLIC Catch2::Catch2)
endif()

function(migo_add_test name)
  if(NOT BUILD_TESTING)
    return()
  endif()
  cmake_parse_arguments(T "" "" "SOURCES;LIBS;DEFINITIONS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE migo_catch_main ${T_LIBS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests/support)
  if(T_DEFINITIONS)
    target_compile_definitions(${name} PRIVATE ${T_DEFINITIONS})
  endif()
  add_test(NAME ${name} COMMAND ${name})
endfunction()
