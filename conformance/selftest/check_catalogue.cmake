# check_catalogue.cmake - fails when the committed CLAUSES.md differs from what the clause
# registry generates (`hal-conformance --list-clauses --markdown`). Args: -DEXE -DCATALOGUE.
execute_process(COMMAND ${EXE} --list-clauses --markdown OUTPUT_VARIABLE generated
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "hal-conformance --list-clauses failed (${rc})")
endif()
file(READ ${CATALOGUE} committed)
if(NOT generated STREQUAL committed)
  message(FATAL_ERROR "${CATALOGUE} is out of date with the clause registry; regenerate it with "
                      "`cmake --build <build> --target hal_conformance_update_clauses`")
endif()
