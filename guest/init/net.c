/* Network interfaces for vmrun-init; see net.h. */
#define _GNU_SOURCE
#include "net.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd_decode.h"
#include "util.h"

/* A raw value: a valid one is at most 52 bytes, 3 times that %-encoded. */
#define NET_VALUE_MAX 256

static void dotted(const unsigned char a[4], char out[16])
{
    snprintf(out, 16, "%d.%d.%d.%d", a[0], a[1], a[2], a[3]);
}

/* "as ADDR/PREFIX via GW", "with dhcp" or "link up only", for messages. */
static const char *describe(const struct vmrun_net *n)
{
    static char text[64];
    char addr[16], gw[16];
    if (n->mode == VMRUN_NET_DHCP)
        return "with dhcp";
    if (n->mode == VMRUN_NET_LINK_ONLY)
        return "link up only";
    dotted(n->addr, addr);
    dotted(n->gateway, gw);
    snprintf(text, sizeof text, "as %s/%d%s%s", addr, n->prefix,
             n->has_gateway ? " via " : "", n->has_gateway ? gw : "");
    return text;
}

/* One line: `cannot configure network MAC: WHAT IF: WHY`; returns -1. */
static int fail(const char *mac, const char *what, const char *ifname, const char *why)
{
    say("vmrun-init: cannot configure network ", mac, ": ", what, ifname, ": ", why, NULL);
    return -1;
}

/* The interface named like ifname, for the ioctls below. */
static struct ifreq if_request(const char *ifname)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
    return ifr;
}

/* Returns 0 or an errno value, like the other ioctl helpers. */
static int if_up(int fd, const char *ifname)
{
    struct ifreq ifr = if_request(ifname);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0)
        return errno;
    ifr.ifr_flags |= IFF_UP;
    return ioctl(fd, SIOCSIFFLAGS, &ifr) != 0 ? errno : 0;
}

static struct sockaddr_in in_addr(const unsigned char a[4])
{
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    memcpy(&sin.sin_addr, a, 4);
    return sin;
}

/* SIOCSIFADDR or SIOCSIFNETMASK. */
static int if_set(int fd, const char *ifname, unsigned long request, const unsigned char a[4])
{
    struct ifreq ifr = if_request(ifname);
    struct sockaddr_in sin = in_addr(a);
    memcpy(&ifr.ifr_addr, &sin, sizeof sin);
    return ioctl(fd, request, &ifr) != 0 ? errno : 0;
}

/* Bound to ifname: with two interfaces, the gateway is on this one. */
static int add_default_route(int fd, char *ifname, const unsigned char gw[4])
{
    static const unsigned char any[4];
    struct rtentry rt;
    memset(&rt, 0, sizeof rt);
    struct sockaddr_in dst = in_addr(any), via = in_addr(gw);
    memcpy(&rt.rt_dst, &dst, sizeof dst);
    memcpy(&rt.rt_genmask, &dst, sizeof dst);
    memcpy(&rt.rt_gateway, &via, sizeof via);
    rt.rt_flags = RTF_UP | RTF_GATEWAY;
    rt.rt_dev = ifname;
    return ioctl(fd, SIOCADDRT, &rt) != 0 ? errno : 0;
}

/* Finds the interface whose sysfs address is mac (lower case, as ours). */
static int find_if(const char *mac, char ifname[IF_NAMESIZE])
{
    static char path[300], addr[64];
    DIR *dir = opendir("/sys/class/net");
    struct dirent *e;
    int found = 0;
    if (dir == NULL)
        return 0;
    while (!found && (e = readdir(dir)) != NULL) {
        /* lo's 00:00:00:00:00:00 is no NIC's */
        if (e->d_name[0] == '.' || strcmp(e->d_name, "lo") == 0 ||
            strlen(e->d_name) >= IF_NAMESIZE)
            continue;
        snprintf(path, sizeof path, "/sys/class/net/%s/address", e->d_name);
        if (read_file(path, addr, sizeof addr) == 0 &&
            strncmp(addr, mac, VMRUN_NET_MAC_LEN) == 0 &&
            (addr[VMRUN_NET_MAC_LEN] == '\n' || addr[VMRUN_NET_MAC_LEN] == '\0')) {
            strcpy(ifname, e->d_name);
            found = 1;
        }
    }
    closedir(dir);
    return found;
}

