"""``python -m w2vvx.cli``: the ``w2vvx`` console script."""
from w2vvx.cli import main

main()
