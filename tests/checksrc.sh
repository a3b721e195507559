#!/bin/sh
# Bans what curl's CODE_STYLE bans: unbounded string functions.
set -eu
bad=$(grep -nE '\b(sprintf|vsprintf|strcpy|strcat|gets|strtok)\s*\(' src/*.c include/*.h || true)
if [ -n "$bad" ]; then
	echo "checksrc: banned function:" >&2
	echo "$bad" >&2
	exit 1
fi
