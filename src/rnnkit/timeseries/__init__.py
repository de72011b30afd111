"""Time series: reading CSV/Parquet into aligned series (data.py), chronological splits,
training-only scaling and leak-free windows (windows.py), forecast metrics (metrics.py)."""

from rnnkit.timeseries.data import Series, SeriesError, read_series
from rnnkit.timeseries.windows import Scaler, Split, split, window_starts, windows

__all__ = [
    "Scaler",
    "Series",
    "SeriesError",
    "Split",
    "read_series",
    "split",
    "window_starts",
    "windows",
]
