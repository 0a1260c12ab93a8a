"""Losses, one module each; the losses of the built-in methods are re-exported here.

========================  =========================================  ==================
loss                      module                                     method
========================  =========================================  ==================
:class:`NTXentLoss`       ``simclr/losses/nt_xent.py``               SimCLR
:class:`BYOLLoss`         ``simclr/losses/byol.py``                  BYOL
:class:`SimSiamLoss`      ``simclr/losses/simsiam.py``               SimSiam
:class:`BarlowTwinsLoss`  ``simclr/losses/barlow_twins.py``          Barlow Twins
:class:`VICRegLoss`       ``simclr/losses/vicreg.py``                VICReg
:class:`VICRegLLoss`      ``simclr/losses/vicregl.py``               VICRegL
:class:`NNCLRLoss`        ``simclr/losses/nnclr.py``                 NNCLR
:class:`SwAVLoss`         ``simclr/losses/swav.py``                  SwAV
========================  =========================================  ==================

A method imports its loss from the loss's own module (``from simclr.losses.nt_xent
import NTXentLoss``), so a new method and its loss are two new files and this one
needs no edit. The re-exports stay explicit, so that type checkers and editors see
them; a new loss may be added to them but nothing depends on it.

Example:
    >>> import torch
    >>> from simclr.losses import NTXentLoss
    >>> round(NTXentLoss(0.5)(torch.eye(4), torch.eye(4)).item(), 4)
    0.5944
"""

from simclr.losses.barlow_twins import BarlowTwinsLoss
from simclr.losses.byol import BYOLLoss
from simclr.losses.nnclr import NNCLRLoss
from simclr.losses.nt_xent import NTXentLoss
from simclr.losses.simsiam import SimSiamLoss
from simclr.losses.swav import SwAVLoss
from simclr.losses.vicreg import VICRegLoss
from simclr.losses.vicregl import VICRegLLoss

__all__ = [
    "BYOLLoss",
    "BarlowTwinsLoss",
    "NNCLRLoss",
    "NTXentLoss",
    "SimSiamLoss",
    "SwAVLoss",
    "VICRegLLoss",
    "VICRegLoss",
]
