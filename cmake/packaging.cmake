# install() rules and the Debian package (CPack DEB): `cpack -G DEB` in a
# build directory, or scripts/package.sh for the release build. What goes
# where, and why, is in docs/OPERATIONS.md.
include(GNUInstallDirs)

install(TARGETS wgate RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# Debian 12 packages still ship units in /lib/systemd/system.
install(FILES ${CMAKE_SOURCE_DIR}/packaging/systemd/wgate.service ${CMAKE_SOURCE_DIR}/packaging/systemd/wgate-web.service
        DESTINATION /lib/systemd/system PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
# The config: 0640 (it may carry the webhook URL, a secret), in a 0750
# directory where the other secrets (OIDC client secret, SMTP password) go
# as 0600 files. A conffile: dpkg keeps the admin's edits on upgrade.
install(DIRECTORY DESTINATION /etc/wgate
        DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE)
install(FILES ${CMAKE_SOURCE_DIR}/examples/wgate.toml DESTINATION /etc/wgate
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${CMAKE_SOURCE_DIR}/docs/ARCHITECTURE.md ${CMAKE_SOURCE_DIR}/docs/NOTIFY.md
              ${CMAKE_SOURCE_DIR}/docs/OPERATIONS.md ${CMAKE_SOURCE_DIR}/docs/keycloak.md
              ${CMAKE_SOURCE_DIR}/examples/wgate.toml
        DESTINATION ${CMAKE_INSTALL_DOCDIR} PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

set(CPACK_PACKAGE_NAME wgate)
set(CPACK_PACKAGE_VENDOR "wgate")
set(CPACK_PACKAGE_CONTACT "wgate maintainers <wgate@example.com>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "WireGuard access server with group segmentation and one address per device")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_GENERATOR DEB)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends from the binary's shared libraries (dpkg-shlibdeps), so a release
# build and an ASan build each name what they really link.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The userspace backend runs wireguard-go; wg(8) is handy next to wgate.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "wireguard-tools, wireguard-go")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "wgate gives each group its own WireGuard interface and routing table, each\n person a stable address block and each device one address in it, with\n SSO-born short-lived keys, an nftables firewall and an audit log.")
# conffiles (dpkg keeps local edits), and the unit bookkeeping on install,
# upgrade and removal (packaging/deb/).
set(WGATE_DEB_CONTROL_DIR ${CMAKE_BINARY_DIR}/deb-control)
file(MAKE_DIRECTORY ${WGATE_DEB_CONTROL_DIR})
file(WRITE ${WGATE_DEB_CONTROL_DIR}/conffiles "/etc/wgate/wgate.toml\n")
foreach(script postinst prerm postrm)
  file(COPY ${CMAKE_SOURCE_DIR}/packaging/deb/${script} DESTINATION ${WGATE_DEB_CONTROL_DIR}
       FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
endforeach()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${WGATE_DEB_CONTROL_DIR}/conffiles ${WGATE_DEB_CONTROL_DIR}/postinst
    ${WGATE_DEB_CONTROL_DIR}/prerm ${WGATE_DEB_CONTROL_DIR}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
