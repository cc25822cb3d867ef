#!/bin/sh
# Layered configs keep the methods comparable. experiments/<dataset>.conf holds
# what every method shares; experiments/<m>/<dataset>.conf includes it and adds
# the method's section. Each experiments/<m>/README.md declares, one line per
# dataset, the keys in which the method deviates from the shared file:
#     - Deviations from experiments/voc.conf: train.batch_size (why), ...
# ("none" when there are none; text in parentheses is a comment). Checked here,
# for every dataset and method:
#  1. the method's config includes ../<dataset>.conf;
#  2. the keys it sets outside its own section, or unsets, are exactly the
#     declared ones (no undeclared override, no stale declaration);
#  3. the resolved configuration (config.resolved, which the trainer writes
#     before it reads any image) agrees with every other method's on every
#     non-method key that neither method declares: same keys, same values.
# The trainers run in a scratch folder that holds the split, val and test
# lists the configs name, filled with made-up image-mask pairs (the labeled,
# unlabeled and test lists apart: the test set must be held out), and those files, empty, under every data.root: the
# start-up list checks pass, config.resolved is written, then the first image
# read fails, which ends the run.
. "${top_srcdir:-.}/tests/setup.sh"
bin=$(cd "${top_builddir:-.}" && pwd)
ex="$top_srcdir/experiments"
methods="supervised meanteacher cutmixseg fixmatch unimatch u2pl ctt dssn uccl allspark"
datasets="demo voc cityscapes"
SG_NUM_THREADS=1; export SG_NUM_THREADS
fail=0
bad() { echo "$*"; fail=1; }

