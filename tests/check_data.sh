#!/bin/sh
# check_data.sh: `sg-data check` (the dataset check) on a small
# synthetic VOC-format dataset. The clean copy has no problem and exits 0;
# a copy damaged in eleven ways (missing image, missing mask, mask of the
# wrong size, label 37, truncated image, RGB mask, image that is not an
# image, labeled/unlabeled overlap, duplicate line, val line naming missing
# files) gets every problem listed, each with its list file and line, in
# one run, and a non-zero exit.
. "$(dirname "$0")/setup.sh"

bindir=${top_builddir:-.}/tools
[ -x "$bindir/sg-data" ] || bindir=$(dirname "$0")/../tools
for p in sg-data sg-demo-data; do
    [ -x "$bindir/$p" ] || { echo "tools/$p not built"; exit 1; }
done
r=$SG_TMP/demo
"$bindir/sg-demo-data" --out "$r" --train 12 --val 4 --splits "$r/splits" --labeled 3 >/dev/null 2>&1 ||
    { echo "sg-demo-data failed"; exit 1; }
check() {
    "$bindir/sg-data" check --dataset voc --root "$r" --split "$r/splits/3" --list "$r/splits/val.txt" \
        >"$SG_TMP/out" 2>"$SG_TMP/err"
}
fail=0
bad() { echo "FAIL: $*"; fail=1; }

check || bad "clean dataset: exit $?: $(cat "$SG_TMP/out" "$SG_TMP/err")"
[ ! -s "$SG_TMP/out" ] || bad "clean dataset: problems listed: $(cat "$SG_TMP/out")"
grep -q "0 problems" "$SG_TMP/err" || bad "clean dataset: no '0 problems' summary"

lab=$r/splits/3/labeled.txt
unl=$r/splits/3/unlabeled.txt
val=$r/splits/val.txt
img() { sed -n "${2}p" "$1" | cut -d' ' -f1; }  # image path of line $2
msk() { sed -n "${2}p" "$1" | cut -d' ' -f2; }  # mask path of line $2

# 1x1 PNGs (8-bit, zlib level 9): gray 0, gray 37, RGB (16, 32, 48).
gray0='\211\120\116\107\015\012\032\012\000\000\000\015\111\110\104\122\000\000\000\001\000\000\000\001\010\000\000\000\000\072\176\233\125\000\000\000\012\111\104\101\124\170\332\143\140\000\000\000\002\000\001\345\047\336\374\000\000\000\000\111\105\116\104\256\102\140\202'
gray37='\211\120\116\107\015\012\032\012\000\000\000\015\111\110\104\122\000\000\000\001\000\000\000\001\010\000\000\000\000\072\176\233\125\000\000\000\012\111\104\101\124\170\332\143\120\005\000\000\047\000\046\206\005\333\175\000\000\000\000\111\105\116\104\256\102\140\202'
rgb='\211\120\116\107\015\012\032\012\000\000\000\015\111\110\104\122\000\000\000\001\000\000\000\001\010\002\000\000\000\220\167\123\336\000\000\000\014\111\104\101\124\170\332\143\020\120\060\000\000\000\244\000\141\012\233\256\336\000\000\000\000\111\105\116\104\256\102\140\202'

# Each damage hits a different sample; "pattern|list:line" is what must be listed.
rm "$r/$(img "$lab" 1)"
echo "image not found|labeled.txt:1:" >"$SG_TMP/want"
rm "$r/$(msk "$unl" 1)"
echo "mask not found|unlabeled.txt:1:" >>"$SG_TMP/want"
printf "$gray0" >"$r/$(msk "$unl" 2)"
echo "mask is 1x1 (w x h) but the image|unlabeled.txt:2:" >>"$SG_TMP/want"
printf "$rgb" >"$r/$(img "$unl" 3)"
printf "$gray37" >"$r/$(msk "$unl" 3)"
echo "label 37 at (x 0, y 0) is not a class of this 21-class dataset|unlabeled.txt:3:" >>"$SG_TMP/want"
head -c 200 "$r/$(img "$unl" 4)" >"$SG_TMP/cut" && mv "$SG_TMP/cut" "$r/$(img "$unl" 4)"
echo "truncated PNG (the file ends early)|unlabeled.txt:4:" >>"$SG_TMP/want"
printf "$rgb" >"$r/$(msk "$unl" 5)"
echo "a mask must be a palette or 8-bit gray PNG, this one is 8-bit RGB|unlabeled.txt:5:" >>"$SG_TMP/want"
echo "not an image" >"$r/$(img "$val" 1)"
echo "neither a PNG nor a JPEG|val.txt:1:" >>"$SG_TMP/want"
sed -n 2p "$lab" >>"$unl"
echo "is also unlabeled|labeled.txt:2:" >>"$SG_TMP/want"
sed -n 3p "$lab" >>"$lab"
echo "listed again (first at line 3)|labeled.txt:4:" >>"$SG_TMP/want"
printf 'JPEGImages/gone.jpg SegmentationClass/gone.png\n' >>"$val"
echo "gone.jpg: image not found|val.txt:5:" >>"$SG_TMP/want"
echo "gone.png: mask not found|val.txt:5:" >>"$SG_TMP/want"

rc=0
check || rc=$?
[ "$rc" -eq 1 ] || bad "damaged dataset: exit $rc, want 1"
nwant=$(grep -c . "$SG_TMP/want")
ngot=$(grep -c . "$SG_TMP/out" || true)
[ "$ngot" -eq "$nwant" ] || bad "damaged dataset: $ngot problems listed, want $nwant"
grep -q "^sg-data check: $nwant problems" "$SG_TMP/err" || bad "summary: $(cat "$SG_TMP/err")"
while IFS='|' read -r what where; do
    grep -F "$where" "$SG_TMP/out" | grep -qF "$what" || bad "not listed: '$what' at $where"
done <"$SG_TMP/want"
# --help succeeds with the usage on stdout; an unknown dataset kind is named.
"$bindir/sg-data" --help > "$SG_TMP/help" 2>&1 && grep -q '^usage: sg-data count' "$SG_TMP/help" ||
    bad "sg-data --help: $(cat "$SG_TMP/help")"
rc=0
"$bindir/sg-data" check --dataset bogus --root "$SG_TMP" --split "$SG_TMP" > /dev/null 2> "$SG_TMP/e2" || rc=$?
[ $rc = 2 ] && grep -q -- "--dataset bogus: expected voc, cityscapes or list" "$SG_TMP/e2" ||
    bad "sg-data check --dataset bogus: $(cat "$SG_TMP/e2")"
if [ "$fail" -ne 0 ]; then
    echo "--- sg-data check output:"
    cat "$SG_TMP/out"
fi
exit "$fail"
