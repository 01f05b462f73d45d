"""The README's tables of `ipc bench`, from the JSON a run wrote (make bench writes bench/results.json).

    python bench/readme_tables.py [bench/results.json]

Prints two Markdown tables: round-trip medians at the smallest size in each
placement (and at 1 MiB), and stream throughput at the size nearest 64 KiB;
then what was expected of each mechanism, judged. Only reads the file: measure with `make bench`.
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc.bench.tables import size_text  # noqa: E402


def main() -> int:
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "results.json")
    with open(path, encoding="utf-8") as file:
        document = json.load(file)
    results = [r for r in document["results"] if r["summary"]]

    def figure(kind, mechanism, implementation, size, placement, path="plain", key="p50_us"):
        for r in results:
            s = r["spec"]
            if (s["kind"], s["mechanism"], s["implementation"], s["size"], s["placement"], s["path"]) == (
                kind,
                mechanism,
                implementation,
                size,
                placement,
                path,
            ):
                value = r["summary"][key]
                return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"
        return "-"

    sizes = sorted({r["spec"]["size"] for r in results})
    small, big = sizes[0], sizes[-1]
    stream = min(sizes, key=lambda size: abs(size - 65536))
    mechanisms = list(dict.fromkeys(r["spec"]["mechanism"] for r in results))
    machine = document["machine"]
    load = machine.get("load_average") or ["?"]
    print(
        f"Measured {machine['date']} on {machine['cpu_model']}, {machine['cpus_online']} CPUs, {machine['kernel']}, "
        f"{'a ' + machine['virtualization'] + ' VM' if machine['virtualization'] else 'not a VM'}, "
        f"{machine['python']}; load average {load[0]} at the start, "
        f"{(machine.get('load_average_end') or ['?'])[0]} at the end; the run took {document['elapsed_s']:.0f} s.\n"
    )
    print(
        f"Round trip, median µs ({size_text(small)} frames unless said; C / raw Python / project stack, "
        f"or one figure for a mechanism that is a Python library):\n"
    )
    print(f"| mechanism | one CPU | two CPUs | unpinned | {size_text(big)}, unpinned |")
    print("|---|---|---|---|---|")
    for mechanism in mechanisms:
        cells = []
        for size, placement in ((small, "same-cpu"), (small, "two-cpus"), (small, "unpinned"), (big, "unpinned")):
            values = [figure("latency", mechanism, impl, size, placement) for impl in ("c", "raw", "project", "python")]
            cells.append(" / ".join(v for v in values if v != "-") or "-")
        print(f"| {mechanism} | " + " | ".join(cells) + " |")
    print(f"\nStreams of {size_text(stream)} frames, MB/s (median):\n")
    print("| mechanism | path | one CPU | two CPUs | unpinned |")
    print("|---|---|---|---|---|")
    for r in results:
        s = r["spec"]
        if s["kind"] == "throughput" and s["size"] == stream and s["placement"] == "unpinned":
            cells = [
                figure("throughput", s["mechanism"], s["implementation"], stream, placement, s["path"], "median_mb_s")
                for placement in ("same-cpu", "two-cpus", "unpinned")
            ]
            print(f"| {s['mechanism']} | {r['label']} | " + " | ".join(cells) + " |")
    print("\nWhat was expected, and what this run found:\n")
    for target in document["targets"]:
        verdict = {True: "met", False: "not met", None: "reported"}[target["met"]]
        measured = f"{target['measured']:.2f}x ({target['detail']})" if target["measured"] is not None else "-"
        print(f"- {verdict}: {target['target']}: {measured}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
