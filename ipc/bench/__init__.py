"""`ipc bench`: how fast each mechanism is, and why; Python beside C, every byte checked.

frames     the benchmark's wire format and its checks (pure)
channels   each mechanism set up for the Python loops
loops      the timed loops: raw system calls, and the project's own stack
shared     multiprocessing Pipe and Queue, shared memory, files
worker     one measurement in worker processes of its own, with a deadline
reference  the C reference (bench/reference.c), compiled with cc at run time
runner     the plan of a run, and running it
stats      percentiles, spread, stability
machine    the machine the figures come from
tables     the terminal tables of the figures, and the labels they go by
targets    ratios side by side, the expectations judged, the why of each mechanism
report     the whole report put together, and its JSON
chart      the SVG chart
"""
