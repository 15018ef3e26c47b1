# The README's first demo, as ctest runs it: tapegrad-lm trains with its defaults on the built-in
# corpus into WORK_DIR, then `complete "king sits on"` must answer "the" (p >= 0.9) and continue
# with "the throne.", and `sample` must run. PROGRAM is tapegrad-lm.
file(REMOVE_RECURSE "${WORK_DIR}")
function(run_lm expect)
  execute_process(COMMAND "${PROGRAM}" ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
  message("$ tapegrad-lm ${ARGN}\n${err}${out}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "tapegrad-lm ${ARGN} exited with ${rc}")
  endif()
  foreach(p IN LISTS expect)
    if(NOT out MATCHES "${p}")
      message(FATAL_ERROR "tapegrad-lm ${ARGN}: output does not match '${p}'")
    endif()
  endforeach()
endfunction()
run_lm("trained 100 steps;validation loss [0-9.]+ nats/word" train --out "${WORK_DIR}")
run_lm("\n  the +(0\\.9[0-9]+|1\\.0000) ;most likely continuation: king sits on the throne\\.\n"
       complete --model "${WORK_DIR}" "king sits on")
run_lm("[a-z]" sample --model "${WORK_DIR}" --length 30 --seed 1)
