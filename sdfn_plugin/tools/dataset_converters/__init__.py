"""Dataset preparation scripts (run as ``python tools/dataset_converters/<name>.py``)."""
