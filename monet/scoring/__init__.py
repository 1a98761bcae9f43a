"""How good a set of images is: the feature networks (Kaggle's 2015 Inception graph, Keras InceptionV3:
``inception``), FID, MiFID and the evaluate stage (``metrics``), and runs compared side by side (``compare``).

May import: ``monet.core``, ``monet.data``, ``monet.models``.
"""
