// The declarations of every session library the shim interposes, and
// nothing else: the shim links none of them (real_functions.h finds their
// definitions at run time, only in programs that use them). Each wrapper's
// signature is checked against these: a C function declared twice with
// different types does not compile.
#pragma once

#include <curl/curl.h>
#include <gnutls/gnutls.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <libssh2.h>
#include <mysql.h>
#include <openssl/ssl.h>
