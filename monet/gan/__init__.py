"""The CycleGAN method: strategies and precision (``distribute``), learning-rate schedules (``schedules``), the image
pool (``image_pool``), the four models, their train step and checkpoints (``cyclegan``), CUT and FastCUT on the same
machinery (``cut``: gen_g, disc_y, net_f, PatchNCE), the training stage with its session (``session``: its context
and state), its budget and plans (``planning``), what stops it when it diverges (``guards``), its record
(``history``), and choosing the checkpoint to package (``selection``).

May import: ``monet.core``, ``monet.data``, ``monet.models``, ``monet.scoring``, ``monet.package``.
"""
