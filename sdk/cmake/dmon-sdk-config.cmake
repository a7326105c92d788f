# find_package(dmon-sdk) for plugins built outside the dmon tree.
include(${CMAKE_CURRENT_LIST_DIR}/dmon-sdk-targets.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/DmonPlugin.cmake)
