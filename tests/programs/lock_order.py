"""Two threads take two locks in opposite orders: each holds one and waits for the other.

    python lock_order.py

No pipe, no socket: every thread waits in futex() for a lock another thread holds.
"""

import threading

first, second = threading.Lock(), threading.Lock()
both_hold_one = threading.Barrier(2)


def take(one, other):
    with one:
        both_hold_one.wait()  # each now holds one lock
        with other:  # and waits for the one the other thread holds
            pass


threads = [threading.Thread(target=take, args=(first, second)), threading.Thread(target=take, args=(second, first))]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
