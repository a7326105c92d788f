# dmon_add_plugin(NAME SOURCES src... [LIBRARIES libs...])
# Builds a loadable dmon plugin: a module library named exactly NAME (NAME.so / NAME.dll),
# exporting only dmon_plugin_entry, installed into <prefix>/lib/dmon.
include_guard(GLOBAL)
include(GNUInstallDirs)

function(dmon_add_plugin name)
  cmake_parse_arguments(PLUGIN "" "" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT PLUGIN_SOURCES)
    message(FATAL_ERROR "dmon_add_plugin(${name}): SOURCES is required")
  endif()
  add_library(${name} MODULE ${PLUGIN_SOURCES})
  target_link_libraries(${name} PRIVATE dmon::sdk ${PLUGIN_LIBRARIES})
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(DEFINED DMON_PLUGIN_OUTPUT_DIR)
    set_target_properties(${name} PROPERTIES
      LIBRARY_OUTPUT_DIRECTORY ${DMON_PLUGIN_OUTPUT_DIR}
      RUNTIME_OUTPUT_DIRECTORY ${DMON_PLUGIN_OUTPUT_DIR})
  endif()
  if(NOT WIN32)
    # Group/other-writable plugin files are refused by the host; build them 0755.
    target_link_options(${name} PRIVATE -Wl,--no-undefined)
  endif()
  install(TARGETS ${name} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/dmon
                          RUNTIME DESTINATION ${CMAKE_INSTALL_LIBDIR}/dmon)
endfunction()
