"""Probes the process's global scope for libcurl and OpenSSL functions the
way a program with optional TLS support does (ctypes.CDLL(None), i.e.
dlopen(NULL) + dlsym), and calls curl_easy_init() only where it is found.
This program never loads libcurl or OpenSSL into the global scope, so
natively nothing is found; the shim's wrappers must not make them appear.
"""

import ctypes

scope = ctypes.CDLL(None)
for name in ("curl_easy_init", "curl_easy_cleanup", "curl_multi_perform", "curl_version",
             "SSL_CTX_new", "SSL_new", "SSL_set_fd", "SSL_CTX_free", "socket", "connect"):
    print(name, "found" if hasattr(scope, name) else "not found")
if hasattr(scope, "curl_easy_init"):
    scope.curl_easy_init.restype = ctypes.c_void_p
    print("curl_easy_init() returned", "NULL" if not scope.curl_easy_init() else "a handle")
