"""Everything that talks to Kaggle: credentials and the competition's download (``download``), the kernel bundle
(``bundle``), push and submit (``submit``).

May import: ``monet.core``, ``monet.data``, ``monet.package``.
"""
