#!/usr/bin/python3
"""Seasonal-naive baseline under the `prescaler forecast` contract.

Point forecast from origin t, h steps ahead (h <= m):

    yhat[t + h] = y[t + h - m]          (the same step one season earlier)

Interval: at every refit origin, the empirical (1-c)/2 and (1+c)/2 quantiles
of the in-sample seasonal-naive errors e_j = y[j] - y[j - m] over the trailing
--train window (targets j with a full season of history inside the window)
are added to the point forecast. For h <= m the h-step seasonal-naive error
is the same as the one-step one, so the interval does not depend on h.
"""

from __future__ import annotations

import argparse
import time

import common  # first: it explains a missing numpy

import numpy as np



def naive_errors(window: np.ndarray, m: int) -> np.ndarray:
    """In-sample seasonal-naive errors y[j] - y[j - m], j = m .. len - 1."""
    return window[m:] - window[:-m]


def run(series: common.Series, proto: common.Protocol):
    """Forecast every origin; return the rows and the per-refit timings."""
    y = series.values
    m, h = proto.season, proto.horizon
    rows: list[common.ForecastRow] = []
    fit_seconds: list[float] = []
    for segment in common.refit_segments(len(y), proto):
        started = time.perf_counter()
        window = common.training_window(y, segment.start, proto.n_train)
        q_lo, q_hi = common.error_quantiles(naive_errors(window, m),
                                            proto.interval)
        fit_seconds.append(time.perf_counter() - started)
        for origin in range(segment.start, segment.stop):
            target = origin + h
            point = y[target - m]  # uses y[0..origin] only since h <= m
            rows.append(common.ForecastRow(
                unix_minute=series.minute_of(target), actual=y[target],
                forecast=point, lower=point + q_lo, upper=point + q_hi))
    return rows, fit_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_contract_arguments(parser)
    parser.add_argument("--model-name", default="seasonal-naive",
                        help="name written to the report's 'model' field")
    args = parser.parse_args()
    proto = common.protocol_from_args(args)
    if proto.horizon > proto.season:
        common.fail("seasonal naive needs --horizon <= --season")
    started = time.perf_counter()
    series = common.load_series(args.trace, proto.step_minutes)
    rows, fit_seconds = run(series, proto)
    common.write_forecasts(args.out, rows)
    common.write_report(args.report, {
        "model": f"{args.model_name} (m={proto.season} steps)",
        "fits": len(fit_seconds),
        "fit_seconds": fit_seconds,
        "fit_seconds_median": float(np.median(fit_seconds)),
        "rows": len(rows),
        "wall_seconds": time.perf_counter() - started,
        "interval_method": "empirical quantiles of in-sample seasonal-naive "
                           "errors on the trailing training window",
    })


if __name__ == "__main__":
    main()
