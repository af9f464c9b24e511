# shellcheck shell=bash
# images/lib/initramfs.sh -- sourced by the initramfs builders (guest and lab).

# stage_base STAGE: the skeleton of every initramfs here: the usual mount
# points and /bin/busybox with a symlink per applet, so a shell and the
# common tools are there for debugging and for scripts.
stage_base() {
    local stage=$1 applet
    mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,run,root,etc,tmp}
    chmod 1777 "$stage/tmp"
    chmod 0700 "$stage/root"
    cp /bin/busybox "$stage/bin/busybox"
    while IFS= read -r applet; do        # e.g. "usr/bin/head"
        [[ -e $stage/$applet ]] && continue
        mkdir -p "$stage/${applet%/*}"
        ln -s /bin/busybox "$stage/$applet"
    done < <(/bin/busybox --list-full)
    mkdir -p "$stage/lib/vmrun"
    udhcpc_script >"$stage/lib/vmrun/udhcpc.script"
    chmod 0755 "$stage/lib/vmrun/udhcpc.script"
}

# udhcpc_script: busybox's udhcpc only speaks DHCP and hands the lease to a
# script; vmrun-init (guest/init/net.c) runs it with this one for
# `vmrun.net=MAC,dhcp`. One lease, kept for the VM's life (udhcpc -q exits).
udhcpc_script() {
    cat <<'EOF'
#!/bin/sh
# Applies udhcpc's lease: $1 is the event, the lease is in $interface, $ip,
# $mask (prefix length), $router, $dns, $domain.
case $1 in
deconfig) # before asking: the link up, no address
    ip -4 addr flush dev "$interface"
    ip link set dev "$interface" up
    ;;
bound | renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-32}" broadcast + dev "$interface" || exit 1
    for gw in $router; do # the first router only: one default route
        ip route replace default via "$gw" dev "$interface"
        break
    done
    if [ -n "$dns" ]; then
        {
            [ -n "$domain" ] && echo "search $domain"
            for ns in $dns; do echo "nameserver $ns"; done
        } >/etc/resolv.conf
    fi
    ;;
esac
exit 0
EOF
}

# pack_cpio STAGE OUT: write STAGE as an uncompressed newc archive. Not
# compressed on purpose: under emulation the kernel copies an uncompressed
# archive much faster than it inflates a compressed one. Sorted names and
# owner 0:0 (no root needed) keep the archive the same from run to run.
# Written to a temp file and renamed: a concurrent reader (another lab run)
# never sees half an archive.
pack_cpio() {
    local stage=$1 out=$2 tmp
    tmp=$(mktemp "$out.XXXXXX")
    (cd "$stage" && find . -mindepth 1 | LC_ALL=C sort |
        cpio -o -H newc --owner=0:0 --reproducible --quiet) >"$tmp" ||
        { rm -f "$tmp"; return 1; }
    chmod 0644 "$tmp"
    mv "$tmp" "$out"
}

# needs_rebuild OUT INPUT...: true when OUT is missing or an INPUT is newer.
needs_rebuild() {
    local out=$1 input
    shift
    [[ -e $out ]] || return 0
    for input in "$@"; do
        [[ $input -nt $out ]] && return 0
    done
    return 1
}
