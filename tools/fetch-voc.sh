#!/bin/sh
# fetch-voc.sh: download PASCAL VOC 2012 trainval and the SBD-augmented masks
# (SegmentationClassAug), verify each archive against a pinned SHA-256, and
# lay DEST out as the VOC grids read it (tools/grid.sh check voc):
#   DEST/JPEGImages/<id>.jpg
#   DEST/SegmentationClassAug/<id>.png       the augmented masks (U2PL splits: bare ids)
#   DEST/SegmentationClass -> SegmentationClassAug
#                                            UniMatch's split lists name SegmentationClass/
#                                            and UniMatch ships the augmented masks there
#   DEST/SegmentationClassVOC/               the tar's own 2913 masks, kept aside
#   DEST/ImageSets/, Annotations/, ...       the rest of the tar's VOC2012 folder
#
#   tools/fetch-voc.sh --dest DIR [--from-dir DIR] [--keep-archives]
#
# --dest DIR       the VOC root to create (make fetch-voc: VOC_ROOT)
# --from-dir DIR   take VOCtrainval_11-May-2012.tar and SegmentationClassAug.zip
#                  from DIR instead of downloading them (same checks)
# --keep-archives  keep DEST/.download/ (the archives) after installing
#
# Sources (VOC_TAR_URL, VOC_AUG_URL may name another copy):
#   http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar
#       (the VOC project's own server; 1,999,639,040 bytes)
#   http://vllab1.ucmerced.edu/~whung/adv-semi-seg/SegmentationClassAug.zip
#       (Hung et al.'s copy, "Adversarial Learning for Semi-Supervised
#       Semantic Segmentation"; other copies, e.g. the Dropbox one that
#       DeepLabV3Plus-Pytorch links, hold the same masks but may be zipped
#       differently, so they need their own pin)
#
# SHA-256 pins (this script was written offline; the values come from
# public code, not from a download made here):
#   the tar: e14f7632...763bcb, the same value in several independent
#       loaders (torchvision's prototype VOC dataset, KerasCV's VOC loader,
#       and others); the script also checks the MD5 that torchvision
#       datasets/voc.py publishes, 6cd6e144f989b92b3379bac3b3de84fd.
#   the zip: 63b2c2e4...ec2a13d, from ONE public preparation script that
#       downloads Hung et al.'s copy above; no second source was found. If
#       a genuine download is refused, report it (the file is kept as *.bad).
# An archive whose SHA-256 differs from its pin is renamed *.bad and
# refused. With a pin set to the empty string (VOC_AUG_SHA256= make
# fetch-voc ...) the script prints the archive's SHA-256 and refuses to
# install it: the way to obtain the value for another copy, to be pinned
# after checking it against an independent one. The archives are kept in
# DEST/.download/ until installed, so a second run does not download again.
#
# Exit status: 0 installed, 1 an error or an unpinned archive, 2 usage.
# Used by `make fetch-voc` (reports/grid.mk); the refusal of an unpinned
# archive is checked by tests/slurm_script.sh.
set -eu
LC_ALL=C
export LC_ALL

# Unset: the pin below; set (even to the empty string): that value.
VOC_TAR_SHA256=${VOC_TAR_SHA256-e14f763270cf193d0b5f74b169f44157a4b0c6efa708f4dd0ff78ee691763bcb}
VOC_AUG_SHA256=${VOC_AUG_SHA256-63b2c2e40badf93e7c4a91e2c5e6dd2eb68ace6a639736f9a2447b446ec2a13d}
VOC_TAR_MD5=6cd6e144f989b92b3379bac3b3de84fd   # torchvision datasets/voc.py, VOC 2012 trainval

VOC_TAR=VOCtrainval_11-May-2012.tar
VOC_TAR_URL=${VOC_TAR_URL:-http://host.robots.ox.ac.uk/pascal/VOC/voc2012/$VOC_TAR}
VOC_AUG=SegmentationClassAug.zip
VOC_AUG_URL=${VOC_AUG_URL:-http://vllab1.ucmerced.edu/~whung/adv-semi-seg/SegmentationClassAug.zip}

dest=""
from=""
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
    --dest) [ $# -ge 2 ] || exit 2; dest=$2; shift 2 ;;
    --from-dir) [ $# -ge 2 ] || exit 2; from=$2; shift 2 ;;
    --keep-archives) keep=1; shift ;;
    *) echo "usage: $0 --dest DIR [--from-dir DIR] [--keep-archives]" >&2; exit 2 ;;
    esac
done
[ -n "$dest" ] || { echo "usage: $0 --dest DIR [--from-dir DIR] [--keep-archives]" >&2; exit 2; }

if [ -d "$dest/JPEGImages" ] && [ -d "$dest/SegmentationClassAug" ] && [ -e "$dest/SegmentationClass" ]; then
    echo "fetch-voc: $dest already holds JPEGImages, SegmentationClassAug and SegmentationClass; nothing to do"
    echo "fetch-voc: (remove $dest to fetch again; \`make reproduce-voc VOC_ROOT=$dest\` checks every file)"
    exit 0
