"""Spark layer: session helper, applying LFs, distributed statistics, prediction.

Imports pyspark; never torch.
"""
