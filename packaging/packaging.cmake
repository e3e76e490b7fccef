# Install rules for everything but the binary (cli/CMakeLists.txt installs that), the .deb
# (CPack), and the VM extension's handler package (target handler-zip). docs/packaging.md
# describes the result.

set(DSVM_PACKAGING_DIR ${PROJECT_SOURCE_DIR}/packaging)
set(DSVM_PACKAGING_OUT ${PROJECT_BINARY_DIR}/packaging)
set(DSVM_DEB_RELEASE 1 CACHE STRING "Debian revision of the .deb (the part after the '-')")
set(DSVM_DEB_MAINTAINER "dsvm-agent maintainers <maintainers@dsvm-agent.example.org>"
    CACHE STRING "Maintainer field of the .deb")

find_program(DSVM_GZIP gzip REQUIRED)
find_program(DSVM_DPKG dpkg)
if(DSVM_DPKG)
  execute_process(COMMAND ${DSVM_DPKG} --print-architecture
                  OUTPUT_VARIABLE DSVM_DEB_ARCH OUTPUT_STRIP_TRAILING_WHITESPACE)
else()
  set(DSVM_DEB_ARCH amd64)
endif()

# Man page and Debian changelog, compressed as Debian policy wants them: gzip -9n, so the
# result does not depend on the file's name or time (reproducible).
set(DSVM_MAN_GZ ${DSVM_PACKAGING_OUT}/dsvm-agent.8.gz)
set(DSVM_CHANGELOG_GZ ${DSVM_PACKAGING_OUT}/changelog.Debian.gz)
add_custom_command(
  OUTPUT ${DSVM_MAN_GZ} ${DSVM_CHANGELOG_GZ}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${DSVM_PACKAGING_OUT}
  COMMAND sh -c "${DSVM_GZIP} -9n -c \"$1\" > \"$2\"" gzip ${DSVM_PACKAGING_DIR}/dsvm-agent.8
          ${DSVM_MAN_GZ}
  COMMAND sh -c "${DSVM_GZIP} -9n -c \"$1\" > \"$2\"" gzip ${DSVM_PACKAGING_DIR}/deb/changelog
          ${DSVM_CHANGELOG_GZ}
  DEPENDS ${DSVM_PACKAGING_DIR}/dsvm-agent.8 ${DSVM_PACKAGING_DIR}/deb/changelog
  COMMENT "Compressing the man page and the Debian changelog"
  VERBATIM)
add_custom_target(packaging-docs ALL DEPENDS ${DSVM_MAN_GZ} ${DSVM_CHANGELOG_GZ})

# /usr/share/doc/dsvm-agent/copyright in Debian's machine-readable format, made from LICENSE
# (MIT, which Debian calls Expat): one copyright line, the license text indented by one space,
# blank lines written as " .".
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/LICENSE)
file(STRINGS ${PROJECT_SOURCE_DIR}/LICENSE dsvm_license_lines)
set(dsvm_copyright_holder "")
set(dsvm_license_body "")
foreach(line IN LISTS dsvm_license_lines)
  if(line MATCHES "^Copyright \\(c\\) (.+)$")
    set(dsvm_copyright_holder "${CMAKE_MATCH_1}")
  elseif(line STREQUAL "MIT License")
    continue()
  elseif(dsvm_copyright_holder STREQUAL "")
    continue()
  elseif(line STREQUAL "")
    string(APPEND dsvm_license_body " .\n")
  else()
    string(APPEND dsvm_license_body " ${line}\n")
  endif()
endforeach()
if(dsvm_copyright_holder STREQUAL "")
  message(FATAL_ERROR "LICENSE has no 'Copyright (c) ...' line; packaging needs one")
endif()
string(REGEX REPLACE "^ \\.\n" "" dsvm_license_body "${dsvm_license_body}")
file(WRITE ${DSVM_PACKAGING_OUT}/copyright
     "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
     "Upstream-Name: dsvm-agent\n"
     "\n"
     "Files: *\n"
     "Copyright: ${dsvm_copyright_holder}\n"
     "License: Expat\n"
     "${dsvm_license_body}")

