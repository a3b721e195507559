#!/bin/sh
# IVS_SYNCD_BIN for `make valgrind`: the real daemon under valgrind; any error or a
# definite leak makes it exit 99, which the tests' exit-status checks catch.
dir=${VALGRIND_LOG_DIR:-/tmp/ivs-syncd-valgrind}
mkdir -p "$dir"
exec valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite \
  --show-leak-kinds=definite --error-exitcode=99 --log-file="$dir/vg.%p.log" \
  "${IVS_SYNCD_REAL_BIN:-$(dirname "$0")/../../build/ivs-syncd}" "$@"
