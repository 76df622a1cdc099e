"""Shared pieces of the forecast benchmark: CLI contract, trace aggregation,
rolling-origin schedule, empirical intervals and output writers.

Every baseline script (statsmodels_forecast.py, seasonal_naive.py) follows the
same contract as `prescaler forecast`, so that the three output files line up
row by row:

  * the per-minute trace is summed into steps of --step minutes: step k covers
    minutes first + k*step ... first + k*step + step - 1; a trailing partial
    step is dropped;
  * rolling origin, strictly causal: the model is fitted on the first --train
    of data, refitted every --refit, and from every origin t >= n_train - 1
    the step t + h is forecast (h = horizon / step) using y[0..t] only;
  * output CSV header: unix_minute,actual,forecast,lower,upper, where
    unix_minute is the first minute of the forecast step.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
from dataclasses import dataclass
from typing import Sequence

try:
    import numpy as np
except ImportError:  # depends on the host
    print(f"error: numpy is not importable by {sys.executable}; run the "
          "benchmark with /usr/bin/python3 (apt-get install python3-numpy "
          "python3-pandas python3-statsmodels)", file=sys.stderr)
    sys.exit(2)

MINUTES_PER_UNIT = {"m": 1, "h": 60, "d": 1440, "w": 10080}


def parse_minutes(text: str) -> int:
    """Parse a duration such as '5m', '1h', '1d', '7d' or '2w' into minutes."""
    text = text.strip()
    if not text:
        raise argparse.ArgumentTypeError("empty duration")
    unit = text[-1]
    if unit not in MINUTES_PER_UNIT:
        raise argparse.ArgumentTypeError(
            f"duration {text!r}: unit must be one of m, h, d, w")
    try:
        value = float(text[:-1])
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"duration {text!r}: {err}") from err
    minutes = value * MINUTES_PER_UNIT[unit]
    if minutes <= 0 or minutes != int(minutes):
        raise argparse.ArgumentTypeError(
            f"duration {text!r} must be a positive whole number of minutes")
    return int(minutes)


def fail(message: str) -> None:
    """Print an error to stderr and exit with status 2."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


@dataclass(frozen=True)
class Protocol:
    """The rolling-origin protocol, all lengths counted in model steps."""

    step_minutes: int
    season: int       # m, steps per season
    horizon: int      # h, steps ahead
    n_train: int      # length of the (trailing) fitting window
    refit: int        # steps between refits
    interval: float   # central prediction-interval level, e.g. 0.8