fi

download() { # URL OUT
    if command -v curl >/dev/null 2>&1; then
        curl -fL --retry 3 -o "$2" "$1"
    elif command -v wget >/dev/null 2>&1; then
        wget -O "$2" "$1"
    else
        echo "fetch-voc: needs curl or wget" >&2
        return 1
    fi
}

cache=$dest/.download
mkdir -p "$cache"
unpinned=0

# get NAME URL PINVAR MD5: the archive in $cache/NAME, verified against the
# SHA-256 in the variable PINVAR (and MD5 when not empty); returns 1 when it
# must not be installed.
get() {
    name=$1 url=$2 pinvar=$3 md5=$4
    eval "pin=\$$pinvar"
    f=$cache/$name
    if [ ! -f "$f" ]; then
        if [ -n "$from" ]; then
            [ -f "$from/$name" ] || { echo "fetch-voc: $from/$name: missing" >&2; return 1; }
            cp "$from/$name" "$f.part"
        else
            echo "fetch-voc: downloading $url"
            download "$url" "$f.part" || { echo "fetch-voc: $url: download failed" >&2; rm -f "$f.part"; return 1; }
        fi
        mv "$f.part" "$f"
    fi
    have=$(sha256sum <"$f" | cut -d' ' -f1)
    if [ -n "$md5" ]; then
        got=$(md5sum <"$f" | cut -d' ' -f1)
        if [ "$got" != "$md5" ]; then
            mv "$f" "$f.bad"
            echo "fetch-voc: $name: MD5 $got, published $md5: corrupt or not the original; kept as $f.bad" >&2
            return 1
        fi
    fi
    if [ -z "$pin" ]; then
        unpinned=1
        echo "fetch-voc: $name: NOT PINNED. Its SHA-256 is"
        echo "    $have"
        if [ -n "$md5" ]; then
            echo "  and its MD5 matches the one torchvision publishes ($md5)."
        else
            echo "  and it has no published checksum: compare this value with an independent copy."
        fi
        echo "  Refusing to install an archive without a pinned SHA-256. Once verified, pin it"
        echo "  ($pinvar=$have make fetch-voc ...) and run again."
        return 1
    fi
    if [ "$have" != "$pin" ]; then
        mv "$f" "$f.bad"
        echo "fetch-voc: $name: SHA-256 $have, pinned $pin: refused; kept as $f.bad" >&2
        return 1
    fi
    echo "fetch-voc: $name: SHA-256 verified"
}

ok=1
get "$VOC_TAR" "$VOC_TAR_URL" VOC_TAR_SHA256 "$VOC_TAR_MD5" || ok=0
get "$VOC_AUG" "$VOC_AUG_URL" VOC_AUG_SHA256 "" || ok=0
if [ $ok = 0 ]; then
    [ $unpinned = 0 ] || echo "fetch-voc: set VOC_TAR_SHA256 / VOC_AUG_SHA256 to the verified values"
    exit 1
fi

unzip_() { # ZIP DIR
    if command -v unzip >/dev/null 2>&1; then
        unzip -q "$1" -d "$2"
    elif command -v bsdtar >/dev/null 2>&1; then
        bsdtar -xf "$1" -C "$2"
    else
        echo "fetch-voc: needs unzip (apt-get install unzip) or bsdtar" >&2
        return 1
    fi
}

tmp=$(mktemp -d "$dest/.extract.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "fetch-voc: extracting $VOC_TAR"
tar -xf "$cache/$VOC_TAR" -C "$tmp"
[ -d "$tmp/VOCdevkit/VOC2012/JPEGImages" ] || { echo "fetch-voc: $VOC_TAR holds no VOCdevkit/VOC2012/JPEGImages" >&2; exit 1; }
echo "fetch-voc: extracting $VOC_AUG"
mkdir "$tmp/aug"
unzip_ "$cache/$VOC_AUG" "$tmp/aug"
[ -d "$tmp/aug/SegmentationClassAug" ] || { echo "fetch-voc: $VOC_AUG holds no SegmentationClassAug/" >&2; exit 1; }

for d in "$tmp"/VOCdevkit/VOC2012/*; do
    n=$(basename "$d")
    [ "$n" = SegmentationClass ] && n=SegmentationClassVOC
    rm -rf "${dest:?}/$n"
    mv "$d" "$dest/$n"
done
rm -rf "$dest/SegmentationClassAug" "$dest/SegmentationClass"
mv "$tmp/aug/SegmentationClassAug" "$dest/SegmentationClassAug"
ln -s SegmentationClassAug "$dest/SegmentationClass"
[ $keep = 1 ] || rm -rf "$cache"
echo "fetch-voc: VOC 2012 + SegmentationClassAug installed in $dest"
echo "fetch-voc: $(ls "$dest/JPEGImages" | wc -l) images, $(ls "$dest/SegmentationClassAug" | wc -l) augmented masks"
