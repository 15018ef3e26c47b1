#!/usr/bin/env python3
"""statsmodels baselines for tapegrad-forecast: reads one column of a CSV file exactly as the C++
forecaster does, holds out the last --horizon values, fits each model on the rest, forecasts the
held-out values in one multi-step forecast from the end of training, and scores it by MAE, RMSE
and MASE. Prints one JSON object per model on stdout and a markdown table on stderr.

    python3 bench/forecast_statsmodels.py \
        --csv /usr/lib/python3/dist-packages/statsmodels/datasets/co2/co2.csv \
        --column co2 --horizon 52 --season 52
    python3 bench/forecast_statsmodels.py \
        --csv /usr/lib/python3/dist-packages/statsmodels/datasets/sunspots/sunspots.csv \
        --column SUNACTIVITY --horizon 22 --season 11
    (for timings: OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 taskset -c 1 python3 ...)

Data handling (must match the C++ side):
  - The first row is a header. --column is a header name (compared after stripping whitespace
    and surrounding double quotes; names are tried first) or else a 0-based column index.
  - Lines that are entirely blank are skipped; a row too short to have the column is an error.
  - A field (whitespace-stripped) is missing when empty or, case-insensitively, na, nan, null or
    ".". Otherwise it must be a finite decimal number ([+-]digits[.digits][e[+-]digits]);
    anything else exits 1 naming the 1-based line number and the column.
  - Missing values before the first and after the last present value are dropped; interior runs
    are filled by linear interpolation between the nearest present neighbours, by position.
Split: the last H values are the test part, everything before is the training part.
MASE: MAE / scale, scale = mean over t in [M, n_train) of |y_t - y_{t-M}| on the training part.

Models (--models, comma-separated; all by default):
  last, drift, seasonal-naive   the naive baselines, to cross-check the C++ numbers.
  arima         statsmodels ARIMA, order by AIC over p in 0..3, d in 0..1, q in 0..3. Trend is a
                constant when d=0 and a drift ('t', a linear trend in levels) when d=1, since
                statsmodels forbids a constant with d=1 and without drift a differenced model
                forecasts a trending series flat. Seasonality: for M > 24 a seasonal ARIMA is
                too slow, so the seasonality is K Fourier pairs sin/cos(2 pi k t / M), k=1..K,
                given as exogenous regressors (K in 1..4, chosen by AIC with the order); for
                1 < M <= 24 both the plain grid and the Fourier grid are fitted and the lowest
                AIC is kept. AIC is compared across d as statsmodels reports it (diffuse
                initialisation of the integrated state), which is an approximation.
  holt-winters  statsmodels ExponentialSmoothing, additive trend, damped or not, plus seasonality
                of period M when M > 1: additive, and also multiplicative when the training
                part is strictly positive; chosen by AIC.
Convergence warnings are suppressed and counted (reported per model); other statsmodels
warnings (non-stationary/non-invertible starting parameters, which it then replaces) are dropped.

Exit status: 0 on success, 2 on usage errors, 1 on data errors.
"""
import argparse
import csv
import json
import math
import os
import re
import sys
import time
import warnings

import numpy as np
from statsmodels.tools.sm_exceptions import ConvergenceWarning
from statsmodels.tsa.arima.model import ARIMA
from statsmodels.tsa.holtwinters import ExponentialSmoothing

MODELS = ("last", "drift", "seasonal-naive", "arima", "holt-winters")
MISSING_TOKENS = {"", "na", "nan", "null", "."}
# Plain decimal only, so that Python-only spellings (1_000, inf, 0x1p3) are rejected as the C++
# parser would reject them.
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
MAX_FOURIER_PAIRS = 4
# Above this period a seasonal ARIMA's state vector is too large to fit a grid in minutes.
MAX_SEASONAL_ARIMA_PERIOD = 24


class DataError(Exception):
    pass


