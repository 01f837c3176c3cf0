"""Noisy-label cross-modal retrieval with MRL's and ELRCMR's ``main_noisy.py`` flags (Wikipedia, XMediaNet, INRIA).

``w2vvx recipe noisy run`` takes the flags of penghu-cs/MRL ``main_noisy.py`` (``--loss``, ``--lr``,
``--max-epochs``, ``--train-batch-size``, ``--beta``, ``--noisy-ratio``, ``--data-name``) and the five
ELRCMR adds (``--lama``, ``--zeta``, ``--alpha``, ``--setp``, ``--betasetp``; their reading:
:mod:`w2vvx.noisy.balance`). The method follows from the flags:

* ``--loss MCE`` without ``--lama``: MRL (``mrl``); with ``--lama``: ELRCMR (``elrcmr``);
* ``--loss CE`` without ``--lama``: cross-entropy + contrastive (``ce_contrastive``, MRL's CE run);
  with ``--lama``: cross-entropy + ELR + contrastive (``elr``, constant weights).

Like ``main_noisy.py`` it trains with Adam (beta_1 0.5) and a cosine learning rate, evaluates the
validation and test MAP after every epoch and reports the test MAP of the last epoch and of the
epoch of best validation MAP, plus the class-centre drift (:mod:`w2vvx.noisy.drift`). The towers are
MRL's (4096-4096 hidden, 512 out) unless ``--hidden``/``--output-dim`` say otherwise. The noise flips
exactly ``round(ratio * N)`` training labels, the same for both views of a pair
(:func:`w2vvx.noisy.noise.noisy_view_labels`; MRL draws each view independently).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from w2vvx.errors import ConfigError
from w2vvx.io.atomic import atomic_path
from w2vvx.noisy.datasets import canonical_name, load_noisy_dataset
from w2vvx.noisy.noise import noisy_view_labels
from w2vvx.noisy.training import train_noisy_retrieval

#: The three commands of ELRCMR's README (seed 003), as ``w2vvx recipe noisy run`` options.
SEED_COMMANDS = {
    "xmedianet": dict(loss="MCE", lr=1e-4, max_epochs=100, train_batch_size=500, lama=0.001, zeta=0.001, beta=1.0,
                      alpha=1.0, setp=100000, betasetp=50000, noisy_ratio=0.4),
    "inria": dict(loss="MCE", lr=1e-4, max_epochs=100, train_batch_size=100, lama=0.001, zeta=0.001, beta=1.0,
                  alpha=1.0, setp=100000, betasetp=10000, noisy_ratio=0.8),
    "wiki": dict(loss="MCE", lr=1e-4, max_epochs=100, train_batch_size=100, lama=1.0, zeta=0.001, beta=0.75,
                 alpha=1.0, setp=100000, betasetp=3000, noisy_ratio=0.6),
}


def choose_method(loss: str, lama, betasetp=None, setp=None) -> str:
    """The w2vvx method that ``main_noisy.py``'s flags name (see the module docstring).

    Example:
        >>> choose_method("MCE", None), choose_method("MCE", 1.0), choose_method("CE", None)
        ('mrl', 'elrcmr', 'ce_contrastive')
    """
    loss = str(loss).upper()
    if loss not in ("MCE", "CE"):
        raise ConfigError(f"--loss must be MCE or CE (main_noisy.py's losses), got {loss!r}")
    if loss == "MCE":
        return "mrl" if lama is None else "elrcmr"
    if betasetp is not None or setp is not None:
        raise ConfigError("--betasetp/--setp schedule ELRCMR's weights and need --loss MCE and --lama")
    return "ce_contrastive" if lama is None else "elr"


def run(data_name: str, data_dir, run_dir, loss: str = "MCE", lr: float = 1e-4, max_epochs: int = 100,
        train_batch_size: int = 100, beta: float = 0.7, noisy_ratio: float = 0.6, lama=None, zeta: float = 0.0,
        alpha: float = 1.0, setp=None, betasetp=None, tau: float = 1.0, elr_momentum: float = 0.7,
        hidden=(4096, 4096), output_dim: int = 512, valid_len=None, seed: int = 0, verbose: int = 0) -> dict:
    """Train and evaluate one noisy-label run; write ``results.json`` and ``results.md`` under ``run_dir``.

    Returns:
        The results dict (flags, method, per-epoch MAPs, last/best test MAP, centre cosines).
    """
    data_name = canonical_name(data_name)
    method = choose_method(loss, lama, betasetp, setp)
    if not isinstance(max_epochs, int) or max_epochs < 1:
        raise ConfigError(f"max_epochs must be a positive integer, got {max_epochs!r}")
    data = load_noisy_dataset(data_name, data_dir, valid_len=valid_len)
    train = data.train
    noisy = noisy_view_labels(train.image_labels, noisy_ratio, data.num_classes, seed=seed)
    model_kwargs = {"method": method, "beta": beta, "mce_tau": tau, "contrastive_tau": tau}
    if lama is not None:
        model_kwargs.update(elr_lambda=lama, elr_beta=elr_momentum)
    if method == "elrcmr":
        model_kwargs.update(beta_steps=betasetp, elr_steps=setp, weight_floor=zeta, contrastive_weight=alpha)
    trained = train_noisy_retrieval(
        train.image, train.text, {"image": noisy[0], "text": noisy[1]}, data.num_classes, epochs=max_epochs,
        batch_size=train_batch_size, learning_rate=lr, seed=seed, verbose=verbose, hidden_units=tuple(hidden),
        embedding_dim=output_dim, monitor_sets={"valid": data.valid.as_tuple(), "test": data.test.as_tuple()},
        **model_kwargs)
    monitor = trained.monitor
    best = monitor.best_epoch("valid")
    test_maps, drift = monitor.maps["test"], monitor.drift("valid")
    steps = max_epochs * math.ceil(len(train) / train_batch_size)
    results = {
        "data_name": data_name, "method": method, "seed": seed, "num_classes": data.num_classes,
        "pairs": {"train": len(train), "valid": len(data.valid), "test": len(data.test)},
        "flags": {"loss": loss.upper(), "lr": lr, "max_epochs": max_epochs, "train_batch_size": train_batch_size,
                  "beta": beta, "noisy_ratio": noisy_ratio, "lama": lama, "zeta": zeta, "alpha": alpha, "setp": setp,
                  "betasetp": betasetp, "tau": tau},
        "architecture": {"hidden": list(hidden), "output_dim": output_dim}, "steps": steps,
        "last_epoch": {"i2t": float(test_maps[-1, 0]), "t2i": float(test_maps[-1, 1])},
        "best_epoch": {"epoch": best + 1, "i2t": float(test_maps[best, 0]), "t2i": float(test_maps[best, 1])},
        "valid_map_by_epoch": monitor.maps["valid"].round(4).tolist(),
        "test_map_by_epoch": test_maps.round(4).tolist(),
        "centre_cosine_to_best_by_epoch": drift.round(4).tolist(),
    }
    if method == "elrcmr":
        balance = trained.model.balance
        results["final_weights"] = {"beta": float(balance.beta_at(steps)), "lambda": float(balance.lambda_at(steps))}
    run_dir = Path(run_dir)
    with atomic_path(run_dir / "results.json") as tmp:
        tmp.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    with atomic_path(run_dir / "results.md") as tmp:
        tmp.write_text(markdown(results), encoding="utf-8")
    return results


def markdown(results: dict) -> str:
    flags = " ".join(f"--{key.replace('_', '-')} {value}" for key, value in results["flags"].items()
                     if value is not None)
    last, best = results["last_epoch"], results["best_epoch"]
    return "\n".join([
        f"# {results['data_name']}: {results['method']}, noise {results['flags']['noisy_ratio']}",
        "",
        f"Flags: `{flags}`; towers {results['architecture']['hidden']}→{results['architecture']['output_dim']}, "
        f"{results['steps']} steps, seed {results['seed']}; pairs {results['pairs']}.",
        "",
        "| test MAP | image→text | text→image | mean |",
        "|---|---|---|---|",
        f"| last epoch | {last['i2t']:.4f} | {last['t2i']:.4f} | {np.mean([last['i2t'], last['t2i']]):.4f} |",
        f"| best validation epoch ({best['epoch']}) | {best['i2t']:.4f} | {best['t2i']:.4f} | "
        f"{np.mean([best['i2t'], best['t2i']]):.4f} |",
        "",
        f"Class-centre cosine, last epoch vs best epoch: {results['centre_cosine_to_best_by_epoch'][-1]:.4f}.",
        "",
    ])
