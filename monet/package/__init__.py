"""The package stage: the zip and Kaggle's rules for it (``images_zip``), photos translated by a generator into
it and the time that takes (``translator``), and the stage that writes ``images.zip`` (``stage``).

May import: ``monet.core``, ``monet.data``, ``monet.models``.
"""
