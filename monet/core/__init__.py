"""Plumbing every stage shares: the parameter schema and params files (``schema``, ``params``), atomic files
(``files``), where the pipeline runs and how TensorFlow loads (``environment``), the progress line (``progress``), the
run record ``run.json`` (``runs``), figures (``plots``), the time budget and its planners (``budget``), and weights
settings checked before a run starts (``weights``).

May import: nothing else of the package (it is the bottom layer).
"""
