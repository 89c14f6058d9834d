"""What runs leave for people: per-run metrics and curves (`metrics`), and the compression report.

The compression report (`tfcompress.reports.compare.run`, `bin/report.py`)
trains or reuses one run per technique and seed, measures each model
(`costs`), and writes a table, figures and an `index.html` (`figures`, `page`).
"""
from tfcompress.reports.metrics import (METRICS_CSV, metric_callbacks, plot_learning_curves,
                                        read_metrics, truncate_metrics)

__all__ = ["METRICS_CSV", "metric_callbacks", "plot_learning_curves", "read_metrics",
           "truncate_metrics"]
