# The Debian package "collections", built by CPack from the install() rules:
#   cpack --config build/CPackConfig.cmake -B DIR   -> DIR/collections_VERSION_ARCH.deb
# Everything under /usr (the server in /usr/sbin, the clients in /usr/bin,
# the unit in /usr/lib/systemd/system, the rest in /usr/share). The
# dependencies on Debian's runtime libraries (gRPC, protobuf, Abseil, SOCI,
# libpq, OpenSSL, prometheus-cpp ...) come from dpkg-shlibdeps (dpkg-dev)
# reading the binaries; adduser for postinst, which makes the system user
# "collections" and /var/lib/collections (0700). Binaries are stripped.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME collections)
set(CPACK_PACKAGE_VENDOR "collections")
set(CPACK_PACKAGE_CONTACT "collections maintainers <collections@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "gRPC server for collecting overdue mortgage loans")
set(CPACK_PACKAGE_DESCRIPTION "collectionsd drives every overdue loan as a durable case (reminder,
counselling, repayment plan, legal action) on SQLite or PostgreSQL. With the
managers' CLI collectionsctl, the agent console, the legal-counsel receiver,
a systemd unit and a Python client.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
# The Python client runs on python3-grpcio and python3-protobuf; PostgreSQL is
# one of the two databases; share/collections/dev_credentials.sh needs openssl.
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "python3-grpcio, python3-protobuf, postgresql, openssl")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_CURRENT_LIST_DIR}/debian/postinst)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
