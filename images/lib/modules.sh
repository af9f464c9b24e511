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
# Soft dependencies ("softdep=", e.g. ext4 -> crc32c) are not followed: list
# them explicitly if they matter.
# Needs: find, objcopy (binutils), xz, zstd.

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

    # .modinfo is a run of NUL-terminated "key=value" strings.
    local info deps dep
    info=$(mktemp)
    objcopy -O binary --only-section=.modinfo "$dst" "$info"
    deps=$(tr '\0' '\n' <"$info" | sed -n 's/^depends=//p')
    rm -f "$info"
    for dep in ${deps//,/ }; do
        _stage_one "$dep" || return 1
    done
    _mod_order+=("/lib/modules/$_mod_ver/$rel")
}
