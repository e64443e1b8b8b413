"""wsup_spark: weak supervision at cluster scale.

Importing this package is cheap: it pulls in numpy only. Spark, Delta and torch are imported by
the layers that need them.
"""
