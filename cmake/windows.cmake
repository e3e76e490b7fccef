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
# fmt and spdlog in compiled-library mode, their implementation compiled once (cmake/fmt_spdlog.cpp).
target_compile_definitions(dsvm_header_libraries INTERFACE SPDLOG_COMPILED_LIB SPDLOG_FMT_EXTERNAL)
add_library(dsvm_logging STATIC cmake/fmt_spdlog.cpp)
target_link_libraries(dsvm_logging PUBLIC dsvm_header_libraries PRIVATE dsvm_warnings)

# The code both platforms share: the engine (on its share and account ports), the service loop,
# the command line, the pool config and its loader, the metadata and Key Vault clients (over the
# HTTP seam), the registry, the rules, and common/; a file named *_win32.cpp is the Windows half
# of a pair whose other half, *_posix.cpp, the Linux build compiles. The backends follow.
dsvm_library(dsvm_portable
  common/clock.cpp
  common/command_line.cpp
  common/deadline.cpp
  common/digest.cpp
  common/digest_win32.cpp
  common/file_handles_win32.cpp
  common/file_lock.cpp
  common/file_lock_win32.cpp
  common/fs.cpp
  common/fs_win32.cpp
  common/ids_win32.cpp
  common/json_bounds.cpp
  common/json_fields.cpp
  common/process_common.cpp
  common/process_win32.cpp
  common/root.cpp
  common/safe_open.cpp
  common/safe_open_win32.cpp
  common/secret.cpp
  common/secret_win32.cpp
  common/terminal_win32.cpp
  common/text.cpp
  common/windows_api_win32.cpp
  common/wipe_win32.cpp
  mount/credentials.cpp
  mount/credentials_win32.cpp
  mount/fstab.cpp
  mount/mountinfo.cpp
  mount/options.cpp
  users/account_changes.cpp
  users/authorized_keys.cpp
  users/notebook_folder.cpp
  users/registry.cpp
  users/registry_format.cpp
  users/registry_key.cpp
  users/registry_store.cpp
  users/rules.cpp
  users/rules_lists.cpp
  config/imds.cpp
  config/key_vault.cpp
  config/loader.cpp
  config/pool_config.cpp
  config/rules.cpp
  config/source_report.cpp
  engine/apply.cpp
  engine/engine.cpp
  engine/key_sync.cpp
  engine/metadata_guard.cpp
  engine/observe.cpp
  engine/pass_report.cpp
  engine/plan.cpp
  engine/status.cpp
  engine/user_files.cpp
  engine/users_intent.cpp
  engine/users_phase.cpp
  service/daemon.cpp
  service/logging.cpp
  cli/cli.cpp
  cli/credentials_command.cpp
  cli/registry_command.cpp
  cli/secret_input.cpp
  cli/user_commands.cpp
)
# `dsvm-agent version` prints the project's version.
target_compile_definitions(dsvm_portable PRIVATE DSVM_AGENT_VERSION="${PROJECT_VERSION}")
# CNG (bcrypt) for the digests; ntdll for opening files relative to a directory's handle.
target_link_libraries(dsvm_portable PUBLIC dsvm_header_libraries dsvm_logging bcrypt ntdll)

# The Windows platform code (windows/): the HTTP client over WinHTTP, the service host under the
# service control manager and the service's recovery actions, the share backend (SMB global
# mappings) and its WMI seam, the account backend (the SAM, profiles) and its seam, and the
# composition root of the exe (windows/agent.h) (docs/windows.md).
dsvm_library(dsvm_windows
  windows/account_api_win32.cpp
  windows/account_errors.cpp
  windows/account_plan.cpp
  windows/agent.cpp
  windows/notebook_link.cpp
  windows/profile_files_win32.cpp
  windows/random_password.cpp
  windows/recovery_actions.cpp
  windows/scm_host.cpp
  windows/scm_service.cpp
  windows/service_manager_api_win32.cpp
  windows/smb_global_mappings.cpp
  windows/smb_mapping_api_wmi_win32.cpp
  windows/winhttp_client.cpp
  windows/winhttp_error.cpp
  windows/windows_account_changes.cpp
  windows/windows_accounts.cpp
  windows/windows_home_steps.cpp
)
# ole32, oleaut32 and wbemuuid: WMI through COM (windows/smb_mapping_api_wmi_win32.cpp);
# netapi32 and userenv: the local accounts, their groups and profiles; the extension handler,
# which the exe runs for the guest agent.
target_link_libraries(dsvm_windows PUBLIC dsvm_portable dsvm_extension advapi32 winhttp ole32
  oleaut32 wbemuuid netapi32 userenv)

# The agent's exe (windows/main.cpp): wmain, so its arguments arrive as UTF-16 (-municode).
add_executable(dsvm-agent windows/main.cpp)
target_link_libraries(dsvm-agent PRIVATE dsvm_windows)
target_link_options(dsvm-agent PRIVATE -municode)

