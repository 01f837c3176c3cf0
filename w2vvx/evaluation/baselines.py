"""Measured comparisons of a method against its baseline, printed with its results until it beats it.

A method that does not (yet) beat its baseline on any setting w2vvx has measured must not look like a
working method: ``w2vvx do-all nrccr`` and ``w2vvx recipe ... --method nrccr`` print
:func:`nrccr_baseline_warning` with their results. The figures are those of ``docs/nrccr.md``
("Does NRCCR beat the src+MT baseline?"); change them there and here together.
"""
from __future__ import annotations

from typing import Tuple

#: NRCCR against its baselines, as measured in docs/nrccr.md (3 seeds each, paired differences).
NRCCR_MEASURED: Tuple[str, ...] = (
    "Flickr8K-CN pivot (500 train images, 2,500 human zhc test queries): NRCCR 96.7 +/- 0.8 t2i SumR vs "
    "115.1 +/- 0.8 for the MT-only baseline, -18.4 +/- 1.1 SumR paired",
    "synthetic benchmark, MT noise 0.1 / 0.3 / 0.6: NRCCR vs the src+MT baseline (same model, no "
    "distillation) +0.4 / -0.6 / -1.9 SumR paired, inside the seed spread",
)


def nrccr_baseline_warning() -> str:
    """The ``warning:`` block printed with NRCCR results (one line per measured setting).

    Example:
        >>> text = nrccr_baseline_warning()
        >>> text.splitlines()[0].startswith("warning:"), "-18.4" in text
        (True, True)
    """
    lines = ["warning: NRCCR has not beaten its baseline on any setting measured so far (docs/nrccr.md):"]
    lines += [f"warning:   - {line}" for line in NRCCR_MEASURED]
    lines.append("warning: it is untested on the original features (NRCCR's VATEX I3D, MSR-VTT-CN, Multi30K "
                 "ResNet-152); compare with `--method baseline` (recipes) or a W2VV config (do-all) before "
                 "trusting these numbers.")
    return "\n".join(lines)


__all__ = ["NRCCR_MEASURED", "nrccr_baseline_warning"]
