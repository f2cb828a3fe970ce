/*
 * qemu-script-waiter: what stays with a background guest (lib/launch/waiter.ts starts it). It starts QEMU,
 * passes the TERM, INT or HUP it gets on to QEMU as TERM, waits until QEMU is gone and then becomes the
 * tool's cleanup. QEMU gets TERM if the waiter dies (as `setpriv --pdeathsig` gave it under a shell).
 * Static against musl: about 40 KiB resident, where a shell with its libc is 1.6-1.8 MiB.
 *
 * Usage: qemu-script-waiter N CLEANUP-ARGV (N words) QEMU-ARGV...
 * Its exit status is the cleanup's; 2 for a bad command line, 127 when the cleanup cannot run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile pid_t qemu;

/* Set before the signals are unblocked, so no signal falls between the fork and the wait. */
static void pass_on(int number) {
  (void)number;
  if (qemu > 0) kill(qemu, SIGTERM);
}

int main(int argc, char **argv) {
  char *end = NULL;
  long words = argc > 1 ? strtol(argv[1], &end, 10) : 0;
  if (argc < 2 || *end != '\0' || words < 1 || words > argc - 3) {
    fputs("usage: qemu-script-waiter N CLEANUP-ARGV (N words) QEMU-ARGV...\n", stderr);
    return 2;
  }
  char **cleanup = argv + 2;
  char **command = argv + 2 + words;

  sigset_t stops, before;
  sigemptyset(&stops);
  sigaddset(&stops, SIGTERM);
  sigaddset(&stops, SIGINT);
  sigaddset(&stops, SIGHUP);
  sigprocmask(SIG_BLOCK, &stops, &before);
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = pass_on;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, NULL);
  sigaction(SIGINT, &action, NULL);
  sigaction(SIGHUP, &action, NULL);

  pid_t waiter = getpid();
  pid_t child = fork();
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != waiter) _exit(1);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    sigprocmask(SIG_SETMASK, &before, NULL);
    execvp(command[0], command);
    fprintf(stderr, "qemu-script-waiter: %s: %s\n", command[0], strerror(errno));
    _exit(127);
  }
  if (child < 0) {
    fprintf(stderr, "qemu-script-waiter: cannot start %s: %s\n", command[0], strerror(errno));
  } else {
    qemu = child;
    sigprocmask(SIG_SETMASK, &before, NULL);
    /* A signal interrupts the wait: wait again until QEMU is really gone. */
    while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {
    }
  }
  /* QEMU's words are no longer needed: the cleanup's end where they began. */
  cleanup[words] = NULL;
  execvp(cleanup[0], cleanup);
  fprintf(stderr, "qemu-script-waiter: %s: %s\n", cleanup[0], strerror(errno));
  return 127;
}
