"""simclr: SimCLR/MAE pretraining and evaluation on top of segaug."""
