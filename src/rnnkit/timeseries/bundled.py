"""Real series that statsmodels ships inside its package, for examples and benchmarks with no
download: ``--data statsmodels:NAME``.

=========  =========================================================  ===========  ======
name       what                                                       columns      season
=========  =========================================================  ===========  ======
co2        weekly atmospheric CO2 at Mauna Loa, ppm, 1958-2001         date, co2    52
           (2284 weeks, 59 missing: use ``--missing interpolate``)
sunspots   yearly mean sunspot numbers, 1700-2008 (309 years)          date,        11
                                                                       sunactivity  (cycle)
elnino     monthly sea surface temperature, Nino 1+2 region, °C,       date, temp   12
           1950-2010 (732 months)
=========  =========================================================  ===========  ======
"""

from __future__ import annotations

from rnnkit.timeseries.data import SeriesError

PREFIX = "statsmodels:"
NAMES = ("co2", "sunspots", "elnino")


def load(name: str):
    """The bundled series ``name`` as a pandas DataFrame with a ``date`` column."""
    import pandas as pd
    import statsmodels.api as sm

    if name not in NAMES:
        raise SeriesError(f"{PREFIX}{name}: no such bundled series; choose one of "
                          f"{', '.join(PREFIX + n for n in NAMES)}")  # fmt: skip
    data = getattr(sm.datasets, name).load_pandas().data
    if name == "co2":
        return data.rename_axis("date").reset_index()
    if name == "sunspots":
        return pd.DataFrame({"date": data["YEAR"].astype(int),
                             "sunactivity": data["SUNACTIVITY"]})  # fmt: skip
    months = data.columns[1:]  # JAN .. DEC, one row per year
    long = data.melt(id_vars="YEAR", value_vars=list(months), var_name="month", value_name="temp")
    long["month"] = long["month"].map({m: i + 1 for i, m in enumerate(months)})
    long["date"] = pd.to_datetime(dict(year=long["YEAR"].astype(int), month=long["month"],
                                       day=1))  # fmt: skip
    return long.sort_values("date")[["date", "temp"]].reset_index(drop=True)
