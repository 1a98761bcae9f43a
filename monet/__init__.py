"""The Monet pipeline's package, one folder a stage or concern, each layer importing only those below it:

- ``core``: plumbing (params and their schema, atomic files, environment, progress, the run record, plots, the
  time budget, weights settings);
- ``data``: fetching and checking the images, tf.data pipelines, augmentation;
- ``models``: the networks (ResNet and U-Net generators, PatchGAN) and their losses;
- ``scoring``: feature networks, FID/MiFID and the evaluate stage, comparing runs;
- ``package``: the zip, the translator, the package stage;
- ``gan``: the CycleGAN, its training stage (with the budget planner's use), checkpoint selection;
- ``style``: neural style transfer;
- ``kaggle``: download, bundle, push and submit;
- the front door: ``cli`` (``python -m monet COMMAND``) and ``pipeline`` (the chain of stage notebooks).
"""

__version__ = "0.1.0"
