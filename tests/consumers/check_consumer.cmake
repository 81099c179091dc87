# Builds and runs a tiny program that uses graft one of the three ways users take it: the
# projects in examples/vendored/ (find_package, add_subdirectory), and find_package's main.cpp
# compiled with nothing but -I (plain_include).
#   cmake -DMODE=find_package|add_subdirectory|plain_include -DGRAFT_SOURCE_DIR=... \
#         -DWORK_DIR=... -DCXX_COMPILER=... -DGENERATOR=... -P check_consumer.cmake
cmake_minimum_required(VERSION 3.16)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(LAST_OUTPUT "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(consumers ${GRAFT_SOURCE_DIR}/examples/vendored)

if(MODE STREQUAL "find_package")
  # Install graft into a private prefix, then build a project that finds it.
  run(${CMAKE_COMMAND} -S ${GRAFT_SOURCE_DIR} -B ${WORK_DIR}/graft-build -G ${GENERATOR}
      -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DGRAFT_BUILD_TESTS=OFF -DGRAFT_BUILD_EXAMPLES=OFF
      -DGRAFT_INSTALL=ON -DCMAKE_INSTALL_PREFIX=${WORK_DIR}/prefix)
  run(${CMAKE_COMMAND} --install ${WORK_DIR}/graft-build)
  foreach(f include/graft/graft.hpp share/cmake/graft/graftConfig.cmake
            share/cmake/graft/graftConfigVersion.cmake share/cmake/graft/graftTargets.cmake)
    if(NOT EXISTS ${WORK_DIR}/prefix/${f})
      message(FATAL_ERROR "install did not produce ${f}")
    endif()
  endforeach()
  run(${CMAKE_COMMAND} -S ${consumers}/find_package -B ${WORK_DIR}/build -G ${GENERATOR}
      -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
  run(${WORK_DIR}/build/app)
elseif(MODE STREQUAL "add_subdirectory")
  run(${CMAKE_COMMAND} -S ${consumers}/add_subdirectory -B ${WORK_DIR}/build -G ${GENERATOR}
      -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DGRAFT_SOURCE_DIR=${GRAFT_SOURCE_DIR})
  # Vendored graft must not add its own tests, examples or benchmarks to the user's build.
  foreach(dir tests examples bench)
    if(EXISTS ${WORK_DIR}/build/graft/${dir})
      message(FATAL_ERROR "vendored graft added its own ${dir} to the user's build")
    endif()
  endforeach()
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
  run(${WORK_DIR}/build/app)
elseif(MODE STREQUAL "plain_include")
  # No CMake on the user's side: the compiler, -I include and the dependencies' include paths.
  run(${CXX_COMPILER} -std=c++17 -I${GRAFT_SOURCE_DIR}/include -I${EIGEN_INCLUDE_DIR}
      ${consumers}/find_package/main.cpp -o ${WORK_DIR}/app)
  run(${WORK_DIR}/app)
else()
  message(FATAL_ERROR "unknown MODE '${MODE}'")
endif()

string(FIND "${LAST_OUTPUT}" "%batch_norm : [num_users=1]" found)
if(found EQUAL -1)
  message(FATAL_ERROR "the consumer program did not print the graph:\n${LAST_OUTPUT}")
endif()
message(STATUS "consumer (${MODE}) built and ran")
