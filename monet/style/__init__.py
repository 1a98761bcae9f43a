"""Neural style transfer, the report's second method: the batched, early-stopping VGG19 painter (``painter``) and
the stage that paints the run's photos (``transfer``).

May import: ``monet.core``, ``monet.data``, ``monet.models``.
"""
