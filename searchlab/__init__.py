"""searchlab: hyperparameter and evolutionary search on Ray Tune, tracked in MLflow."""

__version__ = "0.1.0"
