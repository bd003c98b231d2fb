/* filter_blast: a tiny raw-socket TCP SYN sender for run_filter_compare.sh.
 * Sends SYNs from a list of source addresses (the people's devices) to
 * destinations/ports their rules allow, round robin, for a fixed time, so
 * every packet through the gateway hits a different (saddr, daddr, dport).
 * Debian has no installed packet blaster here (no nping/iperf3/trafgen), and
 * a source-address sweep needs IP_HDRINCL anyway. Bounded: stops after the
 * given seconds. Usage: filter_blast <tuples file: "saddr daddr dport" lines> <seconds> */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct tuple { struct in_addr s, d; unsigned short port; };

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: %s tuples seconds\n", argv[0]); return 2; }
  FILE *f = fopen(argv[1], "r");
  if (!f) { perror(argv[1]); return 1; }
  size_t n = 0, cap = 1024;
  struct tuple *t = malloc(cap * sizeof *t);
  char s[64], d[64]; unsigned p;
  while (fscanf(f, "%63s %63s %u", s, d, &p) == 3) {
    if (n == cap) t = realloc(t, (cap *= 2) * sizeof *t);
    if (!inet_aton(s, &t[n].s) || !inet_aton(d, &t[n].d)) { fprintf(stderr, "bad line %zu\n", n + 1); return 1; }
    t[n++].port = (unsigned short)p;
  }
  fclose(f);
  if (n == 0) { fprintf(stderr, "no tuples\n"); return 1; }
  int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
  if (fd < 0) { perror("socket"); return 1; }
  double secs = atof(argv[2]);
  unsigned char pkt[40];
  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  unsigned long sent = 0;
  for (size_t i = 0;; i = (i + 1) % n) {
    if ((sent & 1023) == 0) {
      clock_gettime(CLOCK_MONOTONIC, &now);
      if ((now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9 >= secs) break;
    }
    memset(pkt, 0, sizeof pkt);
    struct iphdr *ip = (struct iphdr *)pkt;
    struct tcphdr *tcp = (struct tcphdr *)(pkt + 20);
    ip->version = 4; ip->ihl = 5; ip->tot_len = htons(40); ip->ttl = 64; ip->protocol = IPPROTO_TCP;
    ip->saddr = t[i].s.s_addr; ip->daddr = t[i].d.s_addr;
    tcp->source = htons((unsigned short)(40000 + (sent & 0x3fff))); tcp->dest = htons(t[i].port);
    tcp->doff = 5; tcp->syn = 1; tcp->window = htons(1024);
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr = t[i].d };
    if (sendto(fd, pkt, sizeof pkt, 0, (struct sockaddr *)&to, sizeof to) < 0) { perror("sendto"); return 1; }
    ++sent;
  }
  printf("%lu\n", sent);
  return 0;
}
