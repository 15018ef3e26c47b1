# Runs PROGRAM with ARGS (a ;-list), requires exit code 0 and that the output matches every
# regular expression in EXPECT (separated by @@, each searched in the whole output).
separate_arguments(args NATIVE_COMMAND "${ARGS}")
execute_process(COMMAND ${PROGRAM} ${args} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${PROGRAM} exited with ${rc}")
endif()
string(REPLACE "@@" ";" patterns "${EXPECT}")
foreach(p IN LISTS patterns)
  if(NOT out MATCHES "${p}")
    message(FATAL_ERROR "${PROGRAM}: output does not match '${p}'")
  endif()
endforeach()
