/*
 * Shared directories: vmrun's `--9p DIR,TAG` exports DIR as a virtio-9p
 * device and adds `vmrun.9p=TAG,PATH[,ro]` to the kernel command line
 * (docs/guest-protocol.md); vmrun-init mounts each at PATH before the job
 * disk and the job, so either may use them.
 */
#ifndef VMRUN_GUEST_SHARES_H
#define VMRUN_GUEST_SHARES_H

/*
 * How long to retry a mount that fails with ENOENT (no device with that
 * tag yet: the virtio-9p driver may still be probing), and how often.
 */
#define SHARE_MOUNT_WAIT_MS 5000
#define SHARE_MOUNT_POLL_MS 10

/* 9p2000.L over virtio; 512000 is the most msize Linux takes for virtio. */
#define SHARE_MOUNT_OPTIONS "trans=virtio,version=9p2000.L,msize=512000,cache=mmap"

/*
 * Mounts every vmrun.9p share on cmdline, in order: creates PATH and its
 * parents (0755) and mounts TAG there as 9p (read-only with `ro`).
 * Returns 0, or -1 at the first failure after printing one line
 * (`vmrun-init: bad vmrun.9p...` or `vmrun-init: cannot mount 9p share TAG
 * at PATH: reason`); shares mounted before it stay mounted.
 * Test mode mounts nothing: VMRUN_INIT_SHARE_ROOT (required if there is a
 * share) stands in for /; ROOT/PATH is created and `vmrun-init: test mode:
 * would mount TAG at PATH (ro|rw)` printed instead.
 */
int shares_mount(const char *cmdline, int test);

struct vmrun_share;

/*
 * Mounts one share for real (the rootfs's, rootfs.c): creates its path and
 * mounts it like the above. Returns 0, or -1 after the same line.
 */
int shares_mount_one(struct vmrun_share *s);

#endif /* VMRUN_GUEST_SHARES_H */