# The extension handler (docs/extension.md): the same handler as on Linux, with the protected
# settings decrypted with the certificate in LocalMachine\My (extension/crypto_win32.h, crypt32)
# and the service controlled through the SCM (windows/scm_service.h, chosen by windows/agent.cpp).
dsvm_library(dsvm_extension
  extension/crypto.cpp
  extension/crypto_win32.cpp
  extension/enable.cpp
  extension/files.cpp
  extension/handler.cpp
  extension/protected.cpp
  extension/record.cpp
  extension/settings.cpp
  extension/status.cpp
)
target_link_libraries(dsvm_extension PUBLIC dsvm_portable crypt32)

if(BUILD_TESTING)
  # Catch's implementation, compiled once for the test programs (tests/support/catch_session.cpp).
  add_library(dsvm_catch STATIC tests/support/catch_session.cpp)
  target_include_directories(dsvm_catch PUBLIC ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(dsvm_catch PUBLIC dsvm_header_libraries)
  # The unit tests of that code, run under wine.
  add_executable(windows_unit_tests
    tests/support/catch_main.cpp
    tests/common/test_clock.cpp
    tests/common/test_command_line.cpp
    tests/common/test_deadline.cpp
    tests/common/test_digest.cpp
    tests/common/test_files_win32.cpp
    tests/common/test_json_bounds.cpp
    tests/common/test_json_fields.cpp
    tests/common/test_process_win32.cpp
    tests/common/test_terminal_win32.cpp
    tests/common/test_text.cpp
    tests/common/test_windows_api_win32.cpp
    tests/config/test_pool_config.cpp
    tests/engine/test_engine_ports.cpp
    tests/engine/test_plan.cpp
    tests/engine/test_status.cpp
    tests/extension/test_crypto.cpp
    tests/extension/test_crypto_win32.cpp
    tests/mount/test_credentials_win32.cpp
    tests/mount/test_fstab.cpp
    tests/mount/test_mountinfo.cpp
    tests/mount/test_options.cpp
    tests/service/test_logging.cpp
    tests/users/test_registry.cpp
    tests/users/test_rules.cpp
    tests/support/loopback_server_win32.cpp
    tests/windows/test_notebook_link.cpp
    tests/windows/test_profile_files_win32.cpp
    tests/windows/test_random_password.cpp
    tests/windows/test_recovery_actions.cpp
    tests/windows/test_scm_host.cpp
    tests/windows/test_scm_service_control.cpp
    tests/windows/test_smb_global_mappings.cpp
    tests/windows/test_windows_account_plan.cpp
    tests/windows/test_windows_accounts.cpp
    tests/windows/test_winhttp_client.cpp
  )
  target_include_directories(windows_unit_tests PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  # ws2_32: the tests' own loopback HTTP server (tests/support/loopback_server_win32.h).
  target_link_libraries(windows_unit_tests PRIVATE dsvm_catch dsvm_portable dsvm_windows
    dsvm_extension ws2_32)
  # The throw-away certificate and messages of tests/data/protected-settings/, read where the
  # source tree is (wine shows it under Z:).
  target_compile_definitions(windows_unit_tests PRIVATE
    DSVM_TEST_DATA_DIR="${PROJECT_SOURCE_DIR}/tests/data")
  # The child the process runner's and standard input's tests run. Its path goes in as the
  # host's; the tests make it a Windows one (wine shows / as Z:).
  add_executable(dsvm_process_child tests/windows/process_child_main.cpp)
  target_link_libraries(dsvm_process_child PRIVATE dsvm_portable)
  add_dependencies(windows_unit_tests dsvm_process_child)
  target_compile_definitions(windows_unit_tests PRIVATE
    DSVM_PROCESS_CHILD="$<TARGET_FILE:dsvm_process_child>")
  # The tests that install, start and stop real services in wine's service control manager, and
  # the service they install, found beside the test executable. They run one at a time: wine
  # hands a process calling StartServiceCtrlDispatcherW to whichever service it started last
  # (docs/windows.md, "What wine can show"), so two such tests at once could take each other's.
  add_executable(scm_test_service tests/windows/scm_test_service_main.cpp)
  target_link_libraries(scm_test_service PRIVATE dsvm_windows)
  add_executable(windows_service_tests tests/support/catch_main.cpp
    tests/windows/test_scm_service.cpp tests/windows/test_service_manager_api_win32.cpp)
  target_include_directories(windows_service_tests PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(windows_service_tests PRIVATE dsvm_catch dsvm_windows)
  add_dependencies(windows_service_tests scm_test_service)
  # Catch2's test discovery runs the test executable, through the emulator (wine) here.
  find_file(dsvm_catch_module Catch.cmake PATHS /usr/lib/cmake/Catch2 NO_DEFAULT_PATH
            NO_CMAKE_FIND_ROOT_PATH REQUIRED)
  include(${dsvm_catch_module})
  # http_proxy names a loopback port nothing listens on: wine's WinHTTP reads the proxy from the
  # environment the process started with (never from a change made inside it), so this is how
  # the WinHTTP client's tests show that no proxy is used (tests/windows/test_winhttp_client.cpp).
  catch_discover_tests(windows_unit_tests TEST_PREFIX "windows: " EXTRA_ARGS --warn NoTests
    PROPERTIES LABELS windows ENVIRONMENT "http_proxy=http://127.0.0.1:9")
  catch_discover_tests(windows_service_tests TEST_PREFIX "windows: " EXTRA_ARGS --warn NoTests
    PROPERTIES LABELS windows RESOURCE_LOCK wine_service_manager)

  # The MSI smoke test (tests/windows/msi_smoke_test.sh): it builds a package around an exe as
  # the msi target does, installs, upgrades and removes it in a wine prefix of its own, in a
  # network namespace with only loopback (so it needs root; otherwise it is skipped). It packs
  # the agent's own exe, whose service asks the metadata service there and finds none.
  # The command line of the exe as an admin runs it (tests/windows/test_agent_exe.cpp): the exe
  # itself, and the same wiring on the recording fakes of the SMB mapping and account APIs.
  add_executable(dsvm-agent-fakes tests/windows/agent_fakes_main.cpp)
  target_include_directories(dsvm-agent-fakes PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(dsvm-agent-fakes PRIVATE dsvm_windows)
  target_link_options(dsvm-agent-fakes PRIVATE -municode)
  # Its CryptDecryptMessage decrypts the test messages of tests/data/protected-settings/.
  target_compile_definitions(dsvm-agent-fakes PRIVATE
    DSVM_TEST_DATA_DIR="${PROJECT_SOURCE_DIR}/tests/data")
  add_executable(windows_exe_tests tests/support/catch_main.cpp
    tests/support/loopback_server_win32.cpp tests/windows/test_agent_exe.cpp)
  target_include_directories(windows_exe_tests PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(windows_exe_tests PRIVATE dsvm_catch dsvm_portable ws2_32)
  add_dependencies(windows_exe_tests dsvm-agent dsvm-agent-fakes)
  target_compile_definitions(windows_exe_tests PRIVATE
    DSVM_AGENT_EXE="$<TARGET_FILE:dsvm-agent>"
    DSVM_AGENT_FAKES_EXE="$<TARGET_FILE:dsvm-agent-fakes>"
    DSVM_AGENT_VERSION="${PROJECT_VERSION}"
    DSVM_TEST_DATA_DIR="${PROJECT_SOURCE_DIR}/tests/data")
  catch_discover_tests(windows_exe_tests TEST_PREFIX "windows: " EXTRA_ARGS --warn NoTests
    PROPERTIES LABELS windows ENVIRONMENT "http_proxy=http://127.0.0.1:9")
  # The Windows scale-set template (tests/packaging/check_template.py, kind windows): the keys
  # only in protected settings, OpenSSH Server from Microsoft's CustomScriptExtension, and public
  # settings this exe accepts as a pool config, under wine.
  add_test(NAME "windows: the Windows scale-set template keeps the keys in protected settings"
    COMMAND python3 ${PROJECT_SOURCE_DIR}/tests/packaging/check_template.py windows
            ${PROJECT_SOURCE_DIR}/packaging/azure/dsvm-pool-windows.json $<TARGET_FILE:dsvm-agent>)
  set_tests_properties("windows: the Windows scale-set template keeps the keys in protected settings"
    PROPERTIES LABELS windows)
  add_test(NAME "windows: the MSI installs, starts, upgrades and removes the service"
    COMMAND bash ${PROJECT_SOURCE_DIR}/tests/windows/msi_smoke_test.sh ${PROJECT_SOURCE_DIR}
            $<TARGET_FILE:dsvm-agent> ${PROJECT_VERSION})
  set_tests_properties("windows: the MSI installs, starts, upgrades and removes the service"
    PROPERTIES LABELS "windows;msi" SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()

# The MSI (docs/windows.md, "Installing with the MSI"): build-windows/dsvm-agent-<version>-x64.msi,
# from the agent's exe, with packaging/windows/build-msi.sh. Keep this after the exe's target.
if(TARGET dsvm-agent)
  find_program(dsvm_wixl wixl REQUIRED)
  find_program(dsvm_msibuild msibuild REQUIRED)
  set(dsvm_msi ${CMAKE_BINARY_DIR}/dsvm-agent-${PROJECT_VERSION}-x64.msi)
  add_custom_command(OUTPUT ${dsvm_msi}
    COMMAND bash ${PROJECT_SOURCE_DIR}/packaging/windows/build-msi.sh $<TARGET_FILE:dsvm-agent>
            ${PROJECT_VERSION} ${dsvm_msi}
    DEPENDS dsvm-agent ${PROJECT_SOURCE_DIR}/packaging/windows/dsvm-agent.wxs
            ${PROJECT_SOURCE_DIR}/packaging/windows/build-msi.sh
    COMMENT "Building the MSI dsvm-agent-${PROJECT_VERSION}-x64.msi"
    VERBATIM)
  add_custom_target(msi ALL DEPENDS ${dsvm_msi})
endif()

# The VM extension's handler package for Windows (the handler-zip target), around the MSI.
if(TARGET msi)
  include(cmake/windows-handler.cmake)
endif()
