# migo_man_page(TARGET) — section 8 page for a daemon, written at build time
# by the program itself (TARGET --man): the page and --help render the same
# ProgramDoc (common/options.h), so they cannot disagree. Installed with
# the program; tests/man/man_test.sh checks each page.
function(migo_man_page target)
  set(page ${CMAKE_CURRENT_BINARY_DIR}/${target}.8)
  add_custom_command(OUTPUT ${page}
                     COMMAND sh -c "\"$<TARGET_FILE:${target}>\" --man > \"${page}.tmp\" && mv \"${page}.tmp\" \"${page}\""
                     DEPENDS ${target} VERBATIM
                     COMMENT "Writing the man page ${target}(8)")
  add_custom_target(${target}_man ALL DEPENDS ${page})
  install(FILES ${page} DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
endfunction()
