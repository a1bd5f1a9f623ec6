"""dmlrepro: regenerate the tables and figures of deep-metric-learning papers."""

__version__ = "0.1.0"
