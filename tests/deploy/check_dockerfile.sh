#!/usr/bin/env bash
# Checks the Dockerfile's package lists against what the build really needs,
# without a docker daemon (this machine and CI have none): the host is the
# same Debian release as the image (bookworm), so its package database
# answers which package holds which file.
#   1. the build stage installs only packages scripts/bootstrap installs;
#   2. each pkg-config module the Makefile builds with comes from one of them;
#   3. each shared library the built binary links (ELF NEEDED) comes from a
#      package the runtime stage installs, or from libc6, which every
#      Debian image has;
#   4. the runtime stage runs as a non-root user and has a HEALTHCHECK.
# usage: tests/deploy/check_dockerfile.sh BINARY [DOCKERFILE]
set -euo pipefail
bin=$(realpath "${1:?usage: check_dockerfile.sh BINARY [DOCKERFILE]}")
dockerfile=$(realpath "${2:-$(dirname "$0")/../../Dockerfile}")
cd "$(dirname "$0")/../.."
fail=0
bad() { echo "check_dockerfile: $*" >&2; fail=1; }
# owner_of PATH: the Debian package that holds PATH; Debian's merged /usr
# means dpkg knows a library by /lib/... or /usr/lib/..., so try each.
owner_of() {
    local p
    for p in "$1" "$(readlink -f "$1")" "${1#/usr}" "/usr$1"; do
        dpkg -S "$p" 2>/dev/null | cut -d: -f1 | head -1 | grep . && return 0
    done
    return 0
}

# The Dockerfile with its continuation lines joined, one instruction a line.
joined=$(sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' "$dockerfile")
# stage_pkgs NAME: the packages `apt-get install` names in stage NAME.
stage_pkgs() {
    awk -v want="$1" '
        /^FROM / { stage = $NF }
        stage == want && /apt-get install/ {
            sub(/.*--no-install-recommends/, ""); sub(/&&.*/, "")
            for (i = 1; i <= NF; i++) print $i
        }' <<<"$joined" | sort -u
}
build_pkgs=$(stage_pkgs build)
runtime_pkgs=$(stage_pkgs runtime)
[ -n "$build_pkgs" ] || bad "no apt-get install found in the build stage"
[ -n "$runtime_pkgs" ] || bad "no apt-get install found in the runtime stage"

# 1
boot=$(sed -n '/^APT_PKGS=(/,/)/p' scripts/bootstrap | tr -d '()' | sed 's/APT_PKGS=//' | tr ' ' '\n' | sed '/^$/d')
for p in $build_pkgs; do
    grep -qx "$p" <<<"$boot" || bad "build stage installs $p, which scripts/bootstrap does not"
done

# 2
mods=$(sed -n 's/^PKGS *:= *//p' Makefile)
for m in $mods; do
    pc=$(pkg-config --variable=pcfiledir "$m" 2>/dev/null)/$m.pc
    owner=$(owner_of "$pc")
    if [ -z "$owner" ]; then bad "pkg-config module $m: no Debian package owns $pc"; continue; fi
    grep -qx "$owner" <<<"$build_pkgs" || bad "pkg-config module $m comes from $owner, which the build stage does not install"
done

# 3
needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
[ -n "$needed" ] || bad "$bin: no NEEDED entries (not a dynamic ELF binary?)"
for lib in $needed; do
    path=$(ldd "$bin" | awk -v l="$lib" '$1 == l { print $3 }')
    [ -n "$path" ] || { bad "$lib: ldd does not resolve it"; continue; }
    owner=$(owner_of "$path")
    [ -n "$owner" ] || { bad "$lib ($path): no Debian package owns it"; continue; }
    grep -qx "$owner" <<<"$runtime_pkgs" && continue
    [ "$owner" = libc6 ] && continue
    bad "$bin needs $lib from $owner, which the runtime stage does not install"
done

# 4
runtime=$(awk '/^FROM / { stage = $NF } stage == "runtime"' <<<"$joined")
user=$(sed -n 's/^USER *//p' <<<"$runtime" | tail -1)
case "$user" in
    ""|root|0|0:*|root:*) bad "the runtime stage's USER is '${user:-unset}'; expected a non-root user" ;;
esac
grep -q '^HEALTHCHECK ' <<<"$runtime" || bad "the runtime stage has no HEALTHCHECK"
grep -q '^VOLUME ' <<<"$runtime" || bad "the runtime stage declares no VOLUME for its data"

[ $fail = 0 ] || exit 1
echo "check_dockerfile: $(wc -w <<<"$build_pkgs") build and $(wc -w <<<"$runtime_pkgs") runtime packages cover $(wc -w <<<"$mods") pkg-config modules and $(wc -w <<<"$needed") linked libraries"
