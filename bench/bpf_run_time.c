// bench/bpf_run_time: the kernel's own account of how long a BPF program
// runs, for the benchmarks that need the filter's cost inside a real packet
// path (bench/run_filter_iperf.sh).
//
//   bpf_run_time hold             keeps run-time statistics on until stdin
//                                 closes (prints "on" once they are)
//   bpf_run_time read ID [ID...]  prints "ID run_cnt run_time_ns" per program
//
// Statistics are switched on with the bpf(2) command BPF_ENABLE_STATS, which
// returns a file descriptor: they stay on while it is open and go back off
// when it closes, whatever happens to this process. That is deliberate: the
// other way, the sysctl kernel.bpf_stats_enabled, is machine-wide state that
// a benchmark must not leave changed. While on, every BPF program's runs
// are timed (two clock reads each), so the times read include that cost:
// they overstate the program's cost a little, never understate it.
//
// Plain syscalls (no libbpf), so the script compiles it with gcc alone, as
// it does bench/filter_blast.c.
#include <errno.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static long bpf(int cmd, union bpf_attr* attr) { return syscall(__NR_bpf, cmd, attr, sizeof(*attr)); }

static int hold(void) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.enable_stats.type = BPF_STATS_RUN_TIME;
  long fd = bpf(BPF_ENABLE_STATS, &attr);
  if (fd < 0) {
    fprintf(stderr, "bpf_run_time: BPF_ENABLE_STATS: %s\n", strerror(errno));
    return 1;
  }
  printf("on\n");
  fflush(stdout);
  char buf[64];
  while (read(STDIN_FILENO, buf, sizeof(buf)) > 0) {
  }
  return 0;  // the fd closes with the process: statistics off
}

static int read_one(const char* id_text) {
  char* end = NULL;
  unsigned long id = strtoul(id_text, &end, 10);
  if (!*id_text || *end || id == 0 || id > 0xffffffffUL) {
    fprintf(stderr, "bpf_run_time: not a program id: '%s'\n", id_text);
    return 1;
  }
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.prog_id = (__u32)id;
  long fd = bpf(BPF_PROG_GET_FD_BY_ID, &attr);
  if (fd < 0) {
    fprintf(stderr, "bpf_run_time: program %lu: %s\n", id, strerror(errno));
    return 1;
  }
  struct bpf_prog_info info;
  memset(&info, 0, sizeof(info));
  memset(&attr, 0, sizeof(attr));
  attr.info.bpf_fd = (__u32)fd;
  attr.info.info_len = sizeof(info);
  attr.info.info = (__u64)(unsigned long)&info;
  long rc = bpf(BPF_OBJ_GET_INFO_BY_FD, &attr);
  int err = errno;
  close((int)fd);
  if (rc < 0) {
    fprintf(stderr, "bpf_run_time: program %lu info: %s\n", id, strerror(err));
    return 1;
  }
  printf("%lu %llu %llu\n", id, (unsigned long long)info.run_cnt, (unsigned long long)info.run_time_ns);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 2 && strcmp(argv[1], "hold") == 0) return hold();
  if (argc >= 3 && strcmp(argv[1], "read") == 0) {
    for (int i = 2; i < argc; i++)
      if (read_one(argv[i])) return 1;
    return 0;
  }
  fprintf(stderr, "usage: bpf_run_time hold | read ID [ID...]\n");
  return 2;
}
