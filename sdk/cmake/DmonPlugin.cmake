# dmon_add_plugin(NAME SOURCES src... [LIBRARIES libs...] [OUTPUT_DIRECTORY dir] [NO_INSTALL])
# Builds a loadable dmon plugin: a module library named exactly NAME (NAME.so / NAME.dll),
# exporting only dmon_plugin_entry, installed into <prefix>/lib/dmon.
include_guard(GLOBAL)
include(GNUInstallDirs)

function(dmon_add_plugin name)
  cmake_parse_arguments(PLUGIN "NO_INSTALL" "OUTPUT_DIRECTORY" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT PLUGIN_SOURCES)
    message(FATAL_ERROR "dmon_add_plugin(${name}): SOURCES is required")
  endif()
  add_library(${name} MODULE ${PLUGIN_SOURCES})
  target_link_libraries(${name} PRIVATE dmon::sdk ${PLUGIN_LIBRARIES})
    set_target_properties(${name} PROPERTIES
    PREFIX ""
    CXX_STANDARD 20
    CXX_STANDARD_REQUIRED ON
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(NOT PLUGIN_OUTPUT_DIRECTORY AND DEFINED DMON_PLUGIN_OUTPUT_DIR)
    set(PLUGIN_OUTPUT_DIRECTORY ${DMON_PLUGIN_OUTPUT_DIR})
  endif()
  if(PLUGIN_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES
      LIBRARY_OUTPUT_DIRECTORY ${PLUGIN_OUTPUT_DIRECTORY}
      RUNTIME_OUTPUT_DIRECTORY ${PLUGIN_OUTPUT_DIRECTORY})
  endif()
  if(NOT WIN32)
    # A plugin must not rely on symbols of the host: it links everything it uses.
    target_link_options(${name} PRIVATE -Wl,--no-undefined)
  endif()
  if(DMON_LEAN_RUNTIME)
    # Set inside the dmon tree only: see DMON_LEAN_RUNTIME in the top-level CMakeLists.txt.
    # Section GC keeps only the parts of the runtime the plugin really uses.
    target_compile_options(${name} PRIVATE -ffunction-sections -fdata-sections)
    target_link_options(${name} PRIVATE -Wl,--gc-sections)
    if(NOT DMON_SHARED_CXX_RUNTIME)
      target_link_options(${name} PRIVATE -static-libstdc++ -static-libgcc)
    endif()
  endif()
  if(PLUGIN_NO_INSTALL)
    return()
  endif()
  # <prefix>/lib/dmon, not the multiarch libdir: dmon looks for plugins in <its folder>/../lib/dmon.
  install(TARGETS ${name} LIBRARY DESTINATION lib/dmon RUNTIME DESTINATION lib/dmon)
endfunction()
