# Installation: one static archive (the API, every kernel and the one Halide runtime), the public header, and a
# CMake package so that an application finds it with find_package(hmlstm) and links hmlstm::hmlstm.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# Merge the API, the kernel archives and the runtime into libhmlstm.a with an ar MRI script.
get_property(kernels GLOBAL PROPERTY HMLSTM_KERNELS)
set(merge_script "${CMAKE_CURRENT_BINARY_DIR}/merge_hmlstm.mri")
set(mri "CREATE ${CMAKE_CURRENT_BINARY_DIR}/libhmlstm.a\n")
foreach (lib IN ITEMS hmlstm_api hmlstm_device hmlstm_halide_runtime ${kernels})
    string(APPEND mri "ADDLIB $<TARGET_FILE:${lib}>\n")
endforeach ()
string(APPEND mri "SAVE\nEND\n")
file(GENERATE OUTPUT "${merge_script}" CONTENT "${mri}")
add_custom_command(OUTPUT "${CMAKE_CURRENT_BINARY_DIR}/libhmlstm.a"
                   COMMAND ${CMAKE_COMMAND} -E rm -f "${CMAKE_CURRENT_BINARY_DIR}/libhmlstm.a"
                   COMMAND ${CMAKE_AR} -M < "${merge_script}"
                   DEPENDS hmlstm_api hmlstm_device hmlstm_halide_runtime ${kernels} "${merge_script}"
                   COMMENT "Merging the kernels, the API and the Halide runtime into libhmlstm.a")
add_custom_target(hmlstm_merged ALL DEPENDS "${CMAKE_CURRENT_BINARY_DIR}/libhmlstm.a")

install(FILES "${CMAKE_CURRENT_BINARY_DIR}/libhmlstm.a" DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES runtime/include/hmlstm/hmlstm.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/hmlstm)
configure_package_config_file(cmake/hmlstmConfig.cmake.in "${CMAKE_CURRENT_BINARY_DIR}/hmlstmConfig.cmake"
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/hmlstm)
write_basic_package_version_file("${CMAKE_CURRENT_BINARY_DIR}/hmlstmConfigVersion.cmake"
                                 COMPATIBILITY SameMinorVersion)
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/hmlstmConfig.cmake" "${CMAKE_CURRENT_BINARY_DIR}/hmlstmConfigVersion.cmake"
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/hmlstm)
