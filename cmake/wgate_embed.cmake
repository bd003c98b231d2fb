# wgate_embed_files(<target> <name> [BASE_DIR <dir>] <files>...)
#
# Embeds files in <target> at build time: generates <name>.cpp (one byte
# array per file) and <name>.h, which declares
#   std::span<const wgate::http::EmbeddedFile> wgate::embedded::<name>();
# for http::StaticAssets. A file's name is its path relative to BASE_DIR
# (default: the current source dir), "/"-separated. The arrays are rebuilt
# when a file changes; nothing is fetched.
set(WGATE_EMBED_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/embed_files.cmake)

function(wgate_embed_files target name)
  cmake_parse_arguments(ARG "" "BASE_DIR" "" ${ARGN})
  if(NOT ARG_BASE_DIR)
    set(ARG_BASE_DIR ${CMAKE_CURRENT_SOURCE_DIR})
  endif()
  if(NOT name MATCHES "^[A-Za-z_][A-Za-z0-9_]*$")
    message(FATAL_ERROR "wgate_embed_files: '${name}' is not a C++ identifier")
  endif()
  set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/wgate_embed)
  set(manifest "")
  set(paths "")
  foreach(file ${ARG_UNPARSED_ARGUMENTS})
    get_filename_component(path ${file} ABSOLUTE BASE_DIR ${ARG_BASE_DIR})
    file(RELATIVE_PATH rel ${ARG_BASE_DIR} ${path})
    if(rel MATCHES "^\\.\\./" OR rel MATCHES "[\";\\\\]")
      message(FATAL_ERROR "wgate_embed_files: '${file}' is outside BASE_DIR or has a quote, ';' or backslash")
    endif()
    string(APPEND manifest "${rel}\n${path}\n")
    list(APPEND paths ${path})
  endforeach()
  list(LENGTH paths count)
  file(WRITE ${out_dir}/${name}.manifest.new "${manifest}")
  # Touch the manifest only when it changes, so a reconfigure rebuilds nothing.
  file(COPY_FILE ${out_dir}/${name}.manifest.new ${out_dir}/${name}.manifest ONLY_IF_DIFFERENT)
  add_custom_command(
    OUTPUT ${out_dir}/${name}.cpp ${out_dir}/${name}.h
    COMMAND ${CMAKE_COMMAND} -DNAME=${name} -DMANIFEST=${out_dir}/${name}.manifest -DOUT_DIR=${out_dir}
            -P ${WGATE_EMBED_SCRIPT}
    DEPENDS ${paths} ${out_dir}/${name}.manifest ${WGATE_EMBED_SCRIPT}
    COMMENT "Embedding ${name} (${count} files)"
    VERBATIM)
  target_sources(${target} PRIVATE ${out_dir}/${name}.cpp)
  target_include_directories(${target} PRIVATE ${out_dir})
endfunction()
