#!/bin/sh
# The experiment grid (reports/grid.mk + tools/grid.sh) resumes: a tiny demo
# grid (supervised and fixmatch x one protocol x two seeds, 4 iterations on
# 40 synthetic images) is run by reports/grid.mk alone, outside the build
# tree, with every directory in $SG_TMP. First an interrupted grid: the two
# supervised cells finish, and the fixmatch seed-0 run is killed (SIGKILL)
# after its checkpoint at iteration 2, which fails make with the cell's log
# path and leaves it not done. Restarting the whole grid with -j2 then runs
# only the missing cells (fixmatch seed 0, resumed at iteration 2, and
# fixmatch seed 1): the finished cells' result.json and grid.log are not
# touched, and results.csv holds exactly one row per run. A third make runs
# nothing. `make reproduce-demo` without -j runs DEMO_JOBS cells at a time and
# builds the report; with -j1 it stays serial. The data check reports a
# missing image. The default demo grid is sparse (every method at the
# smallest protocol only), GRID=full is not, another GRID is refused. The
# pretraining stage is off here (DEMO_PRETRAINED empty: every cell from
# scratch); tests/pretrain.sh runs it and a grid cell that loads it.
. "${top_srcdir:-.}/tests/setup.sh"
bin=$(cd "${top_builddir:-.}" && pwd)
make --version 2>/dev/null | grep -q "GNU Make" || { echo "GNU make not found: skipped"; exit 77; }
# The inner make must not inherit the outer make's flags or overrides.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES DEMO_PROTOCOLS
SG_NUM_THREADS=1
export SG_NUM_THREADS

"$bin/tools/sg-demo-data" --out "$SG_TMP/data/demo" --splits "$SG_TMP/splits" --train 40 --val 6 --test 2 --labeled 12 >/dev/null
printf '# two seeds\n0\n1\n' > "$SG_TMP/seeds"
tiny="train.iterations=4 train.batch_size=3 train.batch_size_u=3 data.crop=32 eval.interval=2 output.checkpoint_interval=2 data.workers=1"
runs=$SG_TMP/runs
g() {
    make -f "$top_srcdir/reports/grid.mk" srcdir="$top_srcdir" GRID_BIN="$bin" RUNS_DIR="$runs" \
        REPORTS_DIR="$SG_TMP/reports" DATA_DIR="$SG_TMP/data" DEMO_SPLITS="$SG_TMP/splits" \
        GRID_SEEDS_FILE="$SG_TMP/seeds" GRID_THREADS=1 GRID_METHODS="supervised fixmatch" \
        DEMO_PRETRAINED= DEMO_SCRATCH_METHODS= "$@"
}
cell=demo/12/fixmatch/seed0
starts() { grep -c "^== grid: start" "$runs/$1/grid.log"; }

# ---- the interrupted grid ----
g GRID_SET="$tiny" GRID_METHODS=supervised grid-demo > "$SG_TMP/out1" 2>&1 || { cat "$SG_TMP/out1"; exit 1; }
if g GRID_SET="$tiny debug.kill_at_iter=3" "$runs/$cell/result.json" > "$SG_TMP/out2" 2>&1; then
    echo "a killed run did not fail make"; cat "$SG_TMP/out2"; exit 1
fi
grep -q "grid: FAILED $cell (exit 137); log: $runs/$cell/grid.log" "$SG_TMP/out2" ||
    { echo "the failure does not name the log"; cat "$SG_TMP/out2"; exit 1; }
[ ! -e "$runs/$cell/result.json" ] || { echo "a killed run is marked done"; exit 1; }
[ -s "$runs/$cell/ckpt/last.safetensors" ] || { echo "no checkpoint left by the killed run"; exit 1; }
grep -q "^== grid: failed (exit 137)" "$runs/$cell/grid.log" || { echo "grid.log lacks the failure"; exit 1; }
for c in demo/12/supervised/seed0 demo/12/supervised/seed1; do
    [ -s "$runs/$c/result.json" ] || { echo "$c: not done"; cat "$SG_TMP/out1"; exit 1; }
done
[ "$(wc -l < "$SG_TMP/reports/demo/results.csv")" = 3 ] || { echo "results.csv after the first part"; exit 1; }
# Every cell's command: the driver's interface, the overrides, --resume.
grep -q -- "experiments/supervised/supervised --config $top_srcdir/experiments/supervised/demo.conf --seed-index 1 " \
    "$runs/demo/12/supervised/seed1/grid.log" || { echo "command line"; cat "$runs/demo/12/supervised/seed1/grid.log"; exit 1; }
grep -q -- "--set data.split=$SG_TMP/splits/12 .*--set train.iterations=4 .*--threads 1 --resume$" \
    "$runs/demo/12/supervised/seed1/grid.log" || { echo "overrides"; cat "$runs/demo/12/supervised/seed1/grid.log"; exit 1; }

