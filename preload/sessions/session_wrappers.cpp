// The wrappers of session_apis.def: each is its role's call with the real
// function the caller would have reached (real_functions.h).
#include "session_roles.h"

using namespace connleak::shim;
using namespace connleak::shim::sessions;
using enum connleak::trace::SessionApi;
using enum connleak::trace::SessionEventType;

#define CONNLEAK_ARGUMENTS(...) __VA_OPT__(, ) __VA_ARGS__
#define SESSION_CALL(name, result, parameters, arguments, ...)                          \
  CONNLEAK_EXPORT result name parameters {                                              \
    return __VA_ARGS__::call(__builtin_return_address(0),                               \
                             real::name(__builtin_return_address(0)) CONNLEAK_ARGUMENTS arguments); \
  }
#define SESSION_SPECIAL(name)
#include "session_apis.def"
