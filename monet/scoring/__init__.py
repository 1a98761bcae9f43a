"""How good a set of images is: the feature networks (``inception``: Kaggle's 2015 Inception, as its Keras port
``kaggle_inception`` with weights from ``kaggle_weights`` or as the graph itself; Keras InceptionV3), where images
come from (``sources``), the judge that needs no downloaded weights (``judge``: C2ST and KID on random features),
FID, MiFID and the evaluate stage (``metrics``), and runs compared side by side (``compare``).

May import: ``monet.core``, ``monet.data``, ``monet.models``.
"""
