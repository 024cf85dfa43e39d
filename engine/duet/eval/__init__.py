"""Evaluation: measure the front end and the motion against ground truth and baselines."""
