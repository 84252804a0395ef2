# embed_schema.cmake - writes ch-api.schema.json into a C++ source as a raw string literal.
# Usage: cmake -DINPUT=... -DOUTPUT=... -P embed_schema.cmake
file(READ ${INPUT} text)
file(WRITE ${OUTPUT}
  "// Generated from ch-api.schema.json by embed_schema.cmake; do not edit.\n"
  "namespace hal::ch_emulator {\n"
  "extern const char *const kChApiSchemaText;\n"
  "const char *const kChApiSchemaText = R\"HALCHSCHEMA(${text})HALCHSCHEMA\";\n"
  "}  // namespace hal::ch_emulator\n")
