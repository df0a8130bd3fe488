"""Evaluation: metric functions over numpy arrays (`metrics`) and PNG plots (`plots`)."""
