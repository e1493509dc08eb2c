"""Operating BrightSync: status, explanations, actions, metrics, logs and the run time series."""
