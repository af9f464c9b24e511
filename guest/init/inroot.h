/*
 * Paths inside another root (the job's rootfs, seen by init at
 * /run/vmrun/root), resolved as a process chrooted there would resolve
 * them: symlinks and `..` stay inside (openat2's RESOLVE_IN_ROOT). The
 * image is the user's, so an absolute symlink such as /lib -> /usr/lib
 * (merged-/usr distros) or /etc/passwd -> /somewhere must lead to the
 * image's file, never to init's.
 */
#ifndef VMRUN_GUEST_INROOT_H
#define VMRUN_GUEST_INROOT_H

#include <stddef.h>
#include <sys/types.h>

/*
 * openat2(rootfd, path, flags | O_CLOEXEC, mode) with RESOLVE_IN_ROOT.
 * path may be absolute (relative to the root). Returns an fd or -errno.
 */
int inroot_open(int rootfd, const char *path, int flags, mode_t mode);

/*
 * mkdir -p of path inside the root (mode 0755 for new directories),
 * following the image's symlinks inside it. Returns an O_PATH fd of the
 * directory, or -errno (ENOTDIR: something else is in the way).
 */
int inroot_mkdirs(int rootfd, const char *path);

/*
 * Reads the regular file at path inside the root, at most max bytes, into
 * a new NUL-terminated buffer (*out, to free). A FIFO or device where a
 * file was expected is refused (EINVAL) rather than read, since it could
 * block or never end. Returns 0 or an errno value (EFBIG if larger).
 */
int inroot_read(int rootfd, const char *path, size_t max, char **out);

/*
 * "/proc/self/fd/N" for fd: the target to give mount(2) for a directory or
 * file already resolved inside the root (mount follows the magic link to
 * exactly that place, so the path is not resolved a second time).
 */
const char *inroot_fd_path(int fd, char buf[32]);

/*
 * Where fd is, relative to the root's path root_path (e.g. "/usr/lib/
 * modules/6.1.0" for /lib/modules/6.1.0 when /lib -> usr/lib), for
 * messages; copies "?" if it cannot tell.
 */
void inroot_where(int fd, const char *root_path, char *out, size_t outlen);

#endif /* VMRUN_GUEST_INROOT_H */
