"""Built-in trainers and optimizers."""
