"""``w2vvx generate``: the embedded default collection (synthetic, multilingual, offline)."""
from __future__ import annotations

import click

from w2vvx.cli.common import collection_of, rootpath_of, split_list

#: Bytes per feature value, and the share of the available memory a generated feature matrix may take.
_FLOAT_BYTES = 4
_MEMORY_SHARE = 0.5


@click.command("generate")
@click.option("--name", default=None, help="Collection name (default: common.ini default_collection).")
@click.option("--scale", type=click.Choice(["tiny", "default", "large"]), default="default", show_default=True)
@click.option("--seed", default=0, show_default=True, help="Everything is a deterministic function of it.")
@click.option("--mt-noise", default=0.3, show_default=True, help="Simulated machine-translation noise in [0, 1].")
@click.option("--languages", default="zh,de", show_default=True, help="Target languages, comma-separated.")
@click.option("--feature-dim", default=512, show_default=True, type=click.IntRange(min=1),
              help="Feature size (ResNet-152 pool5 features have 2048).")
@click.option("--overwrite", is_flag=True, help="Replace an existing collection.")
@click.pass_context
def command(ctx, name, scale, seed, mt_noise, languages, feature_dim, overwrite):
    """Generate the embedded default collection (synthetic, multilingual, offline)."""
    from w2vvx.config import ensure_writable_rootpath
    from w2vvx.datasets.synthetic import SCALES, generate_collection

    check_feature_memory(sum(SCALES[scale].values()), feature_dim, scale)
    rootpath = ensure_writable_rootpath(rootpath_of(ctx))
    collection = collection_of(ctx, name, must_exist=False)
    folder = generate_collection(rootpath, name=collection.name, seed=seed, scale=scale, mt_noise=mt_noise,
                                 languages=tuple(split_list(languages)), feature_dim=feature_dim,
                                 overwrite=overwrite)
    click.echo(f"generated {folder}")


def available_memory() -> int:
    """Bytes of memory available to a new allocation (``MemAvailable``; physical pages where there is none)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    import os

    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown: do not refuse


def check_feature_memory(n_items: int, feature_dim: int, scale: str, available=None) -> None:
    """Refuse, before allocating, a feature matrix of ``n_items x feature_dim`` float32 that memory cannot hold.

    Example:
        >>> check_feature_memory(200, 64, "tiny", available=10**9)
    """
    from w2vvx.errors import ConfigError

    available = available_memory() if available is None else available
    budget = int(available * _MEMORY_SHARE)
    needed = n_items * feature_dim * _FLOAT_BYTES
    if needed > budget:
        largest = max(1, budget // (n_items * _FLOAT_BYTES))
        raise ConfigError(f"--feature-dim {feature_dim} at --scale {scale} needs {needed / 2**30:.1f} GiB for the "
                          f"features of {n_items} items, more than half of the {available / 2**30:.1f} GiB of "
                          f"memory available; use --feature-dim {min(largest, 512)} (the default is 512) or a "
                          "smaller --scale")
