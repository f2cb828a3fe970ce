/* The test guest's UDP service (busybox has none): answers each datagram on PORT, over IPv4 and IPv6,
 * with "E2E-UDP name=HOSTNAME got=PAYLOAD". Usage: udp-echo PORT */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  int fd = socket(AF_INET6, SOCK_DGRAM, 0);
  int off = 0;
  setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  struct sockaddr_in6 me = {.sin6_family = AF_INET6, .sin6_port = htons(atoi(argv[1])), .sin6_addr = in6addr_any};
  if (bind(fd, (struct sockaddr *)&me, sizeof me) != 0) return 1;
  char host[64] = "";
  gethostname(host, sizeof host - 1);
  for (;;) {
    char in[256], out[400];
    struct sockaddr_in6 peer;
    socklen_t len = sizeof peer;
    ssize_t n = recvfrom(fd, in, sizeof in - 1, 0, (struct sockaddr *)&peer, &len);
    if (n < 0) continue;
    in[n] = 0;
    in[strcspn(in, "\r\n")] = 0;
    int m = snprintf(out, sizeof out, "E2E-UDP name=%s got=%s\n", host, in);
    sendto(fd, out, m, 0, (struct sockaddr *)&peer, len);
  }
}
