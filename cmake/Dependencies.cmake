# Every external dependency, found once. scripts/setup.sh installs them all
# from Debian packages; a missing one fails here with the package to install.
find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBUNWIND REQUIRED IMPORTED_TARGET libunwind)
pkg_check_modules(LIBDW REQUIRED IMPORTED_TARGET libdw)
find_package(spdlog REQUIRED)
find_package(CLI11 REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(Threads REQUIRED)
# The session libraries the shim interposes (their headers) and the session
# tests link: libcurl and OpenSSL (tests/sessions find them), libpq,
# MariaDB Connector/C, hiredis, GnuTLS, libssh2.
pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)
pkg_check_modules(MARIADB REQUIRED IMPORTED_TARGET libmariadb)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
pkg_check_modules(GNUTLS REQUIRED IMPORTED_TARGET gnutls)
pkg_check_modules(LIBSSH2 REQUIRED IMPORTED_TARGET libssh2)
set(SESSION_LIBRARY_INCLUDE_DIRS ${LIBPQ_INCLUDE_DIRS} ${MARIADB_INCLUDE_DIRS} ${GNUTLS_INCLUDE_DIRS})
