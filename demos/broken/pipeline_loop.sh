#!/bin/sh
# Broken on purpose: a shell pipeline whose end feeds its own start, through a FIFO.
#
# What it shows
#     A pipeline is a chain: each command reads what the one before it wrote.
#     Close the chain into a ring and every command waits for the one before
#     it, all the way round. Here the first cat reads the FIFO "loop", which
#     only the second cat writes (the shell opened it as that cat's stdout);
#     the second cat reads the pipe from the first, which writes only what it
#     has read. Both block in read(), and the shell waits for both of them.
#     Not a program of this project: a plain pipeline, for `ipc watch`.
#
# Run it
#     ipc watch -- sh demos/broken/pipeline_loop.sh      (explains it, ends it, exits 3)
#     sh demos/broken/pipeline_loop.sh                    (hangs: Ctrl-C ends it)
#
# System calls, in order
#     mkfifo -> fork twice -> cat 1: open("loop", O_RDONLY), which waits for
#     the shell opening "loop" for writing as cat 2's stdout -> cat 1: read()
#     the FIFO; cat 2: read() the pipe from cat 1: both block.
#
# Expected output (from ipc watch)
#     ipc watch: DEADLOCK: sh[100], cat[101] and cat[102] are all blocked, ...
#     The cycle: cat[101] waits for cat[102], cat[102] waits for cat[101].
#     And: sh waits for cat[101] and cat[102].

dir=
trap 'rm -rf "$dir"' EXIT             # remove the FIFO on every way out...
trap 'exit 130' INT
trap 'exit 143' TERM                  # ...including when ipc watch ends us (set before mktemp: no gap)
dir=$(mktemp -d) || exit 1           # private, in $TMPDIR
mkfifo "$dir/loop"
echo "pipeline_loop: cat $dir/loop | cat > $dir/loop" >&2
cat "$dir/loop" | cat > "$dir/loop"   # the ring: the second cat writes what the first one reads
