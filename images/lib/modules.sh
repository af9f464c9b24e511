# shellcheck shell=bash
# images/lib/modules.sh -- sourced by the initramfs builders (guest and lab).
#
#   stage_modules KERNEL_ROOT STAGE MODULE...
#
# Copies each MODULE and every module it depends on from KERNEL_ROOT (an
# unpacked linux-image package) into STAGE/lib/modules/VER/, decompressed,
# at the same relative path, and writes STAGE/lib/modules/VER/load-order:
# their paths as seen from inside the initramfs (/lib/modules/VER/...ko),
# one per line, dependencies first. An init then just insmods each line in
# turn: no depmod, no modprobe, no decompression support needed at boot.
#
# Dependencies come from each module's own .modinfo "depends=" field (the
# unpacked package has no modules.dep: Debian generates it at install time).
# Modules built into the kernel (modules.builtin) are skipped silently.
# Soft dependencies ("softdep=pre: A B post: C", e.g. ext4 -> crypto-crc32c)
# are followed too, since an init that insmods a list has no modprobe to
# honour them: "pre" ones are staged before the module, "post" ones after.
# They usually name an alias, resolved by _resolve_alias below; one that
# nothing provides is skipped (it is soft).
# Needs: find, grep, objcopy (binutils), xz, zstd.

stage_modules() {
    local kroot=$1 stage=$2
    shift 2

    local versions=("$kroot"/lib/modules/*/)
    if [[ ${#versions[@]} -ne 1 || ! -d ${versions[0]} ]]; then
        echo "stage_modules: expected one kernel version under $kroot/lib/modules" >&2
        return 1
    fi
    local moddir=${versions[0]%/}
    local ver=${moddir##*/}

    # Module names use '_' internally but '-' or '_' in file names.
    declare -gA _mod_file=() _mod_builtin=() _mod_done=()
    _mod_order=()
    _mod_dir=$moddir _mod_stage=$stage/lib/modules/$ver _mod_ver=$ver
    local f n
    while IFS= read -r -d '' f; do
        n=${f##*/}; n=${n%%.ko*}; n=${n//-/_}
        _mod_file[$n]=$f
    done < <(find "$moddir/kernel" \( -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' \) -print0)
    if [[ -f $moddir/modules.builtin ]]; then
        while IFS= read -r f; do
            n=${f##*/}; n=${n%.ko}; n=${n//-/_}
            _mod_builtin[$n]=1
        done <"$moddir/modules.builtin"
    fi

    mkdir -p "$_mod_stage"
    for n in "$@"; do
        _stage_one "$n" || return 1
    done
    printf '%s\n' "${_mod_order[@]}" >"$_mod_stage/load-order"
}

# _stage_one NAME: stage NAME after everything it depends on (depth first,
# so the order is a valid load order).
_stage_one() {
    local name=${1//-/_}
    [[ -n ${_mod_done[$name]:-} ]] && return 0
    _mod_done[$name]=1
    if [[ -z ${_mod_file[$name]:-} ]]; then
        [[ -n ${_mod_builtin[$name]:-} ]] && return 0
        echo "stage_modules: no module named $name in $_mod_dir" >&2
        return 1
    fi

    local src=${_mod_file[$name]}
    local rel=${src#"$_mod_dir"/}
    rel=${rel%.xz}; rel=${rel%.zst}
    local dst=$_mod_stage/$rel
    mkdir -p "${dst%/*}"
    case $src in
        *.xz)  xz -dc "$src" >"$dst" ;;
        *.zst) zstd -qdc "$src" >"$dst" ;;
        *)     cp "$src" "$dst" ;;
    esac

    local modinfo deps dep softdeps word when=pre post=()
    modinfo=$(_modinfo "$dst")
    deps=$(sed -n 's/^depends=//p' <<<"$modinfo")
    softdeps=$(sed -n 's/^softdep=//p' <<<"$modinfo")
    for dep in ${deps//,/ }; do
        _stage_one "$dep" || return 1
    done
    for word in $softdeps; do
        case $word in
            pre:)  when=pre ;;
            post:) when=post ;;
            *) if [[ $when == pre ]]; then _stage_soft "$name" "$word" || return 1
               else post+=("$word"); fi ;;
        esac
    done
    _mod_order+=("/lib/modules/$_mod_ver/$rel")
    for word in "${post[@]}"; do
        _stage_soft "$name" "$word" || return 1
    done
}

# _modinfo FILE: the .modinfo section of an uncompressed module, one
# "key=value" per line (the section is a run of NUL-terminated strings).
_modinfo() {
    local info
    info=$(mktemp)
    objcopy -O binary --only-section=.modinfo "$1" "$info"
    tr '\0' '\n' <"$info"
    rm -f "$info"
}

# _stage_soft MODULE NAME: stage the soft dependency NAME of MODULE: a
# module name or an alias.
_stage_soft() {
    local target
    # Nothing provides it (e.g. vfio's post: vfio_iommu_spapr_tce, for
    # POWER): skip it quietly, as modprobe does.
    target=$(_resolve_alias "$2") || return 0
    [[ -z $target ]] && return 0                # built into the kernel
    _stage_one "$target"
}

# _resolve_alias NAME: prints the module to load for NAME (a module name or
# an alias such as crypto-crc32c), or nothing if the kernel has it built
# in; fails if nothing provides it. Several providers (crc32c_generic and
# crc32c-intel both provide crypto-crc32c): the *_generic one, which loads
# on any CPU, else the first by name.
_resolve_alias() {
    local alias=$1 n=${1//-/_} c
    if [[ -n ${_mod_file[$n]:-} ]]; then echo "$n"; return 0; fi
    [[ -n ${_mod_builtin[$n]:-} ]] && return 0
    if [[ -f $_mod_dir/modules.builtin.modinfo ]] &&
       tr '\0' '\n' <"$_mod_dir/modules.builtin.modinfo" |
           sed -n 's/^[^.]*\.alias=//p' | grep -xF -- "$alias" >/dev/null; then
        return 0
    fi
    # crypto-X: the crypto API asks for "crypto-X"; its usual providers are
    # X_generic and X (a cheap guess that also covers compressed modules).
    if [[ $alias == crypto-* ]]; then
        n=${alias#crypto-}; n=${n//-/_}
        for c in "${n}_generic" "$n"; do
            if [[ -n ${_mod_file[$c]:-} ]]; then echo "$c"; return 0; fi
            [[ -n ${_mod_builtin[$c]:-} ]] && return 0
        done
    fi
    # Any other alias: the (uncompressed) modules that declare it.
    local f found=()
    while IFS= read -r f; do
        # (no grep -q: an early exit would fail the pipe under pipefail)
        if _modinfo "$f" | grep -xF -- "alias=$alias" >/dev/null; then
            c=${f##*/}; c=${c%.ko}; found+=("${c//-/_}")
        fi
    done < <(grep -rlaF --include='*.ko' "alias=$alias" "$_mod_dir/kernel" | LC_ALL=C sort)
    ((${#found[@]})) || return 1
    for c in "${found[@]}"; do
        if [[ $c == *_generic ]]; then echo "$c"; return 0; fi
    done
    echo "${found[0]}"
}
