#!/bin/sh
# sg-report end to end on the fixture grid of tests/data/report (README.md there
# has the expected numbers worked out by hand): summary.csv means and sample
# sds, the paired 95% interval to supervised, the Markdown table with the
# published number beside ours, the missing run and the run without a
# directory flagged, supervised-scratch listed right after supervised with
# supervised's README shown once, the gain figure's y range (cut 10 points
# beyond the extreme means, said in its caption) and the x offsets of the
# methods sharing a protocol (both label-count figures),
# the PNG figures (gnuplot; per-class bars
# named by the configs' data.class_names), the pretraining figure's seed-mean
# curves (and no such figure without supervised-scratch runs), the
# qualitative figures of the smallest and the largest protocol (from
# tests/eval_helper checkpoints through sg-eval) and, when pdflatex exists,
# report.pdf with the numbers in its text. Rows with held-out test values
# are reported on test (summary.csv's evaluated_on says which); a file
# mixing rows with and without them is refused. Bad input exits non-zero.
# Exit 77 only when gnuplot (the figures) or pdflatex (the PDF) is missing,
# after every check that does not need it has passed.
. "${top_srcdir:-.}/tests/setup.sh"
bin=${top_builddir:-.}
fx="$top_srcdir/tests/data/report"
base="$SG_TMP/base"
runs="$SG_TMP/runs"
out="$SG_TMP/reports/demo"
mkdir -p "$base/splits/demo" "$runs"

# The data the configs point at (relative to --base), 2 val images for the figure.
"$bin/tools/sg-demo-data" --out "$base/data/demo" --train 1 --val 2 --test 0 >/dev/null
head -n 2 "$top_srcdir/splits/demo/val.txt" > "$base/splits/demo/val.txt"

# Run directories: every row's but supervised/96/seed2; fixmatch/96/seed2 stops at 12 of 20.
mkrun() { # method protocol seed last_iter finished [gflop_per_iter [eval_base]]: eval mIoU = eval_base + iteration
    d="$runs/demo/$2/$1/seed$3"
    mkdir -p "$d/ckpt"
    cp "$fx/config.resolved" "$d/config.resolved"
    awk -v n="$4" 'BEGIN { printf "iter\tepoch\tlr\tloss\tmask_ratio\timages_per_s\n";
        for (i = 1; i <= n; i++) printf "%d\t0\t0.01\t%.6f\tnan\t100\n", i, 2.0 / i }' > "$d/log.tsv"
    awk -v n="$4" -v b="${7:-20}" 'BEGIN { printf "iter\tepoch\tmiou\tpixel_acc\n";
        for (i = 10; i <= n; i += 10) printf "%d\t0\t%.4f\t50\n", i, b + i }' > "$d/eval.tsv"
    if [ "$5" = 1 ]; then
        printf '{\n  "method": "%s",\n  "machine": "fixture-host",\n  "gflop_per_iter": %s,\n  "cpu_s": 1800\n}\n' \
            "$1" "${6:-250}" > "$d/result.json"
    fi
}
for s in 0 1 2; do
    mkrun supervised 24 $s 20 1
    mkrun fixmatch 24 $s 20 1 750
done
mkrun supervised 96 0 20 1
mkrun supervised 96 1 20 1
mkrun fixmatch 96 0 20 1 750
mkrun fixmatch 96 1 20 1 750
mkrun fixmatch 96 2 12 0
# supervised-scratch at the smallest protocol only; seed K evaluates 10 + 2K +
# iteration, and seed 2 lost its evaluation at iteration 10 (README.md: the
# pretraining figure's means per iteration).
for s in 0 1 2; do
    mkrun supervised-scratch 24 $s 20 1 250 $((10 + 2 * s))
done
e="$runs/demo/24/supervised-scratch/seed2/eval.tsv"
awk -F '\t' '$1 != 10' "$e" > "$e.tmp" && mv "$e.tmp" "$e"
# Seed 0 checkpoints of the smallest and the largest protocol, for the qualitative figures.
"$bin/tests/eval_helper" checkpoint "$runs/demo/24/supervised/seed0/ckpt/last.safetensors" 7 1
"$bin/tests/eval_helper" checkpoint "$runs/demo/24/supervised-scratch/seed0/ckpt/last.safetensors" 7 3
"$bin/tests/eval_helper" checkpoint "$runs/demo/24/fixmatch/seed0/ckpt/last.safetensors" 7 2
"$bin/tests/eval_helper" checkpoint "$runs/demo/96/supervised/seed0/ckpt/last.safetensors" 7 1
"$bin/tests/eval_helper" checkpoint "$runs/demo/96/fixmatch/seed0/ckpt/last.safetensors" 7 2

