"""Results tables: one row per setting, metric columns, written as Markdown or CSV (atomically)."""
from __future__ import annotations

import csv
import math
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from w2vvx.errors import ConfigError
from w2vvx.io.atomic import atomic_path

# (metric key, column header, decimals). Recalls are percentages; mAP and mIR are fractions.
DEFAULT_COLUMNS: Tuple[Tuple[str, str, int], ...] = (
    ("t2i_r1", "t2i R@1", 1), ("t2i_r5", "t2i R@5", 1), ("t2i_r10", "t2i R@10", 1),
    ("t2i_medr", "t2i MedR", 1), ("t2i_map", "t2i mAP", 3), ("t2i_mir", "t2i mIR", 3),
    ("i2t_r1", "i2t R@1", 1), ("i2t_r5", "i2t R@5", 1), ("i2t_r10", "i2t R@10", 1),
    ("i2t_medr", "i2t MedR", 1), ("i2t_map", "i2t mAP", 3), ("sumr", "SumR", 1),
)


class ResultsTable:
    """Collects metric dicts per setting and renders them.

    Args:
        columns: ``(key, header, decimals)`` triples; default :data:`DEFAULT_COLUMNS`.
            A column missing from a row is shown empty.

    Example:
        >>> table = ResultsTable(columns=[("t2i_r1", "R@1", 1), ("sumr", "SumR", 1)])
        >>> table.add("CM", {"t2i_r1": 30.81, "sumr": 366.5})
        >>> print(table.to_markdown())
        | setting | R@1 | SumR |
        |---|---:|---:|
        | CM | 30.8 | 366.5 |
    """

    def __init__(self, columns: Optional[Sequence[Tuple[str, str, int]]] = None):
        self.columns = list(DEFAULT_COLUMNS if columns is None else columns)
        if not self.columns:
            raise ConfigError("a results table needs at least one column")
        self.rows: List[Tuple[str, Dict[str, float]]] = []

    def add(self, setting: str, metrics: Mapping[str, float]) -> None:
        """Append a row named ``setting`` (later rows with the same name are kept as separate rows)."""
        if not isinstance(setting, str) or not setting:
            raise ConfigError(f"setting name must be a non-empty string, got {setting!r}")
        self.rows.append((setting, dict(metrics)))

    def _cell(self, metrics: Mapping[str, float], key: str, decimals: int) -> str:
        value = metrics.get(key)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        return f"{float(value):.{decimals}f}"

    def to_markdown(self) -> str:
        header = "| setting | " + " | ".join(h for _, h, _ in self.columns) + " |"
        rule = "|---|" + "|".join("---:" for _ in self.columns) + "|"
        lines = [header, rule]
        for setting, metrics in self.rows:
            cells = [self._cell(metrics, key, decimals) for key, _, decimals in self.columns]
            lines.append(f"| {setting} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def write_markdown(self, path) -> None:
        """Write the Markdown table to ``path`` atomically."""
        with atomic_path(path) as tmp:
            tmp.write_text(self.to_markdown() + "\n", encoding="utf-8")

    def write_csv(self, path) -> None:
        """Write ``setting,<metric keys...>`` with full precision to ``path`` atomically."""
        with atomic_path(path) as tmp:
            with open(tmp, "w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(["setting"] + [key for key, _, _ in self.columns])
                for setting, metrics in self.rows:
                    writer.writerow([setting] + [metrics.get(key, "") for key, _, _ in self.columns])

    def __str__(self) -> str:
        return self.to_markdown()


def format_results(metrics: Mapping[str, float], title: Optional[str] = None) -> str:
    """A short human-readable block of the main metrics, e.g. for logs.

    Example:
        >>> print(format_results({"t2i_r1": 30.8, "t2i_r5": 64.4, "t2i_r10": 74.6, "t2i_medr": 3,
        ...                       "t2i_map": 0.4578, "sumr": 366.5}))
        t2i: R@1 30.8  R@5 64.4  R@10 74.6  MedR 3.0  mAP 0.458
        SumR 366.5
    """
    lines = [title] if title else []
    for direction in ("t2i", "i2t"):
        parts = []
        for key, label, decimals in (("r1", "R@1", 1), ("r5", "R@5", 1), ("r10", "R@10", 1),
                                     ("medr", "MedR", 1), ("meanr", "MeanR", 1),
                                     ("map", "mAP", 3), ("mir", "mIR", 3)):
            value = metrics.get(f"{direction}_{key}")
            if value is not None:
                parts.append(f"{label} {float(value):.{decimals}f}")
        if parts:
            lines.append(f"{direction}: " + "  ".join(parts))
    if "sumr" in metrics:
        lines.append(f"SumR {float(metrics['sumr']):.1f}")
    return "\n".join(lines)