static int configure_static(int fd, const struct vmrun_net *n, char *ifname)
{
    unsigned char mask[4];
    unsigned long bits = n->prefix == 0 ? 0 : 0xffffffffUL << (32 - n->prefix);
    for (int i = 0; i < 4; i++)
        mask[i] = (unsigned char)(bits >> (24 - 8 * i));
    int err = if_set(fd, ifname, SIOCSIFADDR, n->addr);
    if (err != 0)
        return fail(n->mac, "set address on ", ifname, strerror(err));
    /* After the address: SIOCSIFADDR resets the mask to the old class's. */
    if ((err = if_set(fd, ifname, SIOCSIFNETMASK, mask)) != 0)
        return fail(n->mac, "set netmask on ", ifname, strerror(err));
    if (n->has_gateway && (err = add_default_route(fd, ifname, n->gateway)) != 0)
        return fail(n->mac, "add default route on ", ifname, strerror(err));
    return 0;
}

/*
 * udhcpc: 5 discovers a second apart, then give up (-n) rather than go to
 * the background; quit once the script has applied the lease (-q). Its
 * chatter would clutter the job's console, so it goes to /dev/null.
 */
static int configure_dhcp(int fd, const struct vmrun_net *n, char *ifname)
{
    char *argv[] = {"udhcpc", "-i", ifname, "-n", "-q", "-t", "5", "-T", "1",
                    "-s", NET_UDHCPC_SCRIPT, NULL};
    int st;
    pid_t pid = fork();
    if (pid < 0)
        return fail(n->mac, "fork udhcpc for ", ifname, strerror(errno));
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        for (int i = 0; i < 3 && null >= 0; i++)
            dup2(null, i);
        execv("/bin/busybox", argv);
        _exit(127);
    }
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return fail(n->mac, "wait for udhcpc on ", ifname, strerror(errno));
    if (WIFSIGNALED(st))
        return fail(n->mac, "DHCP on ", ifname, "udhcpc was killed");
    if (WEXITSTATUS(st) == 127)
        return fail(n->mac, "DHCP on ", ifname, "cannot run /bin/busybox udhcpc");
    if (WEXITSTATUS(st) != 0)
        return fail(n->mac, "DHCP on ", ifname, "no lease");
    /* udhcpc ignores its script's failures: check that an address landed. */
    struct ifreq ifr = if_request(ifname);
    if (ioctl(fd, SIOCGIFADDR, &ifr) != 0)
        return fail(n->mac, "DHCP on ", ifname,
                    "lease obtained but not applied by " NET_UDHCPC_SCRIPT);
    return 0;
}

static int configure(int fd, const struct vmrun_net *n)
{
    char ifname[IF_NAMESIZE];
    long deadline = now_ms() + NET_IF_WAIT_MS;
    while (!find_if(n->mac, ifname)) {
        if (now_ms() >= deadline)
            return fail(n->mac, "no interface with this MAC", "", "gave up after 5 s");
        sleep_ms(NET_IF_POLL_MS);
    }
    int err = if_up(fd, ifname);
    if (err != 0)
        return fail(n->mac, "bring up ", ifname, strerror(err));
    if (n->mode == VMRUN_NET_STATIC)
        return configure_static(fd, n, ifname);
    if (n->mode == VMRUN_NET_DHCP)
        return configure_dhcp(fd, n, ifname);
    return 0;
}

int net_setup(const char *cmdline, int test)
{
    static char value[NET_VALUE_MAX]; /* static: keep PID 1's stack small */
    static struct vmrun_net net;
    const char *cursor = cmdline;
    int fd = -1, have, rc = 0;

    /* The kernel leaves lo down (no IP autoconfig) but adds 127.0.0.1/8 at up. */
    if (!test) {
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        int err = fd < 0 ? errno : if_up(fd, "lo");
        if (err != 0)
            rc = fail("lo", "bring up ", "lo", strerror(err));
    }
    while (rc == 0 && (have = cmdline_next(&cursor, "vmrun.net", value, sizeof value)) != 0) {
        enum vmrun_net_result r = have < 0 ? VMRUN_NET_TOO_LONG : vmrun_net_parse(value, &net);
        if (r != VMRUN_NET_OK) {
            say("vmrun-init: cannot configure network: bad vmrun.net=", value, ": ",
                vmrun_net_result_str(r), NULL);
            rc = -1;
        } else if (test) {
            say("vmrun-init: test mode: would configure ", net.mac, " ", describe(&net), NULL);
        } else {
            rc = configure(fd, &net);
        }
    }
    if (fd >= 0)
        close(fd);
    return rc;
}
