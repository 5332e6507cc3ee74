/* fake-vmm.c: a stand-in vivarium-vmm process that cannot be reached
 *
 * Built as tests/core/vivarium-vmm, so that it is what the app takes for a
 * helper (/proc/PID/exe names a vivarium-vmm). It does what a helper does
 * with the runtime folder and no more: `vivarium-vmm --machine DIR` takes
 * the lock $XDG_RUNTIME_DIR/vivarium/<basename of DIR>.lock (flock) and
 * writes its pid there; with --refuse it then binds <uuid>.sock without
 * listening (a socket that refuses connections, as one a dead process
 * left), otherwise it makes no socket (as when someone removed it). It ends
 * on SIGTERM, SIGINT or SIGHUP, with status 0, as a helper does, removing
 * the socket it made; the lock goes with the process.
 *
 * It needs no /dev/kvm: the app's tests of helpers that do not answer, and
 * of helpers left behind by a test that failed, run everywhere.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>

int
main (int   argc,
      char *argv[])
{
  const char *machine_dir = NULL;
  gboolean refuse = FALSE;
  g_autofree char *uuid = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *lock_path = NULL;
  g_autofree char *socket_path = NULL;
  char pid[32];
  sigset_t signals;
  int lock_fd, sig;

  for (int i = 1; i < argc; i++)
    {
      if (strcmp (argv[i], "--machine") == 0 && i + 1 < argc)
        machine_dir = argv[++i];
      else if (strcmp (argv[i], "--refuse") == 0)
        refuse = TRUE;
    }
  if (machine_dir == NULL)
    {
      fprintf (stderr, "usage: %s --machine DIR [--refuse]\n", argv[0]);
      return 1;
    }

  /* Before anything can signal us: the signals that end a helper */
  sigemptyset (&signals);
  sigaddset (&signals, SIGTERM);
  sigaddset (&signals, SIGINT);
  sigaddset (&signals, SIGHUP);
  sigprocmask (SIG_BLOCK, &signals, NULL);

  uuid = g_path_get_basename (machine_dir);
  dir = g_build_filename (g_get_user_runtime_dir (), "vivarium", NULL);
  lock_path = g_strconcat (dir, "/", uuid, ".lock", NULL);
  socket_path = g_strconcat (dir, "/", uuid, ".sock", NULL);
  if (g_mkdir_with_parents (dir, 0700) < 0)
    {
      fprintf (stderr, "vivarium-vmm (fake): %s: %s\n", dir, strerror (errno));
      return 1;
    }

  lock_fd = open (lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (lock_fd < 0 || flock (lock_fd, LOCK_EX | LOCK_NB) < 0)
    {
      fprintf (stderr, "vivarium-vmm (fake): %s: %s\n", lock_path, strerror (errno));
      return 4;
    }
  snprintf (pid, sizeof pid, "%ld\n", (long) getpid ());
  if (ftruncate (lock_fd, 0) < 0 || pwrite (lock_fd, pid, strlen (pid), 0) < 0)
    return 1;
  unlink (socket_path);

  if (refuse)
    {
      struct sockaddr_un addr = { .sun_family = AF_UNIX };
      int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

      if (fd < 0 || strlen (socket_path) >= sizeof addr.sun_path)
        return 1;
      memcpy (addr.sun_path, socket_path, strlen (socket_path) + 1);
      if (bind (fd, (struct sockaddr *) &addr, sizeof addr) < 0)
        {
          fprintf (stderr, "vivarium-vmm (fake): %s: %s\n", socket_path, strerror (errno));
          return 1;
        }
      /* no listen(): a connect() is refused */
    }

  do
    sig = sigwaitinfo (&signals, NULL);
  while (sig < 0 && errno == EINTR);

  if (refuse)
    unlink (socket_path);
  close (lock_fd);
  return 0;
}
