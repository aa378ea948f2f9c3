# Installs a CMake package so that other projects can do:
#   find_package(Kaon REQUIRED)
#   target_link_libraries(app PRIVATE Kaon::kaon)
include(CMakePackageConfigHelpers)
set(KAON_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/Kaon)
install(EXPORT KaonTargets NAMESPACE Kaon:: DESTINATION ${KAON_CMAKE_DIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/KaonConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/KaonConfig.cmake INSTALL_DESTINATION ${KAON_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/KaonConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/KaonConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/KaonConfigVersion.cmake
  DESTINATION ${KAON_CMAKE_DIR})
