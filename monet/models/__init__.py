"""The networks and their losses: factory arguments and what follows from them without Keras (parameter counts,
receptive fields: ``architecture``), the ResNet and U-Net generators and the PatchGAN discriminator (``networks``),
and the losses named after the maths (``losses``: adversarial, cycle, identity, Gram matrices).

May import: ``monet.core``.
"""
