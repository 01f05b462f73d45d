#!/bin/sh
# Python's own web server on a free loopback port, serving DIR; curl fetches one page; the server is stopped.
# Usage: http_fetch.sh DIR PYTHON
dir=$1 python=$2
"$python" -u -m http.server --bind 127.0.0.1 --directory "$dir" 0 > "$dir/server.out" 2>/dev/null &
server=$!
tries=0
until port=$(sed -n 's/.* port \([0-9]*\) .*/\1/p' "$dir/server.out") && [ -n "$port" ]; do
    tries=$((tries + 1))
    if [ $tries -gt 200 ]; then kill $server; exit 3; fi  # 10 s: it never said its port
    sleep 0.05
done
curl -s "http://127.0.0.1:$port/page.html"
status=$?
kill $server
wait $server
exit $status
