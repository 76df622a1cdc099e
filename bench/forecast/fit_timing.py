#!/usr/bin/python3
"""Time one statsmodels Holt-Winters fit and compare it with the Go fit.

The series is the first --train (default 14 days) of a trace at --step
(default 1 minute, so m = 1440 for --season 1d): the same fit that
statsmodels_forecast.py makes at its first origin. The statsmodels time is
the median of --repeat fits. The Go time is the median, over the reports
passed with --go-report, of fit_seconds[0] of `prescaler forecast ...
--train 14d --report R.json` on the same series; run.sh produces them on a
trace cut so that only that first fit happens.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

import common
import statsmodels_forecast as sm


def time_statsmodels(path: str, step: int, season: int, train: int,
                     repeat: int) -> tuple[list[float], list]:
    """Wall seconds and optimizer SSE evaluations of `repeat` fits."""
    series = common.load_series(path, step)
    m = common.steps_of(season, step, "season")
    n_train = common.steps_of(train, step, "train")
    if len(series.values) < n_train:
        common.fail(f"{path} has fewer than {n_train} steps")
    window = series.values[:n_train]
    seconds, evaluations = [], []
    for run in range(1, repeat + 1):
        res, took, _ = sm.fit_statsmodels(window, m)
        seconds.append(took)
        evaluations.append(sm.optimizer_info(res)["nfev"])
        print(f"statsmodels fit {run}/{repeat}: {took:.2f}s, "
              f"{evaluations[-1]} SSE evaluations", file=sys.stderr, flush=True)
    return seconds, evaluations


def go_first_fit(path: str) -> float:
    """fit_seconds[0] from a prescaler forecast report."""
    with open(path) as handle:
        report = json.load(handle)
    fits = report.get("fit_seconds") or []
    if not fits:
        common.fail(f"{path}: no fit_seconds")
    return float(fits[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace", required=True)
    parser.add_argument("--step", type=common.parse_minutes, default=1)
    parser.add_argument("--season", type=common.parse_minutes, default=1440)
    parser.add_argument("--train", type=common.parse_minutes, default=14 * 1440)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--go-report", action="append", default=[],
                        help="prescaler forecast --report JSON; repeat it for "
                             "several runs (the median first-fit time is used)")
    parser.add_argument("--json", help="write the timing as JSON here")
    args = parser.parse_args()
    seconds, evaluations = time_statsmodels(args.trace, args.step, args.season, args.train,
                               args.repeat)
    sm_median = statistics.median(seconds)
    go_runs = [go_first_fit(path) for path in args.go_report]
    go_seconds = statistics.median(go_runs) if go_runs else None
    speedup = sm_median / go_seconds if go_seconds else None
    n = args.train // args.step
    line = (f"fit timing ({n} points, step {args.step}m, "
            f"m={args.season // args.step}): statsmodels median "
            f"{sm_median:.2f}s over {args.repeat} fits")
    if go_seconds is not None:
        line += (f"; prescaler median {go_seconds:.4g}s over {len(go_runs)} "
                 f"runs; speed-up {speedup:.3g}x")
    print(line)
    common.write_report(args.json, {
        "points": n, "step_minutes": args.step,
        "season_steps": args.season // args.step,
        "statsmodels_fit_seconds": seconds,
        "statsmodels_fit_seconds_median": sm_median,
        "statsmodels_sse_evaluations": evaluations,
        "prescaler_fit_seconds": go_runs,
        "prescaler_fit_seconds_median": go_seconds,
        "speedup": speedup, "summary": line})


if __name__ == "__main__":
    main()