report() {
    "$bin/tools/sg-report" --results "$fx/results.csv" --runs "$runs" --out "$out" \
        --published "$fx/published.csv" --experiments "$top_srcdir/experiments" --base "$base" \
        --sg-eval "$bin/tools/sg-eval" --qualitative 2 "$@"
}
if command -v pdflatex >/dev/null 2>&1; then pdf=--pdf; else pdf=--no-pdf; fi
report $pdf 2> "$SG_TMP/stderr.txt" || { echo "sg-report failed:"; cat "$SG_TMP/stderr.txt"; exit 1; }

fail() { echo "FAIL: $*"; exit 1; }
has() { # file line: the exact line must be present
    grep -qxF -- "$2" "$1" || { echo "$1 lacks the line:"; echo "  $2"; echo "it holds:"; cat "$1"; exit 1; }
}

# summary.csv: 4 decimals, written from the means and sds of README.md.
s="$out/summary.csv"
head -n 1 "$s" | grep -q '^method,protocol,n_labeled,n_seeds,n_missing,final_miou_mean,final_miou_std,best_miou_mean,best_miou_std,' ||
    fail "summary.csv header: $(head -n 1 "$s")"
[ "$(wc -l < "$s")" = 7 ] || fail "summary.csv: expected 6 rows (3 methods x 2 protocols)"
has "$s" 'supervised,24,24,3,0,32.0000,2.0000,33.0000,2.0000,100.0000,250.0000,1.5000,1.5000,50,"Fixture source, not a paper",val'
has "$s" 'supervised,96,96,3,0,41.0000,1.0000,42.0000,1.0000,120.0000,250.0000,1.5000,nan,,,val'
has "$s" 'supervised-scratch,24,24,3,0,27.0000,2.6458,28.0000,2.0000,100.0000,250.0000,1.5000,1.5000,,,val'
# supervised-scratch comes right after supervised (by name it would sort after fixmatch).
[ "$(sed -n 4p "$s" | cut -d, -f1,2)" = supervised-scratch,24 ] || fail "summary.csv row 3 is not supervised-scratch,24: $(sed -n 4p "$s")"
has "$s" 'fixmatch,24,24,3,0,37.0000,1.7321,39.0000,1.7321,200.0000,750.0000,3.0000,1.5000,,,val'
has "$s" 'fixmatch,96,96,2,1,46.5000,2.1213,47.5000,2.1213,220.0000,750.0000,2.0000,1.0000,,,val'

# diff.csv: paired by seed, t(0.975, n - 1) interval.
d="$out/diff.csv"
has "$d" 'fixmatch,24,3,0 1 2,5.0000,-1.5725,11.5725,6.0000,3.5158,8.4842'
has "$d" 'fixmatch,96,2,0 1,5.5000,-0.8531,11.8531,5.5000,-0.8531,11.8531'
has "$d" 'supervised-scratch,24,3,0 1 2,-5.0000,-7.4842,-2.5158,-5.0000,-5.0000,-5.0000'

