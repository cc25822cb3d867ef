#!/bin/sh
# fetch-splits.sh: download the community split lists of PASCAL VOC 2012 and
# Cityscapes (UniMatch, U2PL, CPS/TorchSemiSeg, and the VOC image sets of
# IRN) at pinned commits, and verify each file against splits/SHA256SUMS.
# The lists themselves are never committed; the SHA-256 pins are.
#
#   tools/fetch-splits.sh [--dest DIR] [--from-dir REFDIR]
#
# --dest DIR      where splits/<dataset>/<family>/<name>/ go (default: the
#                 splits/ folder beside this script)
# --from-dir DIR  copy from a local byte-for-byte reference copy of the
#                 upstream files, laid out as unimatch/, u2pl/, cps/,
#                 pascal-imagesets/, instead of downloading; same checks.
#
# Every line of SHA256SUMS names a destination file; its source (repository,
# commit, path) follows from the rules in src_of below. A file already
# present with the right hash is kept; a download whose hash differs is an
# error and is not installed. Exit 0 when every file is present and verified.
# Used by `make fetch-splits`; the mapping and the pins are checked offline
# by tests/splits_reference.sh.
set -eu
LC_ALL=C
export LC_ALL

here=$(cd "$(dirname "$0")" && pwd)
sums="$here/../splits/SHA256SUMS"
dest="$here/../splits"
from=""
while [ $# -gt 0 ]; do
    case "$1" in
    --dest) dest=$2; shift 2 ;;
    --from-dir) from=$2; shift 2 ;;
    *) echo "usage: $0 [--dest DIR] [--from-dir REFDIR]" >&2; exit 2 ;;
    esac
done

# Pinned snapshots (owner/repo and full commit; splits/README.md).
UNIMATCH="LiheYoung/UniMatch 0324f3dd4a22128105a5eb135d2586c0bb3cc647"
U2PL="Haochen-Wang409/U2PL ab3d2be313d4d6b2885e7a0213d4fce82a803b79"
CPS="charlesCXK/TorchSemiSeg 5e0c29c02738728b6848a732817db15620a6e034"
IRN="jiwoon-ahn/irn a2ece0034d0a5a9635e4e131cd4fa6e2a779d316"

# src_of DEST -> "owner/repo commit path-in-repo reference-copy-path"
src_of() {
    d=$1
    case "$d" in
    pascal/unimatch/*) r=${d#pascal/unimatch/}; echo "$UNIMATCH splits/pascal/$r unimatch/pascal/$r" ;;
    cityscapes/unimatch/*) r=${d#cityscapes/unimatch/}; echo "$UNIMATCH splits/cityscapes/$r unimatch/cityscapes/$r" ;;
    pascal/u2pl/*) r=${d#pascal/u2pl/}; echo "$U2PL data/splits/pascal/$r u2pl/pascal/$r" ;;
    cityscapes/u2pl/*) r=${d#cityscapes/u2pl/}; echo "$U2PL data/splits/cityscapes/$r u2pl/cityscapes/$r" ;;
    pascal/cps/*_1-*/*.txt)
        # pascal/cps/<set>_1-N/<kind>.txt <- <set>_<kind>_1-N.txt
        name=${d#pascal/cps/}; set_n=${name%/*}; kind=${name#*/}; kind=${kind%.txt}
        f="${set_n%_1-*}_${kind}_1-${set_n##*_1-}.txt"
        echo "$CPS DATA/pascal_voc/subset_train_aug/$f cps/pascal_voc/subset_train_aug/$f" ;;
    cityscapes/cps/*_1-*/*.txt)
        name=${d#cityscapes/cps/}; set_n=${name%/*}; kind=${name#*/}; kind=${kind%.txt}
        f="${set_n%_1-*}_${kind}_1-${set_n##*_1-}.txt"
        echo "$CPS DATA/city/config_new/subset_train/$f cps/city/config_new/subset_train/$f" ;;
    cityscapes/cps/*.txt) r=${d#cityscapes/cps/}; echo "$CPS DATA/city/config_new/$r cps/city/config_new/$r" ;;
    pascal/imagesets/*.txt) r=${d#pascal/imagesets/}; echo "$IRN voc12/$r pascal-imagesets/$r" ;;
    *) echo "fetch-splits: no source rule for $d" >&2; return 1 ;;
    esac
}

download() { # URL OUT
    if command -v curl >/dev/null 2>&1; then
        curl -fsSL --retry 3 -o "$2" "$1"
    elif command -v wget >/dev/null 2>&1; then
        wget -q -O "$2" "$1"
    else
        echo "fetch-splits: needs curl or wget" >&2
        return 1
    fi
}

[ -r "$sums" ] || { echo "fetch-splits: $sums not found" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fetch-splits.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
n=0 kept=0 got=0 bad=0
while read -r hash path; do
    [ -n "$hash" ] || continue
    n=$((n + 1))
    out="$dest/$path"
    if [ -f "$out" ] && [ "$(sha256sum <"$out" | cut -d' ' -f1)" = "$hash" ]; then
        kept=$((kept + 1))
        continue
    fi
    src=$(src_of "$path") || { bad=$((bad + 1)); continue; }
    set -- $src
    t="$tmp/file"
    if [ -n "$from" ]; then
        cp "$from/$4" "$t" 2>/dev/null || { echo "fetch-splits: $from/$4: missing (for $path)" >&2; bad=$((bad + 1)); continue; }
    else
        url="https://raw.githubusercontent.com/$1/$2/$3"
        download "$url" "$t" || { echo "fetch-splits: $url: download failed" >&2; bad=$((bad + 1)); continue; }
    fi
    have=$(sha256sum <"$t" | cut -d' ' -f1)
    if [ "$have" != "$hash" ]; then
        echo "fetch-splits: $path: SHA-256 $have, pinned $hash (source $1@$2:$3)" >&2
        bad=$((bad + 1))
        continue
    fi
    mkdir -p "$(dirname "$out")"
    mv "$t" "$out.tmp.$$" && mv "$out.tmp.$$" "$out"
    got=$((got + 1))
done <"$sums"
echo "fetch-splits: $n files: $got fetched, $kept already present, $bad failed"
[ "$bad" -eq 0 ]
