#!/bin/sh
# The generated header sg_commit.h is a prerequisite of the object that
# includes it (src/run/run.c), not only a BUILT_SOURCES entry: BUILT_SOURCES
# are made first by `make all` and `make check` alone, so on a fresh build
# tree `./configure && make reproduce-demo` (which builds the programs it
# runs through reports/grid.mk's grid-programs) compiled run.c before the
# header existed and stopped. `make -n` of the object must print the
# header's recipe (it is remade on every make: FORCE).
. "${top_srcdir:-.}/tests/setup.sh"
bin=${top_builddir:-.}
make --version 2>/dev/null | grep -q "GNU Make" || { echo "GNU make not found: skipped"; exit 77; }
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
make -n -C "$bin" src/run/run.o > "$SG_TMP/plan" 2>&1 || { cat "$SG_TMP/plan"; exit 1; }
grep -q "SG_BUILD_COMMIT" "$SG_TMP/plan" || { echo "src/run/run.o does not depend on sg_commit.h:"; cat "$SG_TMP/plan"; exit 1; }
exit 0
