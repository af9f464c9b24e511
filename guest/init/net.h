/*
 * Network interfaces: for each virtio-net device vmrun adds a token
 * `vmrun.net=MAC[,ADDR/PREFIX[,GATEWAY]]` or `vmrun.net=MAC,dhcp` to the
 * kernel command line (docs/guest-protocol.md); vmrun-init configures each
 * after the shares and before the job disk, so the job finds its network
 * ready.
 */
#ifndef VMRUN_GUEST_NET_H
#define VMRUN_GUEST_NET_H

/*
 * How long to wait for an interface with the token's MAC (virtio_net may
 * still be probing when init gets there), and how often to look.
 */
#define NET_IF_WAIT_MS 5000
#define NET_IF_POLL_MS 10

/*
 * busybox's udhcpc only reports a lease; this script (images/lib/
 * initramfs.sh puts it in the initramfs) applies it. Overridable so a host
 * harness can point at its own copy.
 */
#ifndef NET_UDHCPC_SCRIPT
#define NET_UDHCPC_SCRIPT "/lib/vmrun/udhcpc.script"
#endif

/*
 * Brings `lo` up (the kernel gives it 127.0.0.1/8 then), then configures
 * every vmrun.net token on cmdline, in order: finds the interface whose
 * MAC matches, brings it up, and sets its address, netmask and default
 * route, or runs udhcpc on it. Returns 0, or -1 at the first failure after
 * printing one line (`vmrun-init: cannot configure network MAC: reason`,
 * or `...: bad vmrun.net=VALUE: reason`).
 * Test mode touches no interface: prints `vmrun-init: test mode: would
 * configure MAC as ADDR/PREFIX[ via GATEWAY]` (or `with dhcp`, `link up
 * only`) per token instead.
 */
int net_setup(const char *cmdline, int test);

#endif /* VMRUN_GUEST_NET_H */