# Markdown: our numbers beside the published one, the interval, the flags.
m="$out/results.md"
has "$m" '| supervised | 24 | 24 | 3 | 32.00 ± 2.00 | 33.00 ± 2.00 | 50.00 [1] |'
has "$m" '| fixmatch | 96 | 96 | 2 (1 missing) | 46.50 ± 2.12 | 47.50 ± 2.12 | – |'
has "$m" '| fixmatch | 24 | 3 (0 1 2) | +5.00 [-1.57, +11.57] | +6.00 [+3.52, +8.48] |'
has "$m" '- MISSING fixmatch / 96 / seed 2: incomplete or failed: log.tsv ends at iteration 12 of 20, no result.json'
grep -q '^- NOTE .*supervised / 96 / seed 2 has no run directory' "$m" || fail "the row without a run directory is not flagged"
grep -q '^\[1\] Fixture source, not a paper' "$m" || fail "the published source is not cited"
has "$out/table.md" '| supervised | 32.00 ± 2.00 | 41.00 ± 1.00 |'
# Cost: GFLOP/iter and CPU seconds from result.json; supervised/96/seed2 has
# a row but no run directory, so its CPU hours are n/a (wall hours come from
# results.csv) while its GFLOP/iter is the other seeds'.
has "$out/results.md" '| supervised | 24 | 20 | 100.0 | 250.00 | 5.0 | 1.500 | 1.500 |'
has "$out/results.md" '| supervised | 96 | 20 | 120.0 | 250.00 | 5.0 | n/a | 1.500 |'
has "$out/results.md" '| fixmatch | 24 | 20 | 200.0 | 750.00 | 15.0 | 1.500 | 3.000 |'
grep -q 'missing or failed' "$SG_TMP/stderr.txt" || fail "no message about the missing run on stderr"
if grep -q 'runtime error' "$SG_TMP/stderr.txt"; then cat "$SG_TMP/stderr.txt"; fail "UBSan reported an error"; fi

# LaTeX: booktabs tables, the README sections, the provenance.
grep -q '\\toprule' "$out/tables.tex" || fail "tables.tex has no booktabs rule"
grep -qF '$32.00 \pm 2.00$' "$out/tables.tex" || fail "tables.tex lacks 32.00 +- 2.00"
# supervised's README once (supervised-scratch shares it), and a section for supervised-scratch pointing there.
title=$(sed -n '1s/^# //p' "$top_srcdir/experiments/supervised/README.md")
[ "$(grep -cxF "\\section{$title}" "$out/report.tex")" = 1 ] ||
    fail "report.tex holds the supervised README $(grep -cxF "\\section{$title}" "$out/report.tex") times, expected once"
grep -qx '\\section{supervised-scratch}' "$out/report.tex" || fail "report.tex lacks the supervised-scratch section"
grep -q '^M1: fixture-host' "$out/report.tex" || fail "report.tex lacks the machine of result.json (M1)"
grep -q '0123456789ab' "$out/report.tex" || fail "report.tex lacks the git commit (12 digits)"

# With a held-out test set (both test columns in every row) the tables report
# the test values: here test final = val final + 10, test best = val best - 5.
awk -F, -v OFS=, 'NR == 1 { print $0, "test_final_miou", "test_best_miou"; next }
                  { print $0, sprintf("%.4f", $7 + 10), sprintf("%.4f", $8 - 5) }' "$fx/results.csv" > "$SG_TMP/test.csv"
"$bin/tools/sg-report" --results "$SG_TMP/test.csv" --runs "$runs" --out "$SG_TMP/ot" --no-pdf --qualitative 0 \
    --published "$fx/published.csv" 2> /dev/null || fail "sg-report on a results.csv with test values"
has "$SG_TMP/ot/summary.csv" 'supervised,24,24,3,0,42.0000,2.0000,28.0000,2.0000,100.0000,250.0000,1.5000,1.5000,50,"Fixture source, not a paper",test'
grep -q 'on the held-out test set' "$SG_TMP/ot/results.md" || fail "results.md does not say the numbers are on test"
# ... and a results.csv mixing rows with and without test values is refused.
awk -F, -v OFS=, 'NR == 1 { print $0, "test_final_miou", "test_best_miou"; next }
                  NR == 2 { print $0, "1", "2"; next } { print $0, "", "" }' "$fx/results.csv" > "$SG_TMP/mixed.csv"
if "$bin/tools/sg-report" --results "$SG_TMP/mixed.csv" --runs "$runs" --out "$SG_TMP/om" --no-pdf 2> "$SG_TMP/err_m.txt"; then
    fail "a results.csv mixing test and no-test rows was accepted"
fi
grep -q 'mixed.csv:3: rows with and without a test set' "$SG_TMP/err_m.txt" || fail "mixed rows: $(cat "$SG_TMP/err_m.txt")"

