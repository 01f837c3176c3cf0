"""Dataset recipes: reproduce COCO-CN, VATEX, MSR-VTT-CN and Multi30K from their original distributions.

One module per dataset (``coco_cn``, ``vatex``, ``msrvtt_cn``, ``multi30k``) with ``prepare`` and ``run``,
the CPU pivot benchmark (``pivot``), shared machinery (``common``, ``crosslingual``, ``video``) and the
``w2vvx recipe`` command group (``cli``). See docs/recipes.md.
"""
