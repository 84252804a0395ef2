# build_out_of_tree.cmake - builds an example backend as a vendor would, outside the HAL build:
# a fresh CMake project from -DSOURCE into -DBUILD against the headers in -DHAL_INCLUDE_DIR, with
# -DCXX (and -DLAUNCHER, e.g. ccache, when given). Fails when configuring or building fails.
file(REMOVE_RECURSE ${BUILD})
set(options -DHAL_INCLUDE_DIR=${HAL_INCLUDE_DIR} -DCMAKE_CXX_COMPILER=${CXX})
if(LAUNCHER)
  list(APPEND options -DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER})
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE} -B ${BUILD} ${options}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring ${SOURCE} failed (${rc}):\n${out}\n${err}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "building ${SOURCE} failed (${rc}):\n${out}\n${err}")
endif()
message(STATUS "built ${SOURCE} out of tree in ${BUILD}")
