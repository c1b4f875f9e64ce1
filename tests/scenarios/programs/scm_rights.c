/* A socketpair, then fork. The child connects to the server, passes that
 * connection to the parent with sendmsg(SCM_RIGHTS), closes its own copy and
 * everything else and exits. The parent receives it in receive_fd and never
 * closes it. Expected: exactly one error finding (leaked-connection, or
 * leaked-socket if the received socket is not known to be connected) at the
 * recvmsg() line in receive_fd, in the parent's pid only. */
#include <sys/uio.h>
#include <sys/wait.h>

#include "common.h"

static void send_fd(int channel, int fd) {
  char byte = 'x';
  struct iovec iov = {&byte, 1};
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int))];
  } control;
  memset(&control, 0, sizeof(control));
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof(control.buf);
  struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cmsg), &fd, sizeof(fd));
  must(sendmsg(channel, &msg, 0) == 1, "sendmsg");
}

LEAK_SITE static int receive_fd(int channel) {
  char byte;
  struct iovec iov = {&byte, 1};
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int))];
  } control;
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof(control.buf);
  must(recvmsg(channel, &msg, 0) == 1, "recvmsg"); /* LEAK: receive_fd */
  struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
  must(cmsg != NULL && cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS, "SCM_RIGHTS");
  int fd;
  memcpy(&fd, CMSG_DATA(cmsg), sizeof(fd));
  LEAK_RETURN(fd);
}

int main(int argc, char **argv) {
  (void)argc;
  struct sockaddr_in server = server_address(argv[1]);
  int pair[2];
  must(socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0, "socketpair");
  pid_t child = fork();
  must(child >= 0, "fork");
  if (child == 0) {
    close(pair[0]);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    must(fd >= 0 && connect(fd, (const struct sockaddr *)&server, sizeof(server)) == 0, "connect");
    send_fd(pair[1], fd);
    close(fd);
    close(pair[1]);
    exit(0);
  }
  close(pair[1]);
  int received = receive_fd(pair[0]);
  close(pair[0]);
  int status = 0;
  must(waitpid(child, &status, 0) == child, "waitpid");
  printf("parent %d child %d received %d\n", (int)getpid(), (int)child, received);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
