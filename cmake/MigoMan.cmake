# migo_man_page(TARGET [PAGE NAME SECTION N ARGS ARGS]) — a man page
# written at build time by the program itself: by default NAME is TARGET,
# the section 8 and ARGS --man (TARGET --man=5 writes the page of its
# configuration file). The page and --help render the same ProgramDoc
# (common/options.h), so they cannot disagree. Installed with the program;
# tests/man/man_test.sh checks each page.
function(migo_man_page target)
  cmake_parse_arguments(M "" "PAGE;SECTION;ARGS" "" ${ARGN})
  if(NOT M_PAGE)
    set(M_PAGE ${target})
  endif()
  if(NOT M_SECTION)
    set(M_SECTION 8)
  endif()
  if(NOT DEFINED M_ARGS)
    set(M_ARGS --man)
  endif()
  set(page ${CMAKE_CURRENT_BINARY_DIR}/${M_PAGE}.${M_SECTION})
  add_custom_command(OUTPUT ${page}
                     COMMAND sh -c "\"$<TARGET_FILE:${target}>\" ${M_ARGS} > \"${page}.tmp\" && mv \"${page}.tmp\" \"${page}\""
                     DEPENDS ${target} VERBATIM
                     COMMENT "Writing the man page ${M_PAGE}(${M_SECTION})")
  add_custom_target(${M_PAGE}_man${M_SECTION} ALL DEPENDS ${page})
  install(FILES ${page} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${M_SECTION})
endfunction()
