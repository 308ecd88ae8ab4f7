# Generates a header that holds files as string literals, so the binary carries them.
# Invoked at build time:
#   cmake -DDIR=... -DPATTERN=*.json -DNAMESPACE=orderbridge::model -DFUNCTION=EmbeddedSchemas -DOUT=... -P EmbedFiles.cmake
# The header defines `const std::vector<std::pair<std::string_view, std::string_view>>& FUNCTION()`
# (file name, content), sorted by name.
file(GLOB files "${DIR}/${PATTERN}")
list(SORT files)
set(body "#pragma once\n// Generated from ${DIR} by cmake/EmbedFiles.cmake. Do not edit.\n")
string(APPEND body "#include <string_view>\n#include <utility>\n#include <vector>\n\nnamespace ${NAMESPACE} {\n")
string(APPEND body "inline const std::vector<std::pair<std::string_view, std::string_view>>& ${FUNCTION}() {\n")
string(APPEND body "    static const std::vector<std::pair<std::string_view, std::string_view>> kFiles = {\n")
foreach(f IN LISTS files)
  get_filename_component(name "${f}" NAME)
  file(READ "${f}" content)
  string(FIND "${content}" ")OBEMBED\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${f} contains the raw-string delimiter )OBEMBED\"")
  endif()
  string(APPEND body "        {\"${name}\", R\"OBEMBED(${content})OBEMBED\"},\n")
endforeach()
string(APPEND body "    };\n    return kFiles;\n}\n}  // namespace ${NAMESPACE}\n")
file(WRITE "${OUT}.tmp" "${body}")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different "${OUT}.tmp" "${OUT}")
