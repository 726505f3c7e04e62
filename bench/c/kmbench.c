// SPDX-License-Identifier: MIT
// kmbench: the bench's C side, built on the host by bench/run.ts (gcc -O2) and run in the guest.
//
//   kmbench cycle FILE NAME N
//       The limit for a load + unload cycle: N times open(FILE, O_RDONLY|O_CLOEXEC), finit_module(fd,
//       "", 0), close(fd), delete_module(NAME, O_NONBLOCK) -- what kernmod's path-based load and its
//       unload do, without anything around them. Prints {"ns":<total>,"n":N}. Any failing call ends the
//       run with exit code 2 and the errno on stderr.
//
//   kmbench cycle-kernmod FILE NAME N
//       The same with every system call kernmod's loadModuleSync + unloadModuleSync make (strace in the
//       guest): open(O_NONBLOCK|O_NOCTTY), fstat (a regular file?), pread of the first 6 bytes (the
//       compression magic, on the fd finit_module then gets), finit_module, close, then /dev/kmsg read to
//       EAGAIN (the call's log lines); delete_module, then /dev/kmsg read to EAGAIN again. /dev/kmsg is
//       opened and read to its end once before the clock starts, as kernmod does on its first call.
//       Separates what that syscall sequence costs from what running it from JavaScript costs.
//
//   kmbench spawn REPEAT LISTFILE OUTFILE ERRFILE
//       A minimal process driver, the same for kmod and for kernmod's CLI: LISTFILE holds one command
//       per line, arguments separated by TABs (argv[0] looked up in PATH). The list is run REPEAT times,
//       one process at a time (posix_spawnp + waitpid, as a shell script would), with stdout to OUTFILE
//       and stderr to ERRFILE (both truncated once, then written in order). Prints
//       {"ns":<total>,"processes":<count>,"failed":<count of non-zero exits>,"firstFailure":<index or -1>,
//        "firstStatus":<its exit status>}.
//       The time covers spawning and waiting only: reading LISTFILE happens before the clock starts.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// Reads /dev/kmsg (non-blocking) until it has nothing more: EAGAIN, or an error. EPIPE (records
// overwritten) goes on from the oldest one left, as kernmod's reader does.
static void drain_kmsg(int kmsg) {
  char record[8192];
  for (;;) {
    ssize_t n = read(kmsg, record, sizeof record);
    if (n > 0 || (n < 0 && (errno == EPIPE || errno == EINTR))) continue;
    return;
  }
}

static int fail(const char *what, const char *file, long i, int fd) {
  fprintf(stderr, "kmbench: %s %s (cycle %ld): %s\n", what, file, i, strerror(errno));
  if (fd >= 0) close(fd);
  return 2;
}

// kmsg < 0: the plain loop; else kernmod's whole sequence (see cycle-kernmod above).
static int cycle(const char *file, const char *name, long n, int kmsg) {
  int flags = kmsg < 0 ? O_RDONLY | O_CLOEXEC : O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
  if (kmsg >= 0) drain_kmsg(kmsg);
  uint64_t t0 = now_ns();
  for (long i = 0; i < n; i++) {
    int fd = open(file, flags);
    if (fd < 0) return fail("open", file, i, -1);
    if (kmsg >= 0) {
      struct stat st;
      char magic[6];
      if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return fail("fstat", file, i, fd);
      if (pread(fd, magic, sizeof magic, 0) != (ssize_t)sizeof magic) return fail("read", file, i, fd);
    }
    if (syscall(SYS_finit_module, fd, "", 0) != 0) return fail("finit_module", file, i, fd);
    close(fd);
    if (kmsg >= 0) drain_kmsg(kmsg);
    if (syscall(SYS_delete_module, name, O_NONBLOCK) != 0) return fail("delete_module", name, i, -1);
    if (kmsg >= 0) drain_kmsg(kmsg);
  }
  uint64_t t1 = now_ns();
  printf("{\"ns\":%llu,\"n\":%ld}\n", (unsigned long long)(t1 - t0), n);
  return 0;
}

struct command {
  char **argv;
};

