"""End model: train on probabilistic labels with a noise-aware loss (torch; extra ``train``).

Importing this package does not import torch; the submodules that need it import it lazily or at
their top (``loss``, ``models``, ``trainer``).
"""
