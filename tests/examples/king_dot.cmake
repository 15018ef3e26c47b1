# king_sits_on --listing --dot: the first training step's tape as a listing and as Graphviz DOT
# with one cluster per time step, the shared weights drawn once and gradient norms on the edges;
# when Graphviz is installed, `dot` renders it to SVG.
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(dot_file "${WORK_DIR}/king.dot")
execute_process(COMMAND ${PROGRAM} --epochs 2 --listing --dot ${dot_file}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "king_sits_on exited with ${rc}")
endif()
foreach(p "%[0-9]+ = tanh\\(%[0-9]+\\) +\\[1, 5\\] +saved 20 B +t=4" "parameter W_hh +\\[5, 5\\]"
          "in all" "wrote .*king.dot")
  if(NOT out MATCHES "${p}")
    message(FATAL_ERROR "the output does not match '${p}'")
  endif()
endforeach()
file(READ "${dot_file}" dot)
foreach(p "^digraph tape" "label=\"t=1\"" "label=\"t=4\"" "label=\"loss\"" "W_hh\\\\n\\[5, 5\\]"
          "penwidth=" "\\|grad\\| ")
  if(NOT dot MATCHES "${p}")
    message(FATAL_ERROR "${dot_file} does not match '${p}'")
  endif()
endforeach()
find_program(GRAPHVIZ_DOT dot)
if(NOT GRAPHVIZ_DOT)
  message("Graphviz (dot) is not installed: the picture was not rendered")
  return()
endif()
execute_process(COMMAND ${GRAPHVIZ_DOT} -Tsvg ${dot_file} -o ${WORK_DIR}/king.svg
                RESULT_VARIABLE rc ERROR_VARIABLE err)
file(READ "${WORK_DIR}/king.svg" svg)
if(NOT rc EQUAL 0 OR NOT svg MATCHES "<svg" OR NOT svg MATCHES "t=4")
  message(FATAL_ERROR "dot could not render ${dot_file} (exit ${rc}): ${err}")
endif()
