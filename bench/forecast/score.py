#!/usr/bin/python3
"""Score forecast CSVs of one benchmark case, and combine scored cases.

  score.py case  --trace T --step 5m --season 1d --train 14d --horizon 15m \
                 --method prescaler=P.csv[:P.json] \
                 --method statsmodels=S.csv[:S.json] \
                 --method seasonal-naive=N.csv[:N.json] \
                 --label nasa --json OUT.json
  score.py table OUT1.json OUT2.json ...

Per method: MAE, MASE, coverage of the prediction interval, mean interval
width, rows scored, and the median fit time from the method's report.
With --peaks (the JSON of bench/forecast/peaks, prescaler only): the coverage
of the peak quantile, the share of origins whose realised peak over the next
k steps is at most PeakQuantile(k, 0.9), next to the same share for the
largest per-step quantile max_j Quantile(j, 0.9).
Rows are joined on unix_minute; only rows present in every method's file,
with a finite actual and finite forecasts everywhere, are scored.

MASE = MAE / d, with d the in-sample one-step seasonal-naive MAE over the
first --train of the trace at the model step:
    d = mean_{t = m .. n_train - 1} |y_t - y_{t-m}|
(the same d for every method and both horizons of a trace/step, so MASE
ratios equal MAE ratios; MASE < 1 beats seasonal naive's in-sample error).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

import common  # first: it explains a missing numpy

import numpy as np
import pandas as pd


REFERENCE_METHOD = "statsmodels"
PEAK_METHOD = "prescaler"  # the method --peaks describes


def parse_method(text: str) -> tuple[str, str, str | None]:
    """'name=out.csv[:report.json]' -> (name, csv, report)."""
    name, sep, paths = text.partition("=")
    if not sep or not name or not paths:
        raise argparse.ArgumentTypeError(
            f"--method {text!r}: want NAME=CSV[:REPORT.json]")
    csv_path, _, report = paths.partition(":")
    return name, csv_path, report or None


def mase_scale(series: common.Series, m: int, n_train: int) -> float:
    """In-sample one-step seasonal-naive MAE on the training part."""
    train = series.values[:n_train]
    if len(train) <= m:
        common.fail("training part shorter than one season")
    return float(np.mean(np.abs(train[m:] - train[:-m])))


def read_forecasts(path: str) -> pd.DataFrame:
    """Read one contract CSV indexed by unix_minute (empty cells -> NaN)."""
    if not os.path.isfile(path):
        common.fail(f"forecast file {path} not found")
    frame = pd.read_csv(path)
    want = ["unix_minute", "actual", "forecast", "lower", "upper"]
    if list(frame.columns) != want:
        common.fail(f"{path}: header {list(frame.columns)}, want {want}")
    if frame.unix_minute.duplicated().any():
        common.fail(f"{path}: duplicate unix_minute rows")
    return frame.set_index("unix_minute").astype(float)


def read_fit_median(path: str | None) -> float:
    if not path or not os.path.isfile(path):
        return math.nan
    with open(path) as handle:
        value = json.load(handle).get("fit_seconds_median")
    return float(value) if value is not None else math.nan


def actual_mismatches(frame: pd.DataFrame, series: common.Series) -> int:
    """Rows whose 'actual' differs from the trace summed at the model step.

    A mismatch means the method aggregated or aligned steps differently from
    the contract; its scores would not be comparable.
    """
    index = (frame.index.to_numpy(np.int64) - series.first_minute)
    if np.any(index % series.step_minutes):
        return len(frame)
    index //= series.step_minutes
    inside = (index >= 0) & (index < len(series.values))
    expected = np.full(len(frame), np.nan)
    expected[inside] = series.values[index[inside]]
    actual = frame.actual.to_numpy()
    ok = np.isnan(actual) | np.isclose(actual, expected, rtol=1e-9, atol=1e-6)
    return int(np.count_nonzero(~ok))


def common_rows(frames: dict[str, pd.DataFrame]) -> pd.Index:
    """unix_minutes present in every file with finite actual and forecast."""
    keep = None
    for frame in frames.values():
        good = frame.index[np.isfinite(frame.actual) & np.isfinite(frame.forecast)]
        keep = good if keep is None else keep.intersection(good)
    return keep.sort_values()


def method_scores(frame: pd.DataFrame, scale: float) -> dict:
    """MAE, MASE, interval coverage and width over the given rows."""
    error = np.abs(frame.actual - frame.forecast)
    has_interval = np.isfinite(frame.lower) & np.isfinite(frame.upper)
    banded = frame[has_interval]
    covered = (banded.lower <= banded.actual) & (banded.actual <= banded.upper)
    mae = float(error.mean())
    return {
        "rows_scored": int(len(frame)),
        "mae": mae,
        "mase": mae / scale if scale > 0 else math.nan,
        "coverage": float(covered.mean()) if len(banded) else math.nan,
        "interval_rows": int(len(banded)),
        "width": float((banded.upper - banded.lower).mean())
        if len(banded) else math.nan,
    }


def read_peaks(path: str | None) -> list[dict]:
    """Peak-quantile scores written by bench/forecast/peaks (or none)."""
    if not path:
        return []
    if not os.path.isfile(path):
        common.fail(f"peak scores {path} not found")
    with open(path) as handle:
        report = json.load(handle)
    return [{"window_minutes": p["window_minutes"], "window_steps": p["window_steps"],
             "quantile": report["quantile"], "origins": p["origins"],
             "coverage": p["coverage"],
             "max_of_steps_coverage": p["max_of_steps_coverage"],
             "pinball": p["pinball"],
             "max_of_steps_pinball": p["max_of_steps_pinball"]}
            for p in report["peaks"]]


def score_case(args: argparse.Namespace) -> dict:
    step = args.step
    series = common.load_series(args.trace, step)
    m = common.steps_of(args.season, step, "season")
    n_train = common.steps_of(args.train, step, "train")
    scale = mase_scale(series, m, n_train)
    frames = {name: read_forecasts(path) for name, path, _ in args.method}
    rows = common_rows(frames)
    if len(rows) == 0:
        common.fail("no rows common to all methods")
    results = []
    for name, path, report in args.method:
        frame = frames[name]
        entry = {"method": name, "csv": path, "rows_in_file": int(len(frame)),
                 "actual_mismatches": actual_mismatches(frame, series),
                 "fit_seconds_median": read_fit_median(report)}
        entry.update(method_scores(frame.loc[rows], scale))
        entry["peaks"] = read_peaks(args.peaks) if name == PEAK_METHOD else []
        results.append(entry)
        if entry["actual_mismatches"]:
            print(f"WARNING: {name}: {entry['actual_mismatches']} rows whose "
                  "actual differs from the trace aggregated at the model step",
                  file=sys.stderr)
    add_ratios(results)
    return {"label": args.label, "trace": args.trace,
            "step": f"{step}m", "horizon": f"{args.horizon}m",
            "season_steps": m, "train_steps": n_train,
            "interval": args.interval, "mase_scale": scale,
            "rows_common": int(len(rows)),
            "first_minute": int(rows[0]), "last_minute": int(rows[-1]),
            "methods": results}


def add_ratios(results: list[dict]) -> None:
    """MASE of each method divided by the statsmodels MASE."""
    reference = next((r["mase"] for r in results
                      if r["method"] == REFERENCE_METHOD), math.nan)
    for result in results:
        result["mase_ratio_vs_statsmodels"] = (
            result["mase"] / reference if reference and reference > 0
            else math.nan)


def fmt(value: float, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.{digits}f}"


def fmt_width(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}"


def fmt_peaks(peaks: list[dict], key: str) -> str:
    """'5m 0.906, 10m 0.900': a coverage per peak window."""
    if not peaks:
        return "–"
    return ", ".join(f"{p['window_minutes']}m {fmt(p[key])}" for p in peaks)


def table_lines(cases: list[dict]) -> list[str]:
    """One markdown table, a row per (trace, step, horizon, method)."""
    level = int(round(100 * cases[0]["interval"])) if cases else 80
    lines = [f"| trace | step | horizon | method | MASE | ratio vs statsmodels "
             f"| coverage{level} | width | peak q90 coverage "
             f"| max-step q90 peak coverage | median fit s | rows |",
             "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for case in cases:
        for r in case["methods"]:
            peaks = r.get("peaks", [])
            lines.append(
                f"| {case['label']} | {case['step']} | {case['horizon']} "
                f"| {r['method']} | {fmt(r['mase'])} "
                f"| {fmt(r['mase_ratio_vs_statsmodels'])} "
                f"| {fmt(r['coverage'])} | {fmt_width(r['width'])} "
                f"| {fmt_peaks(peaks, 'coverage')} "
                f"| {fmt_peaks(peaks, 'max_of_steps_coverage')} "
                f"| {fmt(r['fit_seconds_median'], 4)} | {r['rows_scored']} |")
    return lines


def command_case(args: argparse.Namespace) -> None:
    result = score_case(args)
    if args.json:
        common.write_report(args.json, result)
    print("\n".join(table_lines([result])))


def command_table(args: argparse.Namespace) -> None:
    cases = []
    for path in args.files:
        with open(path) as handle:
            cases.append(json.load(handle))
    print("\n".join(table_lines(cases)))


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Score forecast CSVs (see module docstring).")
    sub = parser.add_subparsers(dest="command", required=True)
    case = sub.add_parser("case", help="score one case")
    case.add_argument("--trace", required=True)
    case.add_argument("--label", required=True, help="trace name for the table")
    case.add_argument("--step", type=common.parse_minutes, required=True)
    case.add_argument("--season", type=common.parse_minutes, required=True)
    case.add_argument("--train", type=common.parse_minutes, required=True)
    case.add_argument("--horizon", type=common.parse_minutes, required=True)
    case.add_argument("--interval", type=float, default=0.8)
    case.add_argument("--method", type=parse_method, action="append",
                      required=True, help="NAME=CSV[:REPORT.json], repeated")
    case.add_argument("--peaks", help="peak-quantile scores of prescaler "
                      "(JSON from bench/forecast/peaks)")
    case.add_argument("--json", help="write the scores as JSON here")
    case.set_defaults(run=command_case)
    table = sub.add_parser("table", help="combine case JSONs into one table")
    table.add_argument("files", nargs="+")
    table.set_defaults(run=command_table)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
