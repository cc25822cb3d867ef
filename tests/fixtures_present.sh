#!/bin/sh
# Every fixture a test reads is committed, non-empty and carries the fixture
# magic and the version tests/fixture.c reads, so a missing `git add` or a
# stale regeneration shows up here by name rather than as a crash elsewhere.
# The fixtures stay small: one-iteration tests of tiny models, about 0.2-0.4
# MB per method (AllSpark's whole SegFormer step, 0.9 MB, the largest), within
# 6 MiB for the ten methods and the op groups together.
. "${top_srcdir:-.}/tests/setup.sh"
status=0
for name in conv norm elementwise resize layout ops_extra loss ohem linear optim train_tiny model augment semi \
    classmix u2pl ctt dssn intensity transformer mit allspark_module allspark allspark_deeplab region uccl; do
    f="$top_srcdir/tests/data/$name.bin"
    if [ ! -s "$f" ]; then
        echo "missing fixture $f (HINT: make fixtures, then git add tests/data)"; status=1; continue
    fi
    head=$(od -A n -t x1 -N 8 "$f" | tr -d ' \n')
    if [ "$head" != "5347465801000000" ]; then
        echo "$f: bad magic/version ($head); regenerate with tests/ref/gen_$name.py"; status=1
    fi
done
total=$(cat "$top_srcdir"/tests/data/*.bin 2>/dev/null | wc -c)
echo "fixtures: $total bytes"
if [ "$total" -gt 6291456 ]; then echo "fixtures exceed 6 MiB"; status=1; fi
exit $status
