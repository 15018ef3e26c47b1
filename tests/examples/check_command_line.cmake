# Runs PROGRAM with ARGS (split like a shell command line) and checks how it treats its command
# line. EXIT is the exit code it must return:
#   2  a usage error: nothing on stdout, exactly one line on stderr, matching EXPECT;
#   0  e.g. --help: stdout matches EXPECT.
# A crash (signal, abort) is a failure either way.
separate_arguments(args NATIVE_COMMAND "${ARGS}")
execute_process(COMMAND ${PROGRAM} ${args} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                ERROR_VARIABLE err)
message("${PROGRAM} ${ARGS}\n-- exit ${rc}, stdout:\n${out}-- stderr:\n${err}")
if(NOT rc STREQUAL "${EXIT}")
  message(FATAL_ERROR "exited with '${rc}', expected ${EXIT}")
endif()
if(EXIT EQUAL 2)
  if(NOT out STREQUAL "")
    message(FATAL_ERROR "a usage error printed to stdout")
  endif()
  if(NOT err MATCHES "^[^\n]+\n$")
    message(FATAL_ERROR "a usage error must be exactly one line on stderr")
  endif()
  set(checked "${err}")
else()
  set(checked "${out}")
endif()
if(NOT checked MATCHES "${EXPECT}")
  message(FATAL_ERROR "output does not match '${EXPECT}'")
endif()
