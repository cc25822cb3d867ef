#!/bin/sh
# The generated header sg_commit.h is a prerequisite of the object that
# includes it (src/run/run.c), not only a BUILT_SOURCES entry: BUILT_SOURCES
# are made first by `make all` and `make check` alone, so on a fresh build
# tree `./configure && make reproduce-demo` (which builds the programs it
# runs through reports/grid.mk's grid-programs) compiled run.c before the
# header existed and stopped. A built tree cannot show this (its dependency
# files name the header after the first compile), so the test configures a
# fresh one, from a copy of what configure and make read (timestamps kept:
# nothing regenerates), and `make -n src/run/run.o` there must print the
# header's recipe.
. "${top_srcdir:-.}/tests/setup.sh"
make --version 2>/dev/null | grep -q "GNU Make" || { echo "GNU make not found: skipped"; exit 77; }
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
s=$SG_TMP/src
b=$SG_TMP/build
mkdir -p "$s/src/run" "$s/src/core" "$s/reports" "$s/tests/fuzz" "$b"
for f in configure configure.ac aclocal.m4 Makefile.am Makefile.in config.h.in reports/grid.mk tests/fuzz/fuzz.mk \
    src/core/tensor.c src/run/run.c; do
    cp -p "$top_srcdir/$f" "$s/$f" || exit 1
done
cp -pR "$top_srcdir/build-aux" "$s/" || exit 1
# m4/ holds no file of this project (git and the tarball leave it out).
[ ! -d "$top_srcdir/m4" ] || cp -pR "$top_srcdir/m4" "$s/" || exit 1
(cd "$b" && "$s/configure" --without-cuda) > "$SG_TMP/configure.log" 2>&1 || { tail -n 20 "$SG_TMP/configure.log"; exit 1; }
make -n -C "$b" src/run/run.o > "$SG_TMP/plan" 2>&1 || { cat "$SG_TMP/plan"; exit 1; }
grep -q "SG_BUILD_COMMIT" "$SG_TMP/plan" || { echo "src/run/run.o does not depend on sg_commit.h:"; cat "$SG_TMP/plan"; exit 1; }
exit 0