# A sparse grid (--only): unimatch, named by --methods, never ran; without
# --only its 6 cells and supervised-scratch's 3 at protocol 96 are missing,
# with --only 96=supervised,fixmatch only unimatch's 3 of protocol 24
# (fixmatch/96 ran: a cell with data is always reported).
"$bin/tools/sg-report" --results "$fx/results.csv" --runs "$runs" --out "$SG_TMP/os1" --no-pdf --qualitative 0 \
    --methods supervised,fixmatch,unimatch 2> /dev/null || fail "sg-report --methods"
"$bin/tools/sg-report" --results "$fx/results.csv" --runs "$runs" --out "$SG_TMP/os2" --no-pdf --qualitative 0 \
    --methods supervised,fixmatch,unimatch --only 96=supervised,fixmatch 2> /dev/null || fail "sg-report --only"
grep -q '^14 of 24 expected runs' "$SG_TMP/os1/results.md" || fail "full grid: $(grep 'expected runs' "$SG_TMP/os1/results.md")"
grep -q '^14 of 18 expected runs' "$SG_TMP/os2/results.md" || fail "sparse grid: $(grep 'expected runs' "$SG_TMP/os2/results.md")"
grep -q 'MISSING unimatch / 96' "$SG_TMP/os2/results.md" && fail "a cell outside the sparse grid is listed missing"
grep -q 'MISSING unimatch / 24 / seed 0' "$SG_TMP/os2/results.md" || fail "unimatch / 24 not listed missing"
grep -q '^| unimatch | .* | not run |$' "$SG_TMP/os2/table.md" || fail "table.md: $(grep unimatch "$SG_TMP/os2/table.md")"
grep -q '^fixmatch,96,' "$SG_TMP/os2/summary.csv" || fail "a cell with data dropped from the sparse grid"
grep -q '^unimatch,96,' "$SG_TMP/os2/summary.csv" && fail "summary.csv has a cell outside the grid"

# Bad input: a runtime error names the file and exits 1; a usage error exits 2.
printf 'method,seed\nx,1\n' > "$SG_TMP/bad.csv"
set +e
"$bin/tools/sg-report" --results "$SG_TMP/bad.csv" --runs "$runs" --out "$SG_TMP/o2" --no-pdf 2> "$SG_TMP/err.txt"
rc=$?
"$bin/tools/sg-report" --help > "$SG_TMP/help.txt" 2>&1 && grep -q '^usage: sg-report' "$SG_TMP/help.txt" ||
    fail "sg-report --help must print the usage and exit 0"
"$bin/tools/sg-report" --results "$fx/results.csv" --colour red 2> /dev/null
rc2=$?
set -e
[ $rc = 1 ] || fail "a results.csv without the needed columns must exit 1 (got $rc)"
grep -q 'bad.csv:1' "$SG_TMP/err.txt" || fail "the error does not name bad.csv:1: $(cat "$SG_TMP/err.txt")"
[ $rc2 = 2 ] || fail "an unknown option must exit 2 (got $rc2)"

# Figures: need gnuplot.
command -v gnuplot >/dev/null 2>&1 || { echo "SKIP: gnuplot not installed (figures not checked)"; exit 77; }
png_size() { # width height of a PNG, from its IHDR chunk
    od -An -tu1 -j16 -N8 "$1" | awk '{ printf "%d %d\n", $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8 }'
}
grep -q '^# training TFLOP per run' "$out/fig/data/miou_vs_compute_fixmatch.dat" || fail "compute plot not in TFLOP"
grep -q '^"hstripe-disk"	' "$out/fig/data/per_class_24.dat" || fail "per-class figure lacks data.class_names"
# (the last column, the x it is drawn at: fixmatch is the only method there, so on 24)
grep -q '^24	5.0000	-1.5725	11.5725	3	24	24.0000$' "$out/fig/data/gain_vs_labeled_fixmatch.dat" ||
    fail "gain figure data: $(cat "$out/fig/data/gain_vs_labeled_fixmatch.dat")"
