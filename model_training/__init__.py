"""Training-side code: synthetic data generator, datasets, losses, training, evaluation."""