set(CMAKE_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
# The unit stays where Debian 12's systemd packages put theirs (not under the /usr prefix).
install(FILES ${DSVM_PACKAGING_DIR}/dsvm-agent.service
  ${DSVM_PACKAGING_DIR}/dsvm-agent-metadata-guard.service DESTINATION /lib/systemd/system)
install(FILES ${DSVM_MAN_GZ} DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES ${DSVM_PACKAGING_DIR}/deb/lintian-overrides
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides RENAME dsvm-agent)
install(FILES ${DSVM_PACKAGING_DIR}/dsvm-agent.bash-completion
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/bash-completion/completions
        RENAME dsvm-agent)
# The unit's Documentation= names README.md, so README and docs/ stay uncompressed.
install(FILES ${DSVM_PACKAGING_OUT}/copyright ${DSVM_CHANGELOG_GZ} ${PROJECT_SOURCE_DIR}/README.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs
        FILES_MATCHING PATTERN "*.md" PATTERN "*.json")

# The .deb. `cpack -G DEB` in the build directory writes dsvm-agent_<version>-<release>_<arch>.deb;
# `cpack -D CPACK_PACKAGE_VERSION=X` makes the same package under another version (the
# upgrade test does that).
# cpack packages what was built: its install step must not rebuild every target (tests and
# benchmarks included) first. Build, then package.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME dsvm-agent)
set(CPACK_PACKAGE_VENDOR "The dsvm-agent authors")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${DSVM_DEB_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "node agent for pools of Azure Data Science VMs")
# CPack puts the summary first and indents the rest as a Debian long description.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "dsvm-agent runs on every instance of a pool of Data Science VMs in an Azure
VM Scale Set and keeps the instances alike. It reads the pool configuration
from instance metadata, from the VM extension's settings or from
/etc/dsvm-agent/pool.json; mounts the pool's share (Azure Files over SMB 3
or NFS 4.1, or any NFS export) so that it survives reboots; creates the
pool's users with the same UID on every instance; and links each user's
notebook folder on the share into ~/notebooks/remote.

Storage keys are kept in root-only credentials files, never in metadata,
command lines, logs or status output.")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${DSVM_DEB_RELEASE})
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE ${DSVM_DEB_ARCH})
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${DSVM_DEB_MAINTAINER}")
# One package for Debian 12, Ubuntu 22.04 and Ubuntu 24.04 (docs/packaging.md, "Where it
# installs"), so Depends is written here: dpkg-shlibdeps would name this machine's packages.
# One package per soname the binary needs, Ubuntu 24.04's name (t64) as the alternative, each
# floor the upstream version Ubuntu 22.04 (the oldest release) was released with.
# tests/packaging/check_portable.py checks that every NEEDED soname has its package here, that
# no floor is below what dpkg-shlibdeps finds, and that the line resolves in each release.
set(DSVM_DEB_LIBRARY_DEPENDS
    "libc6 (>= 2.35)"
    "libcrypt1 (>= 1:4.4.27)"
    "libcurl4 (>= 7.81.0) | libcurl4t64 (>= 8.5.0)"
    "libgcc-s1 (>= 12)"
    "libmount1 (>= 2.37.2)"
    "libssl3 (>= 3.0.2) | libssl3t64 (>= 3.0.13)"
    "libstdc++6 (>= 12)"
    "libsystemd0 (>= 249)")
# mount.cifs and mount.nfs are run by libmount; useradd/usermod come from passwd; sudo reads
# the agent's sudoers drop-in; autofs mounts per-user SMB notebook folders on demand; nft loads
# the metadata guard of pools that read their keys from Key Vault.
set(DSVM_DEB_TOOL_DEPENDS cifs-utils nfs-common passwd sudo autofs nftables)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS OFF)
list(JOIN DSVM_DEB_LIBRARY_DEPENDS ", " dsvm_library_depends)
list(JOIN DSVM_DEB_TOOL_DEPENDS ", " dsvm_tool_depends)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "${dsvm_library_depends}, ${dsvm_tool_depends}")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${DSVM_PACKAGING_DIR}/deb/postinst ${DSVM_PACKAGING_DIR}/deb/prerm
    ${DSVM_PACKAGING_DIR}/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_PACKAGE_INSTALL_DIRECTORY dsvm-agent)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_SOURCE_GENERATOR "")
include(CPack)

# The VM extension's handler package: HandlerManifest.json, the handler scripts and the .deb,
# all at the top of the zip (WALinuxAgent unpacks it into /var/lib/waagent/<name>-<version>/
# and runs each command relative to that directory).
set(DSVM_DEB_FILE
    ${CPACK_PACKAGE_NAME}_${PROJECT_VERSION}-${DSVM_DEB_RELEASE}_${DSVM_DEB_ARCH}.deb)