def add_contract_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments shared with `prescaler forecast`."""
    parser.add_argument("--trace", required=True,
                        help="per-minute CSV with header unix_minute,requests")
    parser.add_argument("--step", type=parse_minutes, default=5,
                        help="model step, e.g. 1m or 5m (default 5m)")
    parser.add_argument("--season", type=parse_minutes, required=True,
                        help="season length, e.g. 1d")
    parser.add_argument("--horizon", type=parse_minutes, required=True,
                        help="how far ahead each forecast is, e.g. 15m")
    parser.add_argument("--train", type=parse_minutes, required=True,
                        help="initial fitting window, also the refit window")
    parser.add_argument("--refit", type=parse_minutes, required=True,
                        help="time between refits, e.g. 1d")
    parser.add_argument("--interval", type=float, default=0.8,
                        help="central prediction-interval level (default 0.8)")
    parser.add_argument("--out", required=True, help="output CSV")
    parser.add_argument("--report", help="optional JSON report")


def steps_of(minutes: int, step: int, name: str) -> int:
    """Convert a duration to a whole number of steps, or fail."""
    if minutes % step:
        fail(f"--{name} ({minutes}m) is not a multiple of --step ({step}m)")
    return minutes // step


def protocol_from_args(args: argparse.Namespace) -> Protocol:
    """Validate the contract arguments and express them in model steps."""
    if not 0 < args.interval < 1:
        fail("--interval must be in (0, 1)")
    proto = Protocol(
        step_minutes=args.step,
        season=steps_of(args.season, args.step, "season"),
        horizon=steps_of(args.horizon, args.step, "horizon"),
        n_train=steps_of(args.train, args.step, "train"),
        refit=steps_of(args.refit, args.step, "refit"),
        interval=args.interval,
    )
    if proto.season < 2:
        fail("--season must span at least two steps")
    if proto.n_train < 2 * proto.season:
        fail("--train must cover at least two seasons")
    return proto


@dataclass
class Series:
    """A trace summed into model steps."""

    first_minute: int
    step_minutes: int
    values: np.ndarray  # float64, one value per step

    def minute_of(self, index: int) -> int:
        """First unix minute of step `index`."""
        return self.first_minute + index * self.step_minutes


def load_series(path: str, step_minutes: int) -> Series:
    """Read a per-minute trace and sum it into steps of `step_minutes`.

    Step k covers minutes first + k*step ... + step - 1 (first = the first
    minute in the file); the trailing partial step is dropped. Minutes absent
    from the file count as zero (the shared traces are zero-filled anyway).
    """
    if not os.path.isfile(path):
        fail(f"trace {path} not found (is PRESCALER_TRACES set right?)")
    with open(path, newline="") as handle:
        header = handle.readline().strip()
        if header != "unix_minute,requests":
            fail(f"{path}: header is {header!r}, want 'unix_minute,requests'")
        data = np.loadtxt(handle, delimiter=",", dtype=np.float64, ndmin=2)
    if data.size == 0:
        fail(f"{path}: no rows")
    minutes = data[:, 0].astype(np.int64)
    first, last = int(minutes[0]), int(minutes.max())
    if np.any(np.diff(minutes) <= 0):
        fail(f"{path}: unix_minute is not strictly increasing")
    n_steps = (last - first + 1) // step_minutes
    index = (minutes - first) // step_minutes
    keep = index < n_steps
    values = np.bincount(index[keep], weights=data[keep, 1],
                         minlength=n_steps).astype(np.float64)
    return Series(first_minute=first, step_minutes=step_minutes, values=values)


@dataclass(frozen=True)
class Segment:
    """Origins [start, stop) that share one fit made at origin `start`."""

    start: int
    stop: int


def refit_segments(n: int, proto: Protocol) -> list[Segment]:
    """Split the forecast origins into refit segments.

    Origins run from n_train - 1 (the last training step) to n - 1 - h (the
    last origin whose target y[t + h] exists). A fit happens at the first
    origin and then every `refit` steps; it uses the trailing window
    y[start - n_train + 1 .. start].
    """
    first_origin = proto.n_train - 1
    last_origin = n - 1 - proto.horizon
    if last_origin < first_origin:
        fail(f"trace has {n} steps: too short for --train plus --horizon")
    segments = []
    for start in range(first_origin, last_origin + 1, proto.refit):
        segments.append(Segment(start, min(start + proto.refit, last_origin + 1)))
    return segments


def training_window(values: np.ndarray, origin: int, n_train: int) -> np.ndarray:
    """The trailing fitting window y[origin - n_train + 1 .. origin]."""
    return values[origin - n_train + 1: origin + 1]


def error_quantiles(errors: np.ndarray, interval: float) -> tuple[float, float]:
    """Empirical (1-c)/2 and (1+c)/2 quantiles of forecast errors y - yhat.

    The interval for a new forecast yhat is then [yhat + q_lo, yhat + q_hi]:
    if future errors are distributed like the in-sample ones, it covers the
    actual with probability c.
    """
    errors = errors[np.isfinite(errors)]
    if errors.size == 0:
        return math.nan, math.nan
    lo, hi = np.quantile(errors, [(1 - interval) / 2, (1 + interval) / 2])
    return float(lo), float(hi)


@dataclass
class ForecastRow:
    unix_minute: int
    actual: float
    forecast: float
    lower: float
    upper: float


def format_number(value: float) -> str:
    """Compact but lossless enough number formatting; NaN as empty."""
    if not math.isfinite(value):
        return ""
    return f"{value:.10g}"


def write_forecasts(path: str, rows: Sequence[ForecastRow]) -> None:
    """Write the contract CSV: unix_minute,actual,forecast,lower,upper."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["unix_minute", "actual", "forecast", "lower", "upper"])
        for row in rows:
            writer.writerow([row.unix_minute, format_number(row.actual),
                             format_number(row.forecast),
                             format_number(row.lower),
                             format_number(row.upper)])


def json_safe(value):
    """Replace NaN/inf (not valid JSON) by None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def write_report(path: str | None, report: dict) -> None:
    """Write a JSON report (strict JSON: NaN becomes null), if asked for."""
    if not path:
        return
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with open(path, "w") as handle:
        json.dump(json_safe(report), handle, indent=2, sort_keys=True,
                  allow_nan=False)
        handle.write("\n")