def read_column(path, column):
    """The column's values as floats, None for missing, in file order."""
    try:
        with open(path, newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise DataError(f"{path}: empty file")
            names = [h.strip().strip('"').strip() for h in header]
            if column.strip() in names:
                index = names.index(column.strip())
            elif re.fullmatch(r"\d+", column.strip()) and int(column) < len(names):
                index = int(column)
            else:
                raise DataError(f"{path}: no column {column!r}; available: "
                                + ", ".join(f"{i}={n!r}" for i, n in enumerate(names)))
            values = []
            for row in reader:
                if not any(field.strip() for field in row):
                    continue
                if index >= len(row):
                    raise DataError(f"{path}: line {reader.line_num}: no field for column "
                                    f"{names[index]!r} (row has {len(row)} fields)")
                field = row[index].strip()
                if field.lower() in MISSING_TOKENS:
                    values.append(None)
                elif NUMBER.fullmatch(field) and math.isfinite(float(field)):
                    values.append(float(field))
                else:
                    raise DataError(f"{path}: line {reader.line_num}: column {names[index]!r}: "
                                    f"not a number: {field!r}")
            return names[index], values
    except OSError as e:
        raise DataError(f"{path}: {e.strerror}")


def fill_missing(values):
    """Drops leading/trailing missing values, interpolates interior ones; returns (y, n_filled)."""
    present = [i for i, v in enumerate(values) if v is not None]
    if not present:
        raise DataError("the column has no values")
    kept = values[present[0]:present[-1] + 1]
    positions = np.arange(len(kept))
    known = np.array([v is not None for v in kept])
    known_values = np.array([v for v in kept if v is not None])
    y = np.interp(positions, positions[known], known_values)
    return y, int((~known).sum())


def fourier_terms(start, count, season, pairs):
    """sin/cos(2 pi k t / season), k=1..pairs, for t = start .. start+count-1, as columns."""
    t = np.arange(start, start + count)
    return np.column_stack([f(2 * np.pi * k * t / season)
                            for k in range(1, pairs + 1) for f in (np.sin, np.cos)])


def fit_quietly(fit):
    """Runs fit() with warnings captured; returns (result, number of convergence warnings)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit()
    return result, sum(issubclass(w.category, ConvergenceWarning) for w in caught)


class Search:
    """Keeps the lowest-AIC candidate and counts fits, failures and convergence warnings."""

    def __init__(self):
        self.best = None  # (aic, forecast, detail)
        self.fits = self.failed = self.convergence_warnings = 0

    def try_fit(self, detail, fit, forecast):
        self.fits += 1
        try:
            result, warned = fit_quietly(fit)
            self.convergence_warnings += warned
            aic = result.aic
            prediction = np.asarray(forecast(result), dtype=float)
        except (np.linalg.LinAlgError, ValueError) as e:
            self.failed += 1
            print(f"  {detail}: fit failed: {e}", file=sys.stderr)
            return
        # A fit whose AIC is undefined or whose forecast blows up cannot be chosen.
        if not (np.isfinite(aic) and np.all(np.isfinite(prediction))):
            self.failed += 1
            return
        if self.best is None or aic < self.best[0]:
            self.best = (aic, prediction, detail)

    def outcome(self):
        if self.best is None:
            raise DataError("every candidate fit failed")
        aic, prediction, detail = self.best
        return prediction, (f"{detail} AIC={aic:.2f}; {self.fits} fits, {self.failed} failed, "
                            f"{self.convergence_warnings} convergence warnings")


def forecast_arima(train, horizon, season):
    search = Search()
    n = len(train)
    pair_counts = [0] if season == 1 else list(range(1, MAX_FOURIER_PAIRS + 1))
    if 1 < season <= MAX_SEASONAL_ARIMA_PERIOD:
        pair_counts = [0] + pair_counts
    for pairs in pair_counts:
        exog = fourier_terms(0, n, season, pairs) if pairs else None
        future = fourier_terms(n, horizon, season, pairs) if pairs else None
        for d in (0, 1):
            trend = "c" if d == 0 else "t"
            for p in range(4):
                for q in range(4):
                    model = ARIMA(train, exog=exog, order=(p, d, q), trend=trend)
                    detail = f"order ({p},{d},{q}) trend={trend} K={pairs}"
                    search.try_fit(detail, model.fit, lambda r: r.forecast(horizon, exog=future))
    return search.outcome()


def forecast_holt_winters(train, horizon, season):
    search = Search()
    if season == 1:
        seasonal_kinds = [None]
    elif np.all(train > 0):
        seasonal_kinds = ["add", "mul"]
    else:
        seasonal_kinds = ["add"]
    for seasonal in seasonal_kinds:
        for damped in (False, True):
            model = ExponentialSmoothing(train, trend="add", damped_trend=damped,
                                         seasonal=seasonal,
                                         seasonal_periods=season if seasonal else None,
                                         initialization_method="estimated")
            detail = f"trend=add damped={damped} seasonal={seasonal}"
            search.try_fit(detail, model.fit, lambda r: r.forecast(horizon))
    return search.outcome()


def forecast(model, train, horizon, season):
    """(forecast of the next `horizon` values, detail string)."""
    n = len(train)
    steps = np.arange(1, horizon + 1)
    if model == "last":
        return np.full(horizon, train[-1]), ""
    if model == "drift":
        return train[-1] + steps * (train[-1] - train[0]) / (n - 1), ""
    if model == "seasonal-naive":
        return train[n - season + (steps - 1) % season], f"M={season}"
    if model == "arima":
        return forecast_arima(train, horizon, season)
    return forecast_holt_winters(train, horizon, season)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", required=True, help="CSV file with a header row")
    ap.add_argument("--column", required=True, help="header name or 0-based index")
    ap.add_argument("--horizon", type=int, required=True, help="held-out values H (>= 1)")
    ap.add_argument("--season", type=int, required=True, help="seasonal period M (1 = none)")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of "
                    + ",".join(MODELS))
    args = ap.parse_args()
    if args.horizon < 1:
        ap.error("--horizon must be at least 1")
    if args.season < 1:
        ap.error("--season must be at least 1")
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in MODELS]
    if unknown or not args.models:
        ap.error(f"--models: unknown {unknown}; choose from {','.join(MODELS)}")
    return args


def main():
    args = parse_args()
    try:
        column, values = read_column(args.csv, args.column)
        y, filled = fill_missing(values)
        horizon, season = args.horizon, args.season
        # Two full seasons (Holt-Winters' minimum) plus two values for the drift and the scale.
        if len(y) < horizon + 2 * season + 2:
            raise DataError(f"series has {len(y)} values after dropping leading/trailing "
                            f"missing ones; needs at least H + 2*M + 2 = "
                            f"{horizon + 2 * season + 2}")
        train, test = y[:-horizon], y[-horizon:]
        scale = float(np.mean(np.abs(train[season:] - train[:-season])))
        if scale == 0:
            raise DataError(f"MASE scale is zero: the training part repeats with period {season}")
    except DataError as e:
        print(f"forecast_statsmodels: {e}", file=sys.stderr)
        sys.exit(1)

    series = os.path.basename(args.csv)
    print(f"{series} column {column!r}: {len(y)} values ({filled} interior missing filled), "
          f"n_train={len(train)}, n_test={horizon}, M={season}, MASE scale={scale:.6g}",
          file=sys.stderr)
    rows = []
    for model in args.models:
        started = time.perf_counter()
        try:
            prediction, detail = forecast(model, train, horizon, season)
        except DataError as e:
            print(f"forecast_statsmodels: {model}: {e}", file=sys.stderr)
            sys.exit(1)
        seconds = time.perf_counter() - started
        errors = prediction - test
        mae = float(np.mean(np.abs(errors)))
        row = {"series": series, "column": column, "model": model, "detail": detail,
               "mae": mae, "rmse": float(np.sqrt(np.mean(errors ** 2))), "mase": mae / scale,
               "seconds": round(seconds, 3), "n_train": len(train), "filled": filled,
               "scale": scale}
        print(json.dumps(row), flush=True)
        rows.append(row)

    print("\n| model | detail | MAE | RMSE | MASE | seconds |\n|---|---|---:|---:|---:|---:|",
          file=sys.stderr)
    for r in rows:
        print(f"| {r['model']} | {r['detail']} | {r['mae']:.4f} | {r['rmse']:.4f} | "
              f"{r['mase']:.4f} | {r['seconds']:.2f} |", file=sys.stderr)


if __name__ == "__main__":
    main()
