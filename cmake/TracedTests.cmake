# Registers Python test modules that run programs under the real
# `connleak run`, once per optimisation level: ctest names PREFIX.O0.MODULE
# and PREFIX.O2.MODULE. The modules take their paths from the environment
# (tests/scenarios/harness.py): the CLI, BIN_DIR/<level> and the programs'
# sources in this directory's programs/.
function(connleak_add_traced_tests prefix bin_dir)
  find_package(Python3 REQUIRED COMPONENTS Interpreter)
  foreach(opt O0 O2)
    foreach(module ${ARGN})
      add_test(NAME ${prefix}.${opt}.${module}
               COMMAND ${Python3_EXECUTABLE} -m unittest -v ${module}
               WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
      set_tests_properties(${prefix}.${opt}.${module} PROPERTIES
        TIMEOUT 120
        ENVIRONMENT "CONNLEAK=$<TARGET_FILE:connleak>;SCENARIO_BIN_DIR=${bin_dir}/${opt};SCENARIO_SRC_DIR=${CMAKE_CURRENT_SOURCE_DIR}/programs;PYTHONDONTWRITEBYTECODE=1")
    endforeach()
  endforeach()
endfunction()
