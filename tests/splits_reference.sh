#!/bin/sh
# splits_reference.sh: the community split lists, checked offline against the
# byte-for-byte reference copies of the upstream files ($SG_SPLITS_REFERENCE;
# default: the team's copy beside the checkout, path below); skipped (77)
# when they are absent.
#
# 1. Every .txt file of the reference copy parses with `sg-data count` in
#    its family's format (pairs, bare VOC ids, leftImg8bit paths, CPS tabs).
# 2. tools/fetch-splits.sh --from-dir installs all of them into the
#    splits/<dataset>/<family>/<name>/ layout, which checks that every pin
#    of splits/SHA256SUMS matches and every source rule finds its file; the
#    pins cover every reference file.
# 3. Record counts equal the upstream lists' (splits/README.md; e.g.
#    pascal/unimatch/92 = 92 labeled + 10490 unlabeled), and every split's
#    labeled and unlabeled lists are disjoint - except CPS's four PseudoSeg
#    splits, whose last labeled id is also listed as unlabeled (found by this
#    check; the lists are copied as published, so the overlap is pinned here).
. "$(dirname "$0")/setup.sh"

ref=${SG_SPLITS_REFERENCE:-$top_srcdir/../shared/data/splits-reference}
if [ ! -d "$ref" ]; then
    echo "splits reference copy not found at $ref: skipped"
    exit 77
fi
sgdata=${top_builddir:-.}/tools/sg-data
[ -x "$sgdata" ] || sgdata=$(dirname "$0")/../tools/sg-data
[ -x "$sgdata" ] || { echo "tools/sg-data not built"; exit 1; }
fail=0
bad() { echo "FAIL: $*"; fail=1; }

