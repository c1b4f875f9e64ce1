# Real programs in the identity harness (tests/identity/test_real_programs.py):
# Debian's /usr/bin/python3 with ssl, urllib, requests and subprocess; the
# curl, wget, openssl and perl clients; and plugin_host, which dlopen()s
# (RTLD_LOCAL) a plugin that links libcurl and OpenSSL while the host links
# neither. Each runs natively and under `connleak run` against loopback
# servers the test starts. Helper sources are in real/.
find_package(Python3 REQUIRED COMPONENTS Interpreter)
find_package(CURL REQUIRED)
find_package(OpenSSL REQUIRED)

set(IDENTITY_REAL_BIN_DIR ${CMAKE_BINARY_DIR}/identity/real)

add_executable(identity_real_plugin_host real/plugin_host.c)
target_compile_options(identity_real_plugin_host PRIVATE -g -O2)
target_link_libraries(identity_real_plugin_host PRIVATE ${CMAKE_DL_LIBS})
set_target_properties(identity_real_plugin_host PROPERTIES
  OUTPUT_NAME plugin_host
  RUNTIME_OUTPUT_DIRECTORY ${IDENTITY_REAL_BIN_DIR})

add_library(identity_real_curl_tls_plugin MODULE real/curl_tls_plugin.c)
target_compile_options(identity_real_curl_tls_plugin PRIVATE -g -O0)
target_link_libraries(identity_real_curl_tls_plugin PRIVATE CURL::libcurl OpenSSL::SSL OpenSSL::Crypto)
set_target_properties(identity_real_curl_tls_plugin PROPERTIES
  OUTPUT_NAME curl_tls_plugin PREFIX ""
  LIBRARY_OUTPUT_DIRECTORY ${IDENTITY_REAL_BIN_DIR})
add_dependencies(identity_real_plugin_host identity_real_curl_tls_plugin)

add_test(NAME identity.real.test_real_programs
         COMMAND ${Python3_EXECUTABLE} -m unittest -v test_real_programs
         WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
set_tests_properties(identity.real.test_real_programs PROPERTIES
  ENVIRONMENT "CONNLEAK=$<TARGET_FILE:connleak>;SCENARIO_BIN_DIR=${IDENTITY_REAL_BIN_DIR};PYTHONDONTWRITEBYTECODE=1"
  TIMEOUT 300
  LABELS "real;slow")
