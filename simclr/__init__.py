"""simclr: self-supervised pretraining and evaluation on top of segaug.

The methods (SimCLR, MAE, BYOL, SwAV and the others of :data:`simclr.methods.METHODS`)
train with :mod:`simclr.trainer` (``simclr-train``); :mod:`simclr.evaluate` measures the
encoders (``simclr-eval``).
"""
