"""The package stage: the zip and Kaggle's rules for it (``images_zip``), the filters after the generator, which
learn nothing (``postprocess``: mode filter, colour matching, grain), photos translated by a generator into the zip and
the time that takes (``translator``), and the stage that writes ``images.zip`` (``stage``).

May import: ``monet.core``, ``monet.data``, ``monet.models``.
"""