static char *slurp(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return NULL;
  }
  char *buf = malloc((size_t)st.st_size + 1);
  if (!buf) {
    close(fd);
    return NULL;
  }
  size_t off = 0;
  while (off < (size_t)st.st_size) {
    ssize_t r = read(fd, buf + off, (size_t)st.st_size - off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    off += (size_t)r;
  }
  close(fd);
  buf[off] = '\0';
  *len = off;
  return buf;
}

static int spawn_list(long repeat, const char *listfile, const char *outfile, const char *errfile) {
  size_t len;
  char *text = slurp(listfile, &len);
  if (!text) {
    fprintf(stderr, "kmbench: cannot read %s: %s\n", listfile, strerror(errno));
    return 2;
  }
  // Split into lines, each line into TAB-separated arguments (in place).
  size_t ncmd = 0, cap = 64;
  struct command *cmds = malloc(cap * sizeof *cmds);
  char *line = text;
  while (line && *line) {
    char *nl = strchr(line, '\n');
    if (nl) *nl = '\0';
    if (*line) {
      size_t nargs = 1;
      for (char *p = line; *p; p++)
        if (*p == '\t') nargs++;
      char **argv = malloc((nargs + 1) * sizeof *argv);
      size_t k = 0;
      char *arg = line;
      for (char *p = line;; p++) {
        if (*p == '\t' || *p == '\0') {
          int end = *p == '\0';
          *p = '\0';
          argv[k++] = arg;
          arg = p + 1;
          if (end) break;
        }
      }
      argv[k] = NULL;
      if (ncmd == cap) cmds = realloc(cmds, (cap *= 2) * sizeof *cmds);
      cmds[ncmd++].argv = argv;
    }
    line = nl ? nl + 1 : NULL;
  }

  int out = open(outfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int err = open(errfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0 || err < 0) {
    fprintf(stderr, "kmbench: cannot open output files: %s\n", strerror(errno));
    return 2;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out, 1);
  posix_spawn_file_actions_adddup2(&fa, err, 2);

  long processes = 0, failed = 0, first_failure = -1;
  int first_status = 0;
  uint64_t t0 = now_ns();
  for (long r = 0; r < repeat; r++) {
    for (size_t i = 0; i < ncmd; i++) {
      pid_t pid;
      int rc = posix_spawnp(&pid, cmds[i].argv[0], &fa, NULL, cmds[i].argv, environ);
      if (rc != 0) {
        fprintf(stderr, "kmbench: cannot run %s: %s\n", cmds[i].argv[0], strerror(rc));
        return 2;
      }
      int status;
      while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
          fprintf(stderr, "kmbench: waitpid: %s\n", strerror(errno));
          return 2;
        }
      }
      int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      if (code != 0) {
        if (first_failure < 0) {
          first_failure = processes;
          first_status = code;
        }
        failed++;
      }
      processes++;
    }
  }
  uint64_t t1 = now_ns();
  printf("{\"ns\":%llu,\"processes\":%ld,\"failed\":%ld,\"firstFailure\":%ld,\"firstStatus\":%d}\n", (unsigned long long)(t1 - t0), processes, failed,
         first_failure, first_status);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "cycle") == 0) return cycle(argv[2], argv[3], strtol(argv[4], NULL, 10), -1);
  if (argc == 5 && strcmp(argv[1], "cycle-kernmod") == 0) {
    int kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (kmsg < 0) {
      fprintf(stderr, "kmbench: open /dev/kmsg: %s\n", strerror(errno));
      return 2;
    }
    return cycle(argv[2], argv[3], strtol(argv[4], NULL, 10), kmsg);
  }
  if (argc == 6 && strcmp(argv[1], "spawn") == 0) return spawn_list(strtol(argv[2], NULL, 10), argv[3], argv[4], argv[5]);
  fprintf(stderr,
          "usage: kmbench cycle FILE NAME N\n"
          "       kmbench cycle-kernmod FILE NAME N\n"
          "       kmbench spawn REPEAT LISTFILE OUTFILE ERRFILE\n");
  return 64;
}
