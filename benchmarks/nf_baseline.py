"""neuralforecast LSTM/GRU baseline for rolling-origin forecasting benchmarks.

Fits neuralforecast's ``LSTM`` and ``GRU`` with their library defaults (only
``h`` is set, plus ``random_seed`` and quiet trainer flags) on ``values[:t]``
of each series, refitting at every origin ``t``, and forecasts
``values[t:t+H]``.

    /work/nfenv/bin/python benchmarks/nf_baseline.py IN.json OUT.json

IN.json:  {"horizon": H, "season": m, "freq": "MS" | null,
           "series": [{"name": str, "values": [float, ...]}, ...],
           "origins": [t, ...], "seed": 0}
OUT.json: {"LSTM": [[H floats], ...], "GRU": [...],   # series-major, then origin
           "seconds": {"LSTM": s, "GRU": s}, "versions": {...}}

It runs in a separate virtual environment (python -m venv /work/nfenv; pip
install torch==2.13.0; pip install -c constraints.txt neuralforecast==3.3.0
with torch pinned in constraints.txt) because neuralforecast is an optional
benchmark extra, not a dependency of rnnkit. ``season`` is accepted and unused.

Defaults worth knowing (neuralforecast 3.3.0): ``input_size=-1`` is replaced
by ``3 * h`` (a fixed window, not all history), ``max_steps=1000``,
``scaler_type="robust"``, ``loss=MAE()``, ``recurrent=False`` (direct
multi-output MLP decoder), no early stopping, no validation split.

Slow on CPU: one default fit (1000 steps) of a ~100-point series takes about
2 min (LSTM) / 3.5 min (GRU) on one core. Run with OMP_NUM_THREADS=1 on a
shared 2-core machine: oversubscribed torch threads were ~6x slower.
"""

import json
import logging
import sys
import time
import warnings

import neuralforecast
import pandas as pd
import pytorch_lightning
import torch
from neuralforecast import NeuralForecast
from neuralforecast.models import GRU, LSTM

QUIET = dict(enable_progress_bar=False, logger=False, enable_model_summary=False)


def _frame(values, freq):
    """A one-series long frame; integer ``ds`` when ``freq`` is None."""
    n = len(values)
    ds = pd.date_range("2000-01-01", periods=n, freq=freq) if freq else range(n)
    return pd.DataFrame({"unique_id": "s", "ds": ds, "y": values})


def _forecast(model_cls, history, horizon, freq, seed):
    model = model_cls(h=horizon, random_seed=seed, **QUIET)
    nf = NeuralForecast(models=[model], freq=freq or 1)
    nf.fit(df=_frame(history, freq))
    pred = nf.predict()
    return [float(v) for v in pred[model_cls.__name__].to_numpy()]


def main(in_path, out_path):
    with open(in_path) as f:
        spec = json.load(f)
    horizon, freq, seed = spec["horizon"], spec.get("freq"), spec.get("seed", 0)

    out = {"LSTM": [], "GRU": [], "seconds": {"LSTM": 0.0, "GRU": 0.0}}
    for series in spec["series"]:
        values = [float(v) for v in series["values"]]
        for t in spec["origins"]:
            for model_cls in (LSTM, GRU):
                name = model_cls.__name__
                start = time.perf_counter()
                out[name].append(_forecast(model_cls, values[:t], horizon, freq, seed))
                out["seconds"][name] += time.perf_counter() - start
    out["versions"] = {
        "neuralforecast": neuralforecast.__version__,
        "torch": torch.__version__,
        "pytorch_lightning": pytorch_lightning.__version__,
        "pandas": pd.__version__,
    }
    with open(out_path, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    warnings.filterwarnings("ignore")
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    main(sys.argv[1], sys.argv[2])
