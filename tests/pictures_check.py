"""What the tests read in a drawn picture: texts that meet, and a Mermaid file's grammar. Pure."""

import re
import xml.etree.ElementTree as ET

from ipc.trace import svg

SVG = "{http://www.w3.org/2000/svg}"


def overlaps(text: str) -> list:
    """Every text box that meets another, a lifeline or a blocked bar, from the layout: each text's box from
    its position, anchor and font (svg.text_boxes measures with the font's own widths), each line and bar
    from its attributes. Also any text past the picture's edges."""
    root = ET.fromstring(text)
    boxes = svg.text_boxes(root)
    found = [
        (a[4], b[4])
        for n, a in enumerate(boxes)
        for b in boxes[n + 1 :]
        if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
    ]
    width = float(root.get("viewBox").split()[2])
    found += [(box[4], "the edge") for box in boxes if box[0] < 0 or box[2] > width]
    for line in root.iter(f"{SVG}line"):
        if line.get("class") == "lane":
            x, top, bottom = float(line.get("x1")), float(line.get("y1")), float(line.get("y2"))
            found += [
                (box[4], "a lifeline") for box in boxes if box[0] < x < box[2] and box[1] < bottom and top < box[3]
            ]
    for bar in root.iter(f"{SVG}rect"):
        if bar.get("class", "").startswith("bar"):
            x, y, w, h = (float(bar.get(key)) for key in ("x", "y", "width", "height"))
            found += [
                (box[4], "a bar") for box in boxes if box[0] < x + w and x < box[2] and box[1] < y + h and y < box[3]
            ]
    return found


MERMAID_LINE = re.compile(
    r"    (title [^;]+|participant P\d+ as [^;]+|P\d+(->>|-->>|--x)P\d+: [^;]*|Note over P\d+(,P\d+)?: [^;]+|%% .*)"
)


def mermaid_grammar(text: str) -> list:
    """The lines of a sequenceDiagram this project writes that Mermaid would not read as meant: a line of
    no known form, a participant used but not declared, a bare # or ; (Mermaid cuts a text there)."""
    lines = text.splitlines()
    wrong = [] if lines[:1] == ["sequenceDiagram"] else ["no sequenceDiagram first"]
    declared = set(re.findall(r"^    participant (P\d+) as ", text, re.M))
    for line in lines[1:]:
        bare = re.sub(r"#(\d+|lt|gt|quot);", "", line)  # Mermaid's entity codes: # and ; written safely
        if not MERMAID_LINE.fullmatch(bare) or ("#" in bare and not bare.startswith("    %%")):
            wrong.append(line)
        elif not line.startswith(("    participant", "    %%")) and not set(re.findall(r"\bP\d+\b", line)) <= declared:
            wrong.append(line)
    return wrong
