# Compiles SOURCE with try_compile and requires that it fails with the text in EXPECT_FILE, so a
# misuse of graft's DSL is a compile error that says what is wrong.
cmake_minimum_required(VERSION 3.16)
# Every non-empty line of EXPECT_FILE must appear in the compiler's output.
file(STRINGS ${EXPECT_FILE} expected_lines)
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
execute_process(
  COMMAND ${CXX_COMPILER} -std=c++${CXX_STANDARD} -fsyntax-only -I${INCLUDE_DIR} -I${EIGEN_INCLUDE_DIR} ${SOURCE}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but it must not")
endif()
foreach(expected IN LISTS expected_lines)
  string(FIND "${err}" "${expected}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${SOURCE} failed to compile, but without the expected text\n  \"${expected}\"\n${err}")
  endif()
endforeach()
message(STATUS "compile error as expected: ${expected_lines}")
