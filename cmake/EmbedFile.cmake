# Writes OUTPUT, a C++ file defining `const std::string_view g4::SYMBOL` with the bytes of INPUT.
# Usage: cmake -DINPUT=file -DOUTPUT=file.cc -DSYMBOL=kName -P EmbedFile.cmake
file(READ "${INPUT}" content)
file(WRITE "${OUTPUT}.tmp"
     "// Generated from ${INPUT} by cmake/EmbedFile.cmake; do not edit.\n"
     "#include <string_view>\n\nnamespace g4 {\nextern const std::string_view ${SYMBOL};\n"
     "const std::string_view ${SYMBOL} = R\"g4embed(${content})g4embed\";\n}  // namespace g4\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
