"""The report's table as CSV, Markdown and a self-contained `index.html` that shows the figures."""
from __future__ import annotations

import csv
import html
import math

# (CSV column, Markdown/HTML heading, format) of the table, in order.
COLUMNS = (
    ("label", "variant", "{}"),
    ("accuracy", "accuracy (mean ± std)", "{}"),
    ("seeds", "seeds", "{}"),
    ("nonzeros", "non-zero params", "{:,.0f}"),
    ("compression", "compression", "{:.1f}x"),
    ("dense_bytes", "dense bytes", "{:,.0f}"),
    ("csr_bytes", "CSR bytes", "{:,.0f}"),
    ("train_flops", "training FLOPs", "{:.3g}"),
    ("inference_flops", "inference FLOPs/image", "{:.3g}"),
    ("throughput", "images/s", "{:,.0f}"),
    ("tflite_gzip_bytes", "TFLite float32 bytes (gz)", "{:,.0f}"),
    ("int8_bytes", "TFLite int8 bytes", "{:,.0f}"),
    ("int8_gzip_bytes", "TFLite int8 bytes (gz)", "{:,.0f}"),
    ("int8_size_ratio", "dense float gz / int8 gz", "{:.1f}x"),
    ("int8_accuracy", "int8 accuracy (Interpreter)", "{:.2%}"),
    ("latency_us", "float32 batch-1 µs (1 thread)", "{:,.1f}"),
    ("float_speedup", "float32 latency vs dense float32", "{:.2f}x"),
    ("int8_latency_us", "int8 batch-1 µs (1 thread)", "{:,.1f}"),
    ("int8_speedup", "int8 latency vs dense int8", "{:.2f}x"),
    ("wall_s", "wall s", "{:.1f}"),
)


def write_csv(rows: list[dict], path: str) -> str:
    """All rows with all their keys (the union, in first-seen order) to `path`."""
    fields = list(dict.fromkeys(key for row in rows for key in row))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _cells(row: dict) -> list[str]:
    values = dict(row, accuracy=f"{100 * row['accuracy_mean']:.2f}% ± {100 * row['accuracy_std']:.2f}")
    cells = []
    for key, _, fmt in COLUMNS:
        value = values.get(key)
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        cells.append("n/a" if missing else fmt.format(value))
    return cells


def markdown(rows: list[dict]) -> str:
    """The table as GitHub Markdown."""
    lines = ["| " + " | ".join(head for _, head, _ in COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def index_html(title: str, notes: list[str], rows: list[dict], figures: dict[str, str]) -> str:
    """A page that opens from disk: the table, the notes, then each figure (relative paths)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _ in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in _cells(row)) + "</tr>"
                   for row in rows)
    notes_html = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    images = "".join(f'<figure><img src="{html.escape(name)}" alt="{html.escape(caption)}">'
                     f"<figcaption>{html.escape(caption)}</figcaption></figure>"
                     for name, caption in figures.items())
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child{{text-align:left}}
figure{{display:inline-block;margin:1em}}img{{max-width:600px}}</style></head>
<body><h1>{html.escape(title)}</h1>
<table><tr>{head}</tr>{body}</table>
<p><a href="summary.csv">summary.csv</a> (every variant) · <a href="seeds.csv">seeds.csv</a>
(every seed) · <a href="summary.md">summary.md</a></p>
<ul>{notes_html}</ul>
{images}
</body></html>
"""