grep -q "set xtics (24, 96)" "$out/fig/figures.gp" || fail "the label-count figures lack x tics at 24 and 96"
# mIoU vs labels: supervised is the first of three methods at 24 (supervised,
# supervised-scratch, fixmatch) and of two at 96: drawn at 2^-0.035 x 24 and 2^-0.0175 x 96.
grep -q '^24	.*	23.4248$' "$out/fig/data/miou_vs_labeled_supervised.dat" &&
    grep -q '^96	.*	94.8425$' "$out/fig/data/miou_vs_labeled_supervised.dat" ||
    fail "mIoU figure data: $(cat "$out/fig/data/miou_vs_labeled_supervised.dat")"
# The gain figure's y range: here it holds every interval whole (fixmatch's
# [-1.57, 11.57] at 24 and [-0.85, 11.85] at 96, plus one point of margin)...
gain_yrange() { awk '/^set output .gain_vs_labeled.png./ { g = 1 } g && /^set yrange/ { print; exit }' "$1"; }
[ "$(gain_yrange "$out/fig/figures.gp")" = "set yrange [-2.57:12.85]" ] ||
    fail "gain figure: $(gain_yrange "$out/fig/figures.gp"), expected [-2.57:12.85]"
grep -q 'cut at the plot' "$out/report.tex" && fail "the gain caption says intervals are cut where none is"
# ... and with a second method whose seed 0 collapsed (paired differences -60,
# +7, +2 at 24: mean -17, interval [-109.7, 75.7]) the range stops 10 points
# beyond the extreme means (-17 and fixmatch's 5.5) and the caption says so;
# the two methods are drawn at two offsets centred on 24 (2^(-+0.0175) x 24: 23.7106, 24.2929),
# fixmatch alone on 96.
awk -F, -v OFS=, '{ print } $1 == "fixmatch" && $3 == 24 { $1 = "unimatch"; if ($5 == 0) $7 = "-30.0000"; print }' \
    "$fx/results.csv" > "$SG_TMP/wide.csv"
"$bin/tools/sg-report" --results "$SG_TMP/wide.csv" --runs "$runs" --out "$SG_TMP/ow" --no-pdf --qualitative 0 \
    2> /dev/null || fail "sg-report on a results.csv with a collapsed seed"
[ "$(gain_yrange "$SG_TMP/ow/fig/figures.gp")" = "set yrange [-28.00:16.50]" ] ||
    fail "gain figure with a collapsed seed: $(gain_yrange "$SG_TMP/ow/fig/figures.gp"), expected [-28.00:16.50]"
grep -q 'cut at the plot' "$SG_TMP/ow/report.tex" || fail "the gain caption does not say an interval is cut"
grep -q '^24	-17.0000	.*	24.2929$' "$SG_TMP/ow/fig/data/gain_vs_labeled_unimatch.dat" ||
    fail "gain data: $(cat "$SG_TMP/ow/fig/data/gain_vs_labeled_unimatch.dat")"
grep -q '^24	.*	23.7106$' "$SG_TMP/ow/fig/data/gain_vs_labeled_fixmatch.dat" &&
    grep -q '^96	.*	96.0000$' "$SG_TMP/ow/fig/data/gain_vs_labeled_fixmatch.dat" ||
    fail "gain data: $(cat "$SG_TMP/ow/fig/data/gain_vs_labeled_fixmatch.dat")"
grep -q "gain_vs_labeled_fixmatch.dat' using 7:2:3:4 " "$SG_TMP/ow/fig/figures.gp" ||
    fail "the gain figure does not plot the drawn x"
is_png() { # file: produced, and a PNG
    [ -s "$1" ] || fail "$1 was not produced"
    [ "$(od -An -c -j1 -N3 "$1" | tr -d ' ')" = PNG ] || fail "$1 is not a PNG"
}
for f in miou_vs_labeled gain_vs_labeled miou_vs_compute per_class_24 per_class_96 curves_supervised \
         curves_supervised-scratch curves_fixmatch pretraining qualitative qualitative_96; do
    is_png "$out/fig/$f.png"
done
# The scratch baseline is no semi-supervised method: not in the gain figure.
[ -e "$out/fig/data/gain_vs_labeled_supervised-scratch.dat" ] && fail "the gain figure draws supervised-scratch"
# The tiles: 2 rows x (image, truth, each method whose seed 0 finished) of 160
# px with 4 px gaps: supervised, supervised-scratch and fixmatch at 24; at 96
# supervised and fixmatch (supervised-scratch did not run there).
[ "$(png_size "$out/fig/data/qualitative_tiles.png")" = "824 332" ] ||
    fail "qualitative tiles are $(png_size "$out/fig/data/qualitative_tiles.png"), expected 824 332"
