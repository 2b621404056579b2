"""Functions that change the metrics app's data (the catalog import, metric runs)."""