# keys_set FILE SECTION: "section.key" for every key FILE sets outside
# [SECTION], and every key it unsets.
keys_set() {
    awk -v own="$2" '
        { sub(/^[ \t]+/, ""); sub(/[ \t]+$/, "") }
        /^[;#]/ || $0 == "" { next }
        /^\[.*\]$/ { sec = substr($0, 2, length($0) - 2); next }
        {
            eq = index($0, "="); if (!eq) next
            k = substr($0, 1, eq - 1); v = substr($0, eq + 1); sub(/[ \t]+$/, "", k)
            sub(/[ \t]+;.*$/, "", v); sub(/^[ \t]+/, "", v)
            if (sec == "" && k == "unset") {
                n = split(v, a, ","); for (i = 1; i <= n; i++) { gsub(/[ \t]/, "", a[i]); print a[i] }
            } else if (sec != "" && sec != own) print sec "." k
        }' "$1" | sort -u
}

# declared M D: the keys of M's README line for D, one a line, sorted.
declared() {
    line=$(grep -F "Deviations from experiments/$2.conf:" "$ex/$1/README.md" || true)
    [ "$(printf '%s\n' "$line" | grep -c .)" = 1 ] ||
        { echo "experiments/$1/README.md: expected one line 'Deviations from experiments/$2.conf: ...'" >&2; return 1; }
    rest=$(printf '%s\n' "$line" | sed -e 's/.*Deviations from experiments\/[a-z]*\.conf://' -e 's/`//g' -e 's/([^)]*)//g')
    printf '%s\n' "$rest" | tr ',' '\n' | sed -e 's/^[ \t]*//' -e 's/[ \t]*$//' | grep -v '^$' | sort -u > "$SG_TMP/decl"
    if [ "$(cat "$SG_TMP/decl")" = none ]; then return 0; fi
    if grep -vqE '^[a-z0-9_]+\.[a-z0-9_]+$' "$SG_TMP/decl"; then
        echo "experiments/$1/README.md: not a section.key list: $rest" >&2
        return 1
    fi
    cat "$SG_TMP/decl"
}

# The lists the configs name, relative to the scratch folder.
w="$SG_TMP/w"
mkdir -p "$w/splits"
cp "$top_srcdir/splits/seeds" "$w/splits/seeds"
i=0
while [ $i -lt 64 ]; do
    echo "img_$i.jpg mask_$i.png" >> "$SG_TMP/list"
    echo "u_img_$i.jpg u_mask_$i.png" >> "$SG_TMP/ulist"
    echo "t_img_$i.jpg t_mask_$i.png" >> "$SG_TMP/tlist"
    i=$((i + 1))
done
for root in $(sed -n 's/^[ \t]*root[ \t]*=[ \t]*\([^ \t;]*\).*/\1/p' "$ex"/*.conf "$ex"/*/*.conf | sort -u); do
    mkdir -p "$w/$root"
    (cd "$w/$root" && cut -d' ' -f1,2 "$SG_TMP/list" "$SG_TMP/ulist" "$SG_TMP/tlist" | tr ' ' '\n' | xargs touch)
done
for f in "$ex"/*.conf "$ex"/*/*.conf; do
    sed -n 's/^[ \t]*\(split\|val\|test\)[ \t]*=[ \t]*\([^ \t;]*\).*/\1 \2/p' "$f"
done | sort -u | while read -r k p; do
    case "$p" in /*) continue ;; esac
    if [ "$k" = split ]; then
        mkdir -p "$w/$p"
        cp "$SG_TMP/list" "$w/$p/labeled.txt"
        cp "$SG_TMP/ulist" "$w/$p/unlabeled.txt"
    elif [ "$k" = test ]; then
        mkdir -p "$w/$(dirname "$p")"
        cp "$SG_TMP/tlist" "$w/$p"
    else
        mkdir -p "$w/$(dirname "$p")"
        cp "$SG_TMP/list" "$w/$p"
    fi
done

for d in $datasets; do
    [ -f "$ex/$d.conf" ] || { bad "missing experiments/$d.conf"; continue; }
    for m in $methods; do
        conf="$ex/$m/$d.conf"
        grep -qx "include = \.\./$d\.conf" "$conf" || bad "experiments/$m/$d.conf: no line 'include = ../$d.conf'"
        declared $m $d > "$SG_TMP/decl_${m}_$d" || { fail=1; continue; }
        keys_set "$conf" $m > "$SG_TMP/set_${m}_$d"
        for k in $(comm -13 "$SG_TMP/decl_${m}_$d" "$SG_TMP/set_${m}_$d"); do
            bad "experiments/$m/$d.conf sets or unsets $k, which experiments/$m/README.md does not declare"
        done
        for k in $(comm -23 "$SG_TMP/decl_${m}_$d" "$SG_TMP/set_${m}_$d"); do
            bad "experiments/$m/README.md declares $k for $d, but experiments/$m/$d.conf does not set it"
        done
        rm -rf "$w/runs" "$w/reports"
        # The demo's pretrained encoders are `make demo-pretrained`'s (tests/pretrain.sh):
        # not loaded here, for every method alike.
        (cd "$w" && "$bin/experiments/$m/$m" --config "$conf" --set model.pretrained= > "$SG_TMP/log" 2>&1) || true
        r=$(find "$w/runs" -name config.resolved -path "*/$m/seed*" 2> /dev/null | head -n 1)
        if [ -z "$r" ]; then
            bad "$m $d: no config.resolved:"
            cat "$SG_TMP/log"
            continue
        fi
        # "section.key = value" for every key outside the method's section,
        # but run.name (its default is the method's name).
        awk -v own="$m" '/^\[.*\]$/ { sec = substr($0, 2, length($0) - 2); next }
            NF >= 3 && $2 == "=" && sec != own { v = $0; sub(/ ;.*/, "", v); sub(/^[^=]*= /, "", v); print sec "." $1 " = " v }' \
            "$r" | grep -v '^run\.name = ' | sort > "$SG_TMP/res_${m}_$d"
        grep -q "^data.kind = " "$SG_TMP/res_${m}_$d" || bad "$m $d: config.resolved not parsed"
    done
    # Every pair agrees on the keys neither declares.
    for m1 in $methods; do
        for m2 in $methods; do
            [ "$m1" \< "$m2" ] || continue
            [ -f "$SG_TMP/res_${m1}_$d" ] && [ -f "$SG_TMP/res_${m2}_$d" ] || continue
            cat "$SG_TMP/decl_${m1}_$d" "$SG_TMP/decl_${m2}_$d" | sed 's/$/ =/' > "$SG_TMP/skip"
            grep -vF -f "$SG_TMP/skip" "$SG_TMP/res_${m1}_$d" > "$SG_TMP/a" || true
            grep -vF -f "$SG_TMP/skip" "$SG_TMP/res_${m2}_$d" > "$SG_TMP/b" || true
            if ! diff "$SG_TMP/a" "$SG_TMP/b" > "$SG_TMP/diff"; then
                bad "$d: $m1 (<) and $m2 (>) resolve undeclared keys differently:"
                grep '^[<>]' "$SG_TMP/diff"
            fi
        done
    done
done
[ $fail = 0 ] || exit 1
echo "$(echo $methods | wc -w) methods x 3 datasets: shared settings agree up to the declared deviations"
exit 0
