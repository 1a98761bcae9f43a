"""The images: one image checked and converted, the one JPEG encoder and the data error (``images``), fetching and
checking the competition's data, generated data and the manifest (``fetch``), extra paintings (``extra``), exact
and near duplicates by content (``duplicates``), tf.data pipelines with the seeded epoch order that makes resume
exact (``tfdata``), and augmentation: training images' flips, jitter and rot90, DiffAugment, and the stateless keys
of every random draw (``augment``).

May import: ``monet.core``.
"""