[ "$(png_size "$out/fig/data/qualitative_96_tiles.png")" = "660 332" ] ||
    fail "qualitative_96 tiles are $(png_size "$out/fig/data/qualitative_96_tiles.png"), expected 660 332"
[ "$(ls "$out/qual/supervised" | wc -l)" = 2 ] || fail "sg-eval wrote no supervised predictions"
[ "$(ls "$out/qual/fixmatch_96" | wc -l)" = 2 ] || fail "sg-eval wrote no fixmatch predictions at 96"
grep -q 'shown grey' "$m" && fail "a qualitative column is grey: $(grep 'shown grey' "$m")"
grep -q '!\[fig/qualitative.png\]' "$m" || fail "results.md does not show the qualitative figure"
grep -q '!\[fig/qualitative_96.png\]' "$m" || fail "results.md does not show the qualitative figure of 96"
# The pretraining figure: the seed-mean eval curves of README.md, keyed with
# the final mIoU of the tables; only protocol 24 has both methods.
p="$out/fig/data/pretraining_24_supervised.dat"
has "$p" '10	30.0000	0.0000	3'
has "$p" '20	40.0000	0.0000	3'
p="$out/fig/data/pretraining_24_supervised-scratch.dat"
has "$p" '10	21.0000	1.4142	2'
has "$p" '20	32.0000	2.0000	3'
[ -e "$out/fig/data/pretraining_96_supervised.dat" ] && fail "a pretraining panel at 96, where supervised-scratch did not run"
grep -qF "supervised-scratch: final val mIoU 27.00 ± 2.65 (3 seeds)" "$out/fig/figures.gp" ||
    fail "the pretraining key lacks supervised-scratch's final mIoU"
grep -qF "supervised: final val mIoU 32.00 ± 2.00 (3 seeds)" "$out/fig/figures.gp" ||
    fail "the pretraining key lacks supervised's final mIoU"
has "$m" '### Effect of the pretrained backbone'
grep -q '!\[fig/pretraining.png\]' "$m" || fail "results.md does not show the pretraining figure"
# Without supervised-scratch runs (rows and directories) no pretraining figure.
grep -v '^supervised-scratch,' "$fx/results.csv" > "$SG_TMP/noscratch.csv"
cp -R "$runs" "$SG_TMP/runs_ns"
rm -r "$SG_TMP/runs_ns/demo/24/supervised-scratch"
"$bin/tools/sg-report" --results "$SG_TMP/noscratch.csv" --runs "$SG_TMP/runs_ns" --out "$SG_TMP/ons" --no-pdf \
    --qualitative 0 2> /dev/null || fail "sg-report without supervised-scratch"
is_png "$SG_TMP/ons/fig/curves_supervised.png"
[ -e "$SG_TMP/ons/fig/pretraining.png" ] && fail "a pretraining figure without supervised-scratch runs"
grep -q 'pretrain' "$SG_TMP/ons/results.md" "$SG_TMP/ons/fig/figures.gp" && fail "the pretraining figure is referenced without supervised-scratch runs"

# The PDF: needs pdflatex (and pdftotext to read it back).
[ $pdf = --pdf ] || { echo "SKIP: pdflatex not installed (report.pdf not checked)"; exit 77; }
[ -s "$out/report.pdf" ] || fail "report.pdf was not produced"
command -v pdftotext >/dev/null 2>&1 || { echo "SKIP: pdftotext not installed (report.pdf text not checked)"; exit 77; }
pdftotext "$out/report.pdf" "$SG_TMP/report.txt"
grep -q '32.00 ± 2.00' "$SG_TMP/report.txt" || fail "report.pdf lacks 32.00 ± 2.00"
grep -q 'MISSING fixmatch / 96 / seed 2' "$SG_TMP/report.txt" || fail "report.pdf does not flag the missing run"
grep -q 'Effect of the pretrained backbone' "$SG_TMP/report.txt" || fail "report.pdf lacks the pretraining figure's heading"
exit 0
