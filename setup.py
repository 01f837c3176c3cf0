"""Packaging for w2vvx: cross-lingual cross-modal retrieval on Keras 3 (TensorFlow, PyTorch, JAX)."""
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent

setup(
    name="w2vvx",
    version="0.1.0",
    description="Word2VisualVec lineage on Keras 3: cross-lingual cross-modal retrieval",
    long_description=(ROOT / "README.md").read_text(encoding="utf-8") if (ROOT / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["w2vvx", "w2vvx.*", "recipes", "recipes.*"]) + ["w2vvx.data"],
    package_dir={"w2vvx.data": "data"},
    package_data={"w2vvx.data": ["*.txt", "*.json", "*/*.txt", "*/*.json"]},
    install_requires=[
        "keras>=3.15,<3.16",
        "tensorflow-cpu>=2.21,<2.22",
        "tensorboard>=2.21,<2.22",
        "gensim>=4.4,<4.5",
        "jieba>=0.42,<0.43",
        "numpy>=1.26,<3",
        "h5py>=3.10,<4",
        "click>=8.1,<9",
        "scipy>=1.11,<2",
        "matplotlib>=3.8,<4",
    ],
    extras_require={
        "torch": ["torch==2.13.0"],
        "jax": ["jax[cpu]>=0.10,<0.11"],
        "ann": ["usearch>=2.20,<3", "faiss-cpu>=1.8,<2"],
        "test": ["pytest>=8,<10", "hypothesis>=6.100,<7", "nbclient>=0.10,<0.12", "nbformat>=5.9,<6",
                 "ipykernel>=6.29,<8"],
    },
    entry_points={"console_scripts": ["w2vvx=w2vvx.cli:main"]},
)
