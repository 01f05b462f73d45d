"""Draw the chart of `ipc bench` again from the JSON a run wrote, without measuring anything.

python bench/redraw_chart.py [bench/results.json] [bench/chart.svg]
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc.bench import chart, report  # noqa: E402


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    source = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "results.json")
    target = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "chart.svg")
    with open(source, encoding="utf-8") as file:
        document = json.load(file)
    with open(target, "w", encoding="utf-8") as file:
        file.write(chart.render(report.outcomes_from_json(document), document["machine"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
