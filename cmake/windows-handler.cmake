# The VM extension's handler package for Windows (docs/extension.md, "Windows"):
# build-windows/dsvm-agent-windows-handler-<version>.zip with HandlerManifest.json, one small .cmd
# script per command, and the MSI. The Windows guest agent unpacks it into
# C:\Packages\Plugins\<Publisher>.<Type>\<version>\ and runs each manifest command there through
# cmd.exe; install.cmd installs the MSI and every script runs the installed
# C:\Program Files\dsvm-agent\dsvm-agent.exe. The scripts get Windows line ends (zip -l).
# Included by cmake/windows.cmake after the msi target; tested by
# tests/packaging/check_windows_handler_zip.py (label windows).
find_program(dsvm_zip zip REQUIRED)
set(dsvm_handler_source ${PROJECT_SOURCE_DIR}/packaging/windows/handler)
set(dsvm_handler_scripts install.cmd enable.cmd disable.cmd update.cmd uninstall.cmd)
set(dsvm_windows_handler_zip
    ${CMAKE_BINARY_DIR}/dsvm-agent-windows-handler-${PROJECT_VERSION}.zip)
set(dsvm_windows_handler_stage ${CMAKE_BINARY_DIR}/windows-handler)
set(dsvm_handler_inputs ${dsvm_handler_source}/HandlerManifest.json)
foreach(script ${dsvm_handler_scripts})
  list(APPEND dsvm_handler_inputs ${dsvm_handler_source}/${script})
endforeach()
get_filename_component(dsvm_msi_name ${dsvm_msi} NAME)
add_custom_command(OUTPUT ${dsvm_windows_handler_zip}
  COMMAND ${CMAKE_COMMAND} -E rm -rf ${dsvm_windows_handler_stage} ${dsvm_windows_handler_zip}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${dsvm_windows_handler_stage}
  COMMAND ${CMAKE_COMMAND} -E copy ${dsvm_handler_inputs} ${dsvm_msi}
          ${dsvm_windows_handler_stage}/
  COMMAND ${CMAKE_COMMAND} -E chdir ${dsvm_windows_handler_stage}
          ${dsvm_zip} -q -X ${dsvm_windows_handler_zip} HandlerManifest.json ${dsvm_msi_name}
  COMMAND ${CMAKE_COMMAND} -E chdir ${dsvm_windows_handler_stage}
          ${dsvm_zip} -q -X -l ${dsvm_windows_handler_zip} ${dsvm_handler_scripts}
  DEPENDS msi ${dsvm_msi} ${dsvm_handler_inputs}
  COMMENT "Building the Windows VM extension handler package ${dsvm_windows_handler_zip}"
  VERBATIM)
add_custom_target(handler-zip ALL DEPENDS ${dsvm_windows_handler_zip})

if(BUILD_TESTING)
  add_test(NAME "windows: the handler zip holds the manifest, its commands and the MSI, and no key"
    COMMAND python3 ${PROJECT_SOURCE_DIR}/tests/packaging/check_windows_handler_zip.py
            ${dsvm_windows_handler_zip})
  add_test(NAME "windows: the handler zip check finds planted faults"
    COMMAND python3 ${PROJECT_SOURCE_DIR}/tests/packaging/check_windows_handler_zip.py
            --self-test)
  set_tests_properties(
    "windows: the handler zip holds the manifest, its commands and the MSI, and no key"
    "windows: the handler zip check finds planted faults"
    PROPERTIES LABELS windows)
endif()
