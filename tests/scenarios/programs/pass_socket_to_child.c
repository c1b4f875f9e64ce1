/* A parent passes one end of a fresh socketpair to its fork child with
 * SCM_RIGHTS and goes on using its own copy (a write once the child has it),
 * then closes it; the child ends holding the one it received. With argv[1]
 * "use" the child writes to it too: then it held the last used reference,
 * and leaked it. Without, it only held a copy of the parent's socket and
 * never touched it: no leak (nginx's workers and their channels). */
#include <sys/wait.h>

#include "common.h"

static void send_fd(int channel, int fd) {
  char byte = 'x';
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    struct cmsghdr align;
    char buffer[CMSG_SPACE(sizeof(int))];
  } control;
  memset(&control, 0, sizeof(control));
  struct msghdr message = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buffer,
                           .msg_controllen = sizeof(control.buffer)};
  struct cmsghdr *c = CMSG_FIRSTHDR(&message);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  must(sendmsg(channel, &message, 0) == 1, "sendmsg");
}

static LEAK_SITE int receive_fd(int channel) {
  char byte;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    struct cmsghdr align;
    char buffer[CMSG_SPACE(sizeof(int))];
  } control;
  struct msghdr message = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buffer,
                           .msg_controllen = sizeof(control.buffer)};
  must(recvmsg(channel, &message, 0) == 1, "recvmsg"); /* LEAK: receive_fd */
  int fd;
  memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&message)), sizeof(int));
  LEAK_RETURN(fd);
}

int main(int argc, char **argv) {
  int use = argc > 1 && strcmp(argv[1], "use") == 0;
  int channel[2];
  must(socketpair(AF_UNIX, SOCK_STREAM, 0, channel) == 0, "socketpair");
  pid_t child = fork();
  must(child >= 0, "fork");
  if (child == 0) {
    close(channel[0]);
    int received = receive_fd(channel[1]);
    if (use) must(write(received, "hi", 2) == 2, "write");
    must(write(channel[1], "r", 1) == 1, "write"); /* received */
    char byte;
    must(read(channel[1], &byte, 1) == 1, "read"); /* the parent closed its copy */
    close(channel[1]);
    _exit(0); /* holding `received` */
  }
  close(channel[1]);
  int payload[2];
  must(socketpair(AF_UNIX, SOCK_STREAM, 0, payload) == 0, "socketpair");
  send_fd(channel[0], payload[0]);
  char byte;
  must(read(channel[0], &byte, 1) == 1, "read"); /* the child has it */
  usleep(20000);                                 /* past the clock's tick: the write below comes after */
  must(write(payload[0], "!", 1) == 1, "write");
  close(payload[0]);
  must(write(channel[0], "!", 1) == 1, "write");
  waitpid(child, NULL, 0);
  close(payload[1]);
  close(channel[0]);
  return 0;
}