set(DSVM_HANDLER_ZIP ${PROJECT_BINARY_DIR}/dsvm-agent-handler-${PROJECT_VERSION}.zip)
set(DSVM_HANDLER_STAGE ${DSVM_PACKAGING_OUT}/handler)

# WALinuxAgent joins every manifest command to the handler directory (a leading '/' is
# dropped), so /usr/sbin/dsvm-agent cannot be named in the manifest itself: each command is a
# one-line script here that runs the installed binary.
set(dsvm_handler_scripts ${DSVM_PACKAGING_DIR}/azure/install.sh)
foreach(operation enable disable update)
  file(WRITE ${DSVM_PACKAGING_OUT}/handler-scripts/${operation}.sh
       "#!/bin/sh\n"
       "# VM extension ${operation}: the installed agent does the work.\n"
       "exec /usr/sbin/dsvm-agent extension ${operation}\n")
  list(APPEND dsvm_handler_scripts ${DSVM_PACKAGING_OUT}/handler-scripts/${operation}.sh)
endforeach()
file(WRITE ${DSVM_PACKAGING_OUT}/handler-scripts/uninstall.sh
     "#!/bin/sh\n"
     "# VM extension uninstall: the agent's own uninstall step, then the package is removed\n"
     "# (not purged: pool.json, credentials and state stay, as for `apt-get remove`).\n"
     "# During an update (the new version's update.sh left the marker) the package stays: the\n"
     "# new version's install upgrades it in place.\n"
     "set -e\n"
     "if [ -x /usr/sbin/dsvm-agent ]; then\n"
     "    /usr/sbin/dsvm-agent extension uninstall\n"
     "fi\n"
     "if [ -e /var/lib/dsvm-agent/extension-update ]; then\n"
     "    exit 0\n"
     "fi\n"
     "# Any state dpkg has the package in but gone or config-files (a half-installed one too).\n"
     "case \"$(dpkg-query -W -f '\${db:Status-Status}' dsvm-agent 2>/dev/null)\" in\n"
     "    ''|not-installed|config-files) ;;\n"
     "    *) DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=240 remove -y dsvm-agent ;;\n"
     "esac\n")
list(APPEND dsvm_handler_scripts ${DSVM_PACKAGING_OUT}/handler-scripts/uninstall.sh)
file(CHMOD ${dsvm_handler_scripts} FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE
     GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

add_custom_command(
  OUTPUT ${DSVM_HANDLER_ZIP}
  COMMAND ${CMAKE_COMMAND} -E rm -rf ${DSVM_HANDLER_STAGE}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${DSVM_HANDLER_STAGE}/deb
  COMMAND ${CMAKE_CPACK_COMMAND} -G DEB -B ${DSVM_HANDLER_STAGE}/deb
          --config ${PROJECT_BINARY_DIR}/CPackConfig.cmake
  COMMAND ${CMAKE_COMMAND} -E copy ${DSVM_HANDLER_STAGE}/deb/${DSVM_DEB_FILE}
          ${DSVM_PACKAGING_DIR}/azure/HandlerManifest.json ${dsvm_handler_scripts}
          ${DSVM_HANDLER_STAGE}/
  COMMAND ${CMAKE_COMMAND} -E rm -f ${DSVM_HANDLER_ZIP}
  COMMAND ${CMAKE_COMMAND} -E chdir ${DSVM_HANDLER_STAGE}
          zip -q -X ${DSVM_HANDLER_ZIP} HandlerManifest.json install.sh enable.sh disable.sh
          update.sh uninstall.sh ${DSVM_DEB_FILE}
  DEPENDS dsvm-agent packaging-docs ${DSVM_PACKAGING_DIR}/azure/HandlerManifest.json
          ${dsvm_handler_scripts} ${DSVM_PACKAGING_DIR}/deb/postinst
          ${DSVM_PACKAGING_DIR}/deb/prerm ${DSVM_PACKAGING_DIR}/deb/postrm
          ${DSVM_PACKAGING_DIR}/dsvm-agent.service
          ${DSVM_PACKAGING_DIR}/dsvm-agent-metadata-guard.service
          ${DSVM_PACKAGING_DIR}/dsvm-agent.bash-completion
  COMMENT "Building the VM extension handler package ${DSVM_HANDLER_ZIP}"
  VERBATIM)
add_custom_target(handler-zip DEPENDS ${DSVM_HANDLER_ZIP})
