#!/usr/bin/env bash
# The prediction log's id index cost (bench/feedback/logkeys.c) against the
# release build's objects: bench/feedback/logkeys.sh [requests] [rounds]
set -euo pipefail
cd "$(dirname "$0")/../.."
make -s build/rel/capstan
objs=$(ls build/rel/base/*.o build/rel/store/*.o build/rel/track/*.o)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -std=c17 -D_GNU_SOURCE -O2 -I. -Iinclude $(pkg-config --cflags libcjson sqlite3) \
   -o "$tmp/logkeys" bench/feedback/logkeys.c $objs \
   $(pkg-config --libs libcjson sqlite3 libcurl openssl) -lpthread -lm
"$tmp/logkeys" "${1:-1000000}" "${2:-3}"
