// The session calls whose wrapper needs code of its own (SESSION_SPECIAL in
// session_apis.def): the handle comes in the result, the call is variadic,
// or what counts depends on more than the result.
#include <stdarg.h>

#include "session_roles.h"

using namespace connleak::shim;
using namespace connleak::shim::sessions;

// The message of a finished transfer names its easy handle. curl_easy_perform
// reads its own private multi handle: its return counts instead.
CONNLEAK_EXPORT CURLMsg* curl_multi_info_read(CURLM* multi, int* queued) {
  CURLMsg* message = real::curl_multi_info_read()(multi, queued);
  if (message && message->msg == CURLMSG_DONE) record_event(message->easy_handle, Api::kCurlEasy, Event::kTransferDone);
  return message;
}

// hiredis over a socket the program made: the socket is handed to it.
CONNLEAK_EXPORT redisContext* redisConnectFd(int fd) {
  redisContext* context = Constructor<Api::kHiredis>::call(__builtin_return_address(0), real::redisConnectFd(), fd);
  if (context) record_owner(fd, context, Api::kHiredis);
  return context;
}

// redisCommand is redisvCommand with its arguments in a va_list.
CONNLEAK_EXPORT void* redisCommand(redisContext* c, const char* format, ...) {
  auto real_command = real::redisvCommand();
  va_list arguments;
  va_start(arguments, format);
  void* reply = Transfer<Api::kHiredis, ReturnsNonNull>::call(nullptr, real_command, c, format, arguments);
  va_end(arguments);
  return reply;
}

// REDIS_OK with no reply: nothing had arrived yet (a non-blocking context).
CONNLEAK_EXPORT int redisGetReply(redisContext* c, void** reply) {
  int result;
  {
    SessionScope scope(c, Api::kHiredis);
    result = real::redisGetReply()(c, reply);
  }
  if (result == REDIS_OK && reply && *reply) record_event(c, Api::kHiredis, Event::kTransferDone);
  return result;
}
