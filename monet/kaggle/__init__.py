"""Everything that talks to Kaggle: credentials and the competition's download (``download``), the kernel bundle
(``bundle``), what the kernel checks and brings in before its chain (``kernel``: versions, machines, a second
session's run folder), push and submit (``submit``).

May import: ``monet.core``, ``monet.data``, ``monet.package``.
"""
