# The Windows build (docs/windows.md), cross-compiled with mingw-w64 (cmake/mingw-w64-x86_64.cmake)
# and tested under wine: `ctest -L windows` in build-windows/. scripts/build-windows.sh makes it.
#
# Debian has no mingw builds of libcurl, OpenSSL, libmount or libsystemd, and the Windows agent
# needs none of them (WinHTTP, CNG, the Windows backends). The header-only libraries it uses are
# put on mingw's include path one by one, from a folder of links made here: the host's
# /usr/include as a whole holds Linux headers and must never be on that path.
if(NOT (MINGW AND CMAKE_CROSSCOMPILING))
  message(FATAL_ERROR "The Windows build is a mingw-w64 cross-build from Debian: configure with "
                      "-DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64-x86_64.cmake "
                      "(scripts/build-windows.sh)")
endif()
set(dsvm_mingw_include ${CMAKE_BINARY_DIR}/mingw-include)
file(MAKE_DIRECTORY ${dsvm_mingw_include})
foreach(dsvm_header_dir nlohmann spdlog fmt catch2 CLI)
  if(NOT IS_DIRECTORY /usr/include/${dsvm_header_dir})
    message(FATAL_ERROR "/usr/include/${dsvm_header_dir} is missing: scripts/build-windows.sh "
                        "installs the Debian package that has it")
  endif()
  file(CREATE_LINK /usr/include/${dsvm_header_dir} ${dsvm_mingw_include}/${dsvm_header_dir}
       SYMBOLIC)
endforeach()
add_library(dsvm_header_libraries INTERFACE)
target_include_directories(dsvm_header_libraries SYSTEM INTERFACE ${dsvm_mingw_include})
target_compile_definitions(dsvm_header_libraries INTERFACE FMT_HEADER_ONLY SPDLOG_FMT_EXTERNAL)

# The code that builds for Windows as it is: the pool config and its rules, the metadata and Key
# Vault clients (over the HTTP seam), the mount plan and the status files' model, the user and
# mount option rules, the registry's model and format, JSON bounds, text, Root, the Clock and the
# deadline gate; a file named *_win32.cpp is the Windows half of a pair whose other half,
# *_posix.cpp, the Linux build compiles. The platform code (files, processes, locks, the
# backends) follows with the Windows backends.
dsvm_library(dsvm_portable
  common/clock.cpp
  common/deadline.cpp
  common/json_bounds.cpp
  common/json_fields.cpp
  common/root.cpp
  common/text.cpp
  common/wipe_win32.cpp
  mount/fstab.cpp
  mount/mountinfo.cpp
  mount/options.cpp
  users/registry.cpp
  users/registry_format.cpp
  users/rules.cpp
  users/rules_lists.cpp
  config/imds.cpp
  config/key_vault.cpp
  config/pool_config.cpp
  config/rules.cpp
  config/source_report.cpp
  engine/pass_report.cpp
  engine/plan.cpp
  engine/status.cpp
)
target_link_libraries(dsvm_portable PUBLIC dsvm_header_libraries)

# The Windows platform code (windows/): the service host under the service control manager and
# the service's recovery actions.
dsvm_library(dsvm_windows
  windows/recovery_actions.cpp
  windows/scm_host.cpp
  windows/win32_text.cpp
)
target_link_libraries(dsvm_windows PUBLIC dsvm_portable advapi32)

if(BUILD_TESTING)
  # The unit tests of that code, run under wine.
  add_executable(windows_unit_tests
    tests/support/catch_main.cpp
    tests/common/test_clock.cpp
    tests/common/test_deadline.cpp
    tests/common/test_json_bounds.cpp
    tests/common/test_json_fields.cpp
    tests/common/test_text.cpp
    tests/config/test_pool_config.cpp
    tests/engine/test_plan.cpp
    tests/engine/test_status.cpp
    tests/mount/test_fstab.cpp
    tests/mount/test_mountinfo.cpp
    tests/mount/test_options.cpp
    tests/users/test_registry.cpp
    tests/users/test_rules.cpp
    tests/windows/test_recovery_actions.cpp
    tests/windows/test_scm_host.cpp
    tests/windows/test_scm_service.cpp
    tests/windows/test_win32_text.cpp
  )
  target_include_directories(windows_unit_tests PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(windows_unit_tests PRIVATE dsvm_portable dsvm_windows)
  # The service the SCM tests install and start (tests/windows/test_scm_service.cpp); they find
  # it beside windows_unit_tests.exe.
  add_executable(scm_test_service tests/windows/scm_test_service_main.cpp)
  target_link_libraries(scm_test_service PRIVATE dsvm_windows)
  add_dependencies(windows_unit_tests scm_test_service)
  # Catch2's test discovery runs the test executable, through the emulator (wine) here.
  find_file(dsvm_catch_module Catch.cmake PATHS /usr/lib/cmake/Catch2 NO_DEFAULT_PATH
            NO_CMAKE_FIND_ROOT_PATH REQUIRED)
  include(${dsvm_catch_module})
  catch_discover_tests(windows_unit_tests TEST_PREFIX "windows: " EXTRA_ARGS --warn NoTests
    PROPERTIES LABELS windows)
endif()
