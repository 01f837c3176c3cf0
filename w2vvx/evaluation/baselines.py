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
    "synthetic collection, MT noise 0.3, human-style zh queries: NRCCR 68.7 +/- 11.9 t2i SumR vs 78.5 +/- 5.0 "
    "for the src+MT baseline (same model without the NRCCR terms), -9.8 +/- 7.3 paired; its distillation "
    "teacher ranks at chance (held-out R@1 1.1 in batches of 128, the student 16.9)",
    "synthetic collection after the word2vec change, MT noise 0.1 / 0.3 / 0.6: NRCCR -7.7 +/- 12.5 / -4.6 +/- 9.8 "
    "/ -6.4 +/- 10.0 t2i SumR against src+MT (51.2 / 51.2 / 51.5), 3 paired seeds; of its terms alone, "
    "back-translation costs -6.2 +/- 2.4 at noise 0.3 and the similarity view gains +5.2 +/- 2.3 at noise 0.1 only",
    "Flickr8K-CN, stand-in from held-out English captions, 2,500 human zhc queries: NRCCR 68.8 +/- 0.6 t2i "
    "SumR vs 71.4 +/- 1.7 for src+MT (-2.6 +/- 1.4 paired) and 88.1 +/- 3.4 for the MT-only w2vvpp baseline",
)


def nrccr_baseline_warning() -> str:
    """The ``warning:`` block printed with NRCCR results (one line per measured setting).

    Example:
        >>> text = nrccr_baseline_warning()
        >>> text.splitlines()[0].startswith("warning:"), "-9.8" in text
        (True, True)
    """
    lines = ["warning: NRCCR has not beaten its baseline on any setting measured so far (docs/nrccr.md):"]
    lines += [f"warning:   - {line}" for line in NRCCR_MEASURED]
    lines.append("warning: it is untested on the original features (NRCCR's VATEX I3D, MSR-VTT-CN, Multi30K "
                 "ResNet-152); compare with `--method baseline` (recipes) or a W2VV config (do-all) before "
                 "trusting these numbers.")
    return "\n".join(lines)


__all__ = ["NRCCR_MEASURED", "nrccr_baseline_warning"]