# ---- restarted: only the missing cells run ----
touch "$SG_TMP/stamp"
g GRID_SET="$tiny" -j2 grid-demo > "$SG_TMP/out3" 2>&1 || { echo "the restarted grid failed"; cat "$SG_TMP/out3"; exit 1; }
grep "^  RUN " "$SG_TMP/out3" | sed 's/^  RUN *//' | sort > "$SG_TMP/ran"
printf '%s\n' demo/12/fixmatch/seed0 demo/12/fixmatch/seed1 > "$SG_TMP/want"
cmp -s "$SG_TMP/ran" "$SG_TMP/want" || { echo "the restart ran:"; cat "$SG_TMP/ran"; exit 1; }
(cd "$runs" && find . -name result.json -newer "$SG_TMP/stamp" | sort) > "$SG_TMP/new"
printf '%s\n' ./demo/12/fixmatch/seed0/result.json ./demo/12/fixmatch/seed1/result.json > "$SG_TMP/want"
cmp -s "$SG_TMP/new" "$SG_TMP/want" || { echo "result.json written by the restart:"; cat "$SG_TMP/new"; exit 1; }
for c in demo/12/supervised/seed0 demo/12/supervised/seed1 demo/12/fixmatch/seed1; do
    [ "$(starts $c)" = 1 ] || { echo "$c: started $(starts $c) times"; exit 1; }
done
[ "$(starts $cell)" = 2 ] || { echo "$cell: started $(starts $cell) times"; exit 1; }
grep -q "resuming .*/$cell at iteration 2 of 4" "$runs/$cell/grid.log" ||
    { echo "$cell did not resume from its checkpoint"; cat "$runs/$cell/grid.log"; exit 1; }
csv=$SG_TMP/reports/demo/results.csv
[ "$(wc -l < "$csv")" = 5 ] || { echo "results.csv: expected a header and 4 rows"; cat "$csv"; exit 1; }
[ "$(cut -d, -f1,3,5 "$csv" | sed 1d | sort -u | wc -l)" = 4 ] || { echo "results.csv: a run twice"; cat "$csv"; exit 1; }

# ---- complete: nothing runs ----
g GRID_SET="$tiny" -j2 grid-demo > "$SG_TMP/out4" 2>&1 || { cat "$SG_TMP/out4"; exit 1; }
if grep -q "^  RUN " "$SG_TMP/out4"; then echo "a finished grid ran again"; cat "$SG_TMP/out4"; exit 1; fi
grep -q "grid: demo: 4 runs done" "$SG_TMP/out4" || { cat "$SG_TMP/out4"; exit 1; }

# ---- make reproduce-demo without -j runs DEMO_JOBS cells at a time; -j1 is obeyed ----
g GRID_SET="$tiny" DEMO_JOBS=3 reproduce-demo > "$SG_TMP/out5" 2>&1 || { cat "$SG_TMP/out5"; exit 1; }
grep -q "grid: demo: no -j given: 3 runs at a time" "$SG_TMP/out5" &&
    grep -q "grid: demo: 4 runs done .*(make -j3)$" "$SG_TMP/out5" || { echo "reproduce-demo without -j"; cat "$SG_TMP/out5"; exit 1; }
[ -s "$SG_TMP/reports/demo/summary.csv" ] || { echo "reproduce-demo wrote no report"; cat "$SG_TMP/out5"; exit 1; }
g GRID_SET="$tiny" DEMO_JOBS=3 -j1 reproduce-demo > "$SG_TMP/out6" 2>&1 || { cat "$SG_TMP/out6"; exit 1; }
if grep -q "no -j given" "$SG_TMP/out6"; then echo "reproduce-demo -j1 overridden"; cat "$SG_TMP/out6"; exit 1; fi
grep -q "grid: demo: 4 runs done .*(make -j1)$" "$SG_TMP/out6" || { echo "reproduce-demo -j1"; cat "$SG_TMP/out6"; exit 1; }
[ "$(wc -l < "$csv")" = 5 ] || { echo "results.csv grew"; exit 1; }

# ---- the default demo grid is sparse: every method at the smallest protocol,
# DEMO_FULL_METHODS at the others; GRID=full runs every cell ----
lst() { g DEMO_PROTOCOLS="30 12" "$@" grid-list-demo | sort | tr '\n' ' '; }
want="demo/12/fixmatch/seed0 demo/12/fixmatch/seed1 demo/12/supervised/seed0 demo/12/supervised/seed1 "
[ "$(lst DEMO_FULL_METHODS=supervised)" = "${want}demo/30/supervised/seed0 demo/30/supervised/seed1 " ] ||
    { echo "default grid: $(lst DEMO_FULL_METHODS=supervised)"; exit 1; }
[ "$(lst GRID=full)" = "${want}demo/30/fixmatch/seed0 demo/30/fixmatch/seed1 demo/30/supervised/seed0 demo/30/supervised/seed1 " ] ||
    { echo "full grid: $(lst GRID=full)"; exit 1; }
if g GRID=most reproduce-demo > "$SG_TMP/out7" 2>&1; then echo "GRID=most accepted"; exit 1; fi
grep -q "GRID='most': expected default or full" "$SG_TMP/out7" || { cat "$SG_TMP/out7"; exit 1; }

# ---- the data check sees a missing image ----
opts="--bin $bin --demo-root $SG_TMP/data/demo --demo-splits $SG_TMP/splits"
sh "$top_srcdir/tools/grid.sh" check $opts demo > "$SG_TMP/chk" 2>&1 || { echo "check of complete data"; cat "$SG_TMP/chk"; exit 1; }
rm "$(find "$SG_TMP/data/demo/JPEGImages" -name '*.jpg' | head -n 1)"
if sh "$top_srcdir/tools/grid.sh" check $opts demo > "$SG_TMP/chk" 2>&1; then echo "a missing image passed the check"; exit 1; fi
grep -q "absent or incomplete" "$SG_TMP/chk" || { cat "$SG_TMP/chk"; exit 1; }
exit 0
