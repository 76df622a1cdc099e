#!/usr/bin/python3
"""statsmodels Holt-Winters baseline under the `prescaler forecast` contract.

Model: ExponentialSmoothing(trend='add', damped_trend=True, seasonal='add',
seasonal_periods=m, initialization_method='estimated').fit(), refitted every
--refit on the trailing --train window (the same window length as the initial
fit). Between refits the model is NOT refitted: the fitted smoothing
parameters are kept and the Holt-Winters recursion is run forward over each
new observation, so every origin forecasts with states that use data up to
that origin only.

Recursion (component form of statsmodels 0.13, holtwinters/model.py
`_predict`, seasonal='add', damped additive trend), for each observation y_t:

    l_t = alpha (y_t - s_{t-m}) + (1 - alpha) (l_{t-1} + phi b_{t-1})
    b_t = beta (l_t - l_{t-1}) + (1 - beta) phi b_{t-1}
    s_t = gamma (y_t - l_{t-1} - phi b_{t-1}) + (1 - gamma) s_{t-m}

one-step fitted value  yhat_{t|t-1} = l_{t-1} + phi b_{t-1} + s_{t-m},
h-step forecast        yhat_{t+h|t} = l_t + (phi + ... + phi^h) b_t
                                      + s_{t+h-m*ceil(h/m)}.

Intervals: statsmodels 0.13's Holt-Winters has no analytic intervals. At each
refit we compute the in-sample h-step-ahead errors y_{j} - yhat_{j|j-h} of the
fitted model over the training window (targets j >= m, i.e. after the first
season) and add their empirical (1-c)/2 and (1+c)/2 quantiles to the point
forecast.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from dataclasses import dataclass

try:
    import statsmodels
    from statsmodels.tsa.holtwinters import ExponentialSmoothing
except ImportError:  # depends on the host
    print("error: statsmodels is not importable by this interpreter "
          f"({sys.executable}); install it with: "
          "apt-get install python3-statsmodels (and run /usr/bin/python3)",
          file=sys.stderr)
    sys.exit(2)

import numpy as np

import common

# Fitted values must match statsmodels' own to this relative tolerance.
RECURSION_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Smoothing:
    """Fitted smoothing parameters: level, trend, season, damping."""

    alpha: float
    beta: float
    gamma: float
    phi: float


@dataclass
class States:
    """Holt-Winters states after each observation of a stretch of data.

    level[i], trend[i]: l and b after observing y[i];
    season[i]: s_{i-m}, so season[:m] are the states before the stretch and
    season[m + i] is s_i after observing y[i].
    """

    level: np.ndarray
    trend: np.ndarray
    season: np.ndarray
    fitted: np.ndarray  # one-step fitted values yhat_{i|i-1}


def hw_filter(y: np.ndarray, par: Smoothing, level0: float, trend0: float,
              season0: np.ndarray) -> States:
    """Run the additive damped Holt-Winters recursion over y.

    level0/trend0 are l and b before y[0]; season0 holds the m seasonal states
    before y[0] (oldest first). Plain loop on Python floats, on purpose: it
    must mirror statsmodels' arithmetic, and ~100k steps take well under a
    second.
    """
    m = len(season0)
    n = len(y)
    ys = y.tolist()
    level, trend, fitted = [0.0] * n, [0.0] * n, [0.0] * n
    season = list(map(float, season0)) + [0.0] * n
    a, b, g, phi = par.alpha, par.beta, par.gamma, par.phi
    prev_l, prev_b = float(level0), float(trend0)
    for i in range(n):
        s_lag = season[i]                 # s_{i-m}
        damped = prev_l + phi * prev_b    # l_{i-1} + phi b_{i-1}
        fitted[i] = damped + s_lag
        cur_l = a * (ys[i] - s_lag) + (1 - a) * damped
        cur_b = b * (cur_l - prev_l) + (1 - b) * phi * prev_b
        season[i + m] = g * (ys[i] - damped) + (1 - g) * s_lag
        level[i], trend[i] = cur_l, cur_b
        prev_l, prev_b = cur_l, cur_b
    return States(np.array(level), np.array(trend), np.array(season),
                  np.array(fitted))


def damped_sum(phi: float, h: int) -> float:
    """phi + phi^2 + ... + phi^h, the damped trend multiplier."""
    return sum(phi ** k for k in range(1, h + 1))


def forecasts_from(states: States, origins: np.ndarray, h: int, m: int,
                   phi: float) -> np.ndarray:
    """h-step forecasts from the given origins (indices into `states`).

    yhat_{t+h|t} = l_t + (phi + ... + phi^h) b_t + s_{t+h-m*ceil(h/m)};
    s_k is stored at season[m + k].
    """
    season_offset = h - m * math.ceil(h / m)   # in (-m, 0]
    return (states.level[origins] + damped_sum(phi, h) * states.trend[origins]
            + states.season[m + origins + season_offset])


def smoothing_of(res) -> Smoothing:
    """alpha, beta, gamma, phi of a statsmodels HoltWintersResults."""
    p = res.params
    return Smoothing(float(p["smoothing_level"]), float(p["smoothing_trend"]),
                     float(p["smoothing_seasonal"]), float(p["damping_trend"]))


def fit_statsmodels(window: np.ndarray, m: int) -> tuple[object, float, list[str]]:
    """One statsmodels fit; returns (results, seconds, warning messages)."""
    model = ExponentialSmoothing(window, trend="add", damped_trend=True,
                                 seasonal="add", seasonal_periods=m,
                                 initialization_method="estimated")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        started = time.perf_counter()
        res = model.fit()
        seconds = time.perf_counter() - started
    return res, seconds, [str(w.message) for w in caught]


def relative_gap(mine: np.ndarray, theirs: np.ndarray) -> float:
    """max |mine - theirs| relative to the size of theirs (at least 1)."""
    scale = max(float(np.max(np.abs(theirs))), 1.0)
    return float(np.max(np.abs(mine - theirs))) / scale


def replay_training(window: np.ndarray, res, m: int, h: int) -> tuple[States, float]:
    """Re-run the recursion on the training window from the fitted initial
    states and check it against statsmodels (fitted values, end states and
    its own h-step forecast). Returns the states and the largest gap."""
    p = res.params
    par = smoothing_of(res)
    states = hw_filter(window, par, p["initial_level"], p["initial_trend"],
                       np.asarray(p["initial_seasons"], dtype=float))
    n = len(window)
    own_forecast = forecasts_from(states, np.array([n - 1]), h, m, par.phi)
    gaps = {
        "fittedvalues": relative_gap(states.fitted, np.asarray(res.fittedvalues)),
        "level": relative_gap(states.level, np.asarray(res.level)),
        "trend": relative_gap(states.trend, np.asarray(res.trend)),
        "season": relative_gap(states.season[m:], np.asarray(res.season)),
        "forecast": relative_gap(own_forecast,
                                 np.asarray(res.forecast(h))[-1:]),
    }
    worst = max(gaps.values())
    if not worst < RECURSION_TOLERANCE:  # an assertion that survives -O
        raise AssertionError(
            f"Holt-Winters recursion does not reproduce statsmodels: {gaps}")
    return states, worst


def insample_interval(window: np.ndarray, states: States, phi: float,
                      proto: common.Protocol) -> tuple[float, float]:
    """Quantiles of the fitted model's in-sample h-step errors y_j - yhat_{j|j-h}
    over the training window, for targets j = max(m, h) .. n_train - 1."""
    m, h = proto.season, proto.horizon
    targets = np.arange(max(m, h), len(window))
    predicted = forecasts_from(states, targets - h, h, m, phi)
    return common.error_quantiles(window[targets] - predicted, proto.interval)


def live_states(y: np.ndarray, segment: common.Segment, res, par: Smoothing,
                m: int) -> States:
    """States at every origin of the segment, without refitting.

    Index 0 is origin segment.start (statsmodels' end-of-training states);
    the recursion is then run forward with the fitted parameters over
    y[start+1 .. stop-1], one observation per later origin.
    """
    end_season = np.asarray(res.season, dtype=float)
    cont = hw_filter(y[segment.start + 1: segment.stop], par,
                     res.level[-1], res.trend[-1], end_season[-m:])
    return States(
        level=np.concatenate(([res.level[-1]], cont.level)),
        trend=np.concatenate(([res.trend[-1]], cont.trend)),
        # season[i] = s_{start+i-m}: s_{start-m} .. s_start, then the new ones.
        season=np.concatenate((end_season[-m - 1:], cont.season[m:])),
        fitted=np.concatenate(([np.nan], cont.fitted)))


def optimizer_info(res) -> dict:
    """scipy's success flag and SSE evaluation count, when statsmodels kept them."""
    retvals = getattr(res, "mle_retvals", None)
    if not isinstance(retvals, dict):
        return {"optimizer_success": None, "nfev": None}
    success = retvals.get("success")
    nfev = retvals.get("nfev")
    return {"optimizer_success": None if success is None else bool(success),
            "nfev": None if nfev is None else int(nfev)}


def run_segment(y: np.ndarray, segment: common.Segment,
                proto: common.Protocol) -> tuple[np.ndarray, float, float, dict]:
    """Fit at segment.start, then forecast from every origin of the segment.

    Returns the point forecasts (one per origin), the interval's error
    quantiles and a log entry for the report.
    """
    m, h = proto.season, proto.horizon
    window = common.training_window(y, segment.start, proto.n_train)
    res, seconds, caught = fit_statsmodels(window, m)
    par = smoothing_of(res)
    train_states, gap = replay_training(window, res, m, h)
    q_lo, q_hi = insample_interval(window, train_states, par.phi, proto)
    live = live_states(y, segment, res, par, m)
    points = forecasts_from(live, np.arange(segment.stop - segment.start),
                            h, m, par.phi)
    log = {"origin_step": segment.start, "fit_seconds": seconds,
           "alpha": par.alpha, "beta": par.beta, "gamma": par.gamma,
           "phi": par.phi, "sse": float(res.sse),
           **optimizer_info(res),
           "interval_error_quantiles": [q_lo, q_hi],
           "recursion_gap": gap, "warnings": caught}
    return points, q_lo, q_hi, log


def run(series: common.Series, proto: common.Protocol):
    """All segments: the forecast rows and one log entry per fit."""
    y = series.values
    rows: list[common.ForecastRow] = []
    fits: list[dict] = []
    segments = common.refit_segments(len(y), proto)
    for number, segment in enumerate(segments, 1):
        points, q_lo, q_hi, log = run_segment(y, segment, proto)
        fits.append(log)
        for origin, point in zip(range(segment.start, segment.stop), points):
            target = origin + proto.horizon
            rows.append(common.ForecastRow(
                unix_minute=series.minute_of(target), actual=y[target],
                forecast=float(point), lower=float(point) + q_lo,
                upper=float(point) + q_hi))
        print(f"fit {number}/{len(segments)} at step {segment.start}: "
              f"{log['fit_seconds']:.2f}s alpha={log['alpha']:.3g} "
              f"beta={log['beta']:.3g} gamma={log['gamma']:.3g} "
              f"phi={log['phi']:.3g}", file=sys.stderr, flush=True)
    return rows, fits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_contract_arguments(parser)
    args = parser.parse_args()
    proto = common.protocol_from_args(args)
    started = time.perf_counter()
    series = common.load_series(args.trace, proto.step_minutes)
    rows, fits = run(series, proto)
    common.write_forecasts(args.out, rows)
    fit_seconds = [f["fit_seconds"] for f in fits]
    common.write_report(args.report, {
        "model": ("statsmodels ExponentialSmoothing(trend=add, damped_trend, "
                  f"seasonal=add, m={proto.season}, "
                  "initialization_method=estimated)"),
        "statsmodels_version": statsmodels.__version__,
        "fits": len(fits),
        "fit_seconds": fit_seconds,
        "fit_seconds_median": float(np.median(fit_seconds)),
        "fit_window_steps": proto.n_train,
        "rows": len(rows),
        "wall_seconds": time.perf_counter() - started,
        "recursion_gap_max": max(f["recursion_gap"] for f in fits),
        "interval_method": "empirical quantiles of in-sample h-step errors "
                           "on the trailing training window",
        "fit_log": fits,
    })


if __name__ == "__main__":
    main()