style_of() { # path relative to the reference copy or to splits/
    case "$1" in
    u2pl/pascal/* | cps/pascal_voc/* | pascal-imagesets/* | pascal/u2pl/* | pascal/cps/* | pascal/imagesets/*) echo voc ;;
    u2pl/cityscapes/* | cityscapes/u2pl/*) echo cityscapes ;;
    *) echo pairs ;;
    esac
}

# 1. Parse every reference file.
nref=0
for f in $(cd "$ref" && find . -name '*.txt' | sed 's|^\./||' | sort); do
    nref=$((nref + 1))
    "$sgdata" count --style "$(style_of "$f")" "$ref/$f" >/dev/null 2>"$SG_TMP/err" ||
        bad "$f does not parse: $(cat "$SG_TMP/err")"
done
[ "$nref" -gt 0 ] || bad "no .txt files under $ref"

# 2. Install through the fetch script's local mode: pins and source rules.
sums=$top_srcdir/splits/SHA256SUMS
npins=$(grep -c . "$sums")
[ "$npins" -eq "$nref" ] || bad "SHA256SUMS pins $npins files, the reference copy has $nref"
"$top_srcdir/tools/fetch-splits.sh" --from-dir "$ref" --dest "$SG_TMP/splits" >"$SG_TMP/fetch.log" 2>&1 ||
    bad "fetch-splits.sh --from-dir: $(cat "$SG_TMP/fetch.log")"
# A tampered reference file must be refused.
mkdir -p "$SG_TMP/tampered"
cp -R "$ref/." "$SG_TMP/tampered/"
printf 'extra\n' >>"$SG_TMP/tampered/unimatch/pascal/92/labeled.txt"
if "$top_srcdir/tools/fetch-splits.sh" --from-dir "$SG_TMP/tampered" --dest "$SG_TMP/t" >"$SG_TMP/t.log" 2>&1; then
    bad "a tampered list was accepted"
fi
grep -q "pascal/unimatch/92/labeled.txt: SHA-256" "$SG_TMP/t.log" || bad "tampered list not named: $(cat "$SG_TMP/t.log")"
[ ! -e "$SG_TMP/t/pascal/unimatch/92/labeled.txt" ] || bad "a tampered list was installed"

# 3. Counts. Splits: "dir labeled unlabeled overlaps"; lists: "file records".
cat >"$SG_TMP/splits.want" <<'EOF'
pascal/unimatch/92 92 10490 0
pascal/unimatch/183 183 10399 0
pascal/unimatch/366 366 10216 0
pascal/unimatch/732 732 9850 0
pascal/unimatch/1464 1464 9118 0
pascal/unimatch/1_16 662 9920 0
pascal/unimatch/1_8 1323 9259 0
pascal/unimatch/1_4 2646 7936 0
pascal/unimatch/u2pl_1_16 662 9920 0
pascal/unimatch/u2pl_1_8 1323 9259 0
pascal/unimatch/u2pl_1_4 2646 7936 0
pascal/u2pl/92 92 10490 0
pascal/u2pl/183 183 10399 0
pascal/u2pl/366 366 10216 0
pascal/u2pl/732 732 9850 0
pascal/u2pl/1464 1464 9118 0
pascal/u2pl/662 662 9920 0
pascal/u2pl/1323 1323 9259 0
pascal/u2pl/2646 2646 7936 0
pascal/u2pl/5291 5291 5291 0
pascal/cps/train_aug_1-16 662 9920 0
pascal/cps/train_aug_1-8 1323 9259 0
pascal/cps/train_aug_1-4 2646 7936 0
pascal/cps/train_aug_1-2 5291 5291 0
pascal/cps/pseudoseg_1-16 92 1373 1
pascal/cps/pseudoseg_1-8 183 1282 1
pascal/cps/pseudoseg_1-4 366 1099 1
pascal/cps/pseudoseg_1-2 732 733 1
cityscapes/unimatch/1_30 100 2875 0
cityscapes/unimatch/1_16 186 2789 0
cityscapes/unimatch/1_8 372 2603 0
cityscapes/unimatch/1_4 744 2231 0
cityscapes/unimatch/1_2 1488 1487 0
cityscapes/u2pl/186 186 2789 0
cityscapes/u2pl/372 372 2603 0
cityscapes/u2pl/744 744 2231 0
cityscapes/u2pl/1488 1488 1487 0
cityscapes/cps/train_aug_1-16 186 2789 0
cityscapes/cps/train_aug_1-8 372 2603 0
cityscapes/cps/train_aug_1-4 744 2231 0
cityscapes/cps/train_aug_1-2 1488 1487 0
EOF
cat >"$SG_TMP/lists.want" <<'EOF'
pascal/unimatch/val.txt 1449
pascal/unimatch/train_aug.txt 10582
pascal/u2pl/val.txt 1449
pascal/imagesets/train.txt 1464
pascal/imagesets/val.txt 1449
pascal/imagesets/test.txt 1456
pascal/imagesets/train_aug.txt 10582
cityscapes/unimatch/val.txt 500
cityscapes/u2pl/val.txt 500
cityscapes/cps/val.txt 500
cityscapes/cps/train.txt 2975
cityscapes/cps/train_val.txt 3475
cityscapes/cps/test.txt 1525
EOF
# Every installed file is covered by one of the two tables.
nwant=$(( $(grep -c . "$SG_TMP/splits.want") * 2 + $(grep -c . "$SG_TMP/lists.want") ))
[ "$nwant" -eq "$npins" ] || bad "count tables cover $nwant files, SHA256SUMS pins $npins"
d=$SG_TMP/splits
while read -r dir nl nu nover; do
    out=$("$sgdata" check-split --style "$(style_of "$dir")" "$d/$dir" 2>"$SG_TMP/problems") || true
    set -- $out
    [ "${1:-}" = "$nl" ] && [ "${2:-}" = "$nu" ] || bad "$dir: $out, want $nl labeled + $nu unlabeled"
    got=$(grep -c . "$SG_TMP/problems" || true)
    [ "$got" -eq "$nover" ] || bad "$dir: $got problems, want $nover: $(cat "$SG_TMP/problems")"
    [ "$nover" -eq 0 ] || grep -q "is also unlabeled" "$SG_TMP/problems" || bad "$dir: overlap not found"
done <"$SG_TMP/splits.want"
while read -r file n; do
    out=$("$sgdata" count --style "$(style_of "$file")" "$d/$file") || bad "$file does not parse"
    [ "${out%%	*}" = "$n" ] || bad "$file: ${out%%	*} records, want $n"
done <"$SG_TMP/lists.want"

# The classic split's ids are the same in both families (splits/README.md).
sed 's|^JPEGImages/\([^.]*\)\.jpg .*|\1|' "$d/pascal/unimatch/92/labeled.txt" | tr -d '\r' | sort >"$SG_TMP/a"
tr -d '\r' <"$d/pascal/u2pl/92/labeled.txt" | grep . | sort >"$SG_TMP/b"
cmp -s "$SG_TMP/a" "$SG_TMP/b" || bad "unimatch/pascal/92 and u2pl/pascal/92 differ"

[ "$fail" -eq 0 ] && echo "splits reference: $nref files parsed, $npins pins verified, counts and overlaps as expected"
exit "$fail"
