# Sourced by the shell tests: strict mode, C locale, a private temp dir that
# is removed on exit (tests never write outside it, so `make -j check` is safe).
set -eu
LC_ALL=C
export LC_ALL
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
SG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/semiseg-test.XXXXXX")
trap 'rm -rf "$SG_TMP"' EXIT
