#!/bin/sh
# OpenBSD netcat on both sides of a Unix socket in DIR: a listener that prints what it gets, and a client
# that sends one line and shuts its side down (-N), so that the listener sees end of file.
# Usage: nc_unix.sh DIR
dir=$1
nc -lU "$dir/sock" &
listener=$!
tries=0
until [ -S "$dir/sock" ]; do
    tries=$((tries + 1))
    if [ $tries -gt 200 ]; then kill $listener; exit 3; fi  # 10 s: it never listened
    sleep 0.05
done
printf 'hello over nc\n' | nc -NU "$dir/sock"
wait $listener
