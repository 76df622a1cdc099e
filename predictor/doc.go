// Package predictor forecasts demand with Holt-Winters exponential smoothing in
// its innovations state-space (ETS) form, fitted in-process.
//
// It is pure: plain float64 slices in, plain values out; no clock, no I/O, no
// logging. The same input always gives the same output, bit for bit.
//
// # Model
//
// All models have additive errors. With level l, trend b, damping φ, seasonal
// states s (period m) and, optionally, a second seasonal state w (period m₂,
// Taylor 2003), the one-step forecast made at t-1 is
//
//	additive season:        μ_t = l_{t-1} + φ b_{t-1} + s_{t-m} + w_{t-m₂}
//	multiplicative season:  μ_t = (l_{t-1} + φ b_{t-1}) · s_{t-m} · w_{t-m₂}
//
// and, with the error e_t = y_t − μ_t, the states are corrected as in
// Hyndman & Athanasopoulos, Forecasting: Principles and Practice (3rd ed.),
// §8.5 (Table 8.7, error-correction form), extended to two seasons:
//
//	additive season:        l_t = l_{t-1} + φ b_{t-1} + α e_t
//	                        b_t = φ b_{t-1} + β e_t
//	                        s_t = s_{t-m} + γ e_t ;   w_t = w_{t-m₂} + γ₂ e_t
//	multiplicative season:  l_t = l_{t-1} + φ b_{t-1} + α e_t / S_t
//	                        b_t = φ b_{t-1} + β e_t / S_t
//	                        s_t = s_{t-m} + γ e_t / ((l_{t-1} + φ b_{t-1}) w_{t-m₂})
//	                        w_t = w_{t-m₂} + γ₂ e_t / ((l_{t-1} + φ b_{t-1}) s_{t-m})
//
// where S_t = s_{t-m} w_{t-m₂}. No trend means b ≡ 0; an undamped additive
// trend is φ = 1. The h-step forecast from t is
//
//	ŷ_{t+h|t} = l_t + φ_h b_t ⊕ s_{t+h-m(k+1)} ⊕ w_{t+h-m₂(k₂+1)} + λ^h e_t,
//	φ_h = φ + φ² + … + φ^h,
//
// with ⊕ the seasonal combination (sum or product with the level part).
// The last term is Taylor's (2003) first-order autoregressive adjustment of
// the errors: high-frequency demand has runs of errors of the same sign that
// the states alone absorb too slowly. Following Taylor, the states are updated
// with the unadjusted error and the parameters are fitted on the adjusted one.
//
// Parameters (α, β, γ, γ₂, φ, λ) are fitted by minimising the mean absolute
// adjusted one-step error, (1/n) Σ |e_t − λ e_{t-1}| (the Laplace likelihood
// of an additive-error model: it targets the median, which MAE and MASE
// reward, and a few jumps of real demand pull it less than squared errors
// would). Options.Loss = LossSquared minimises the mean squared error
// instead (the classical Gaussian fit), and Options.LossHorizon > 1 fits
// the h-step errors rather than the one-step ones. The minimiser is
// Nelder-Mead from gonum/optimize, in logistic coordinates that keep the
// usual bounds 0 < β < α, 0 < γ < 1 − α, 0.8 ≤ φ ≤ 0.98. Initial states
// come from a classical decomposition of the first seasons. Among the
// candidate models the one with the lowest AICc, under the likelihood that
// matches the loss, is kept.
//
// # Prediction intervals
//
// Request counts are heteroscedastic (errors grow with the level), so
// intervals are built from in-sample h-step errors divided by a running scale,
// the exponentially weighted mean absolute one-step error at the origin. A
// quantile of the h-step forecast at origin t is ŷ_{t+h|t} + q_h(p)·scale_t·v_{t+h},
// with q_h the empirical quantile of those standardised errors. This is
// distribution free and calibrates the marginal coverage on the fitting data.
//
// v is the seasonal volatility factor of the target's phase in the primary
// season (volatility.go; off with Options.NoSeasonalScale): the running scale
// learns of a burst only once it has begun, while bursts that come back at
// the same times of day can be expected. v is the mean of the in-sample
// one-step errors in units of the running scale, by phase, pooled over the
// seasons and over neighbouring phases (a window chosen by cross-validation
// over the seasons, which may also keep v ≡ 1), normalised to mean 1 and
// shrunk towards 1 when few seasons were seen. The calibration divides each
// error by the same factor, so the marginal coverage is kept.
//
// # Peak quantiles
//
// A floor that must hold for k steps needs the q-quantile of the peak
// max(y_{t+1}, …, y_{t+k}), not the largest of the per-step quantiles, which
// the peak exceeds far more often than 1 − q when steps are noisy.
// PeakQuantile is calibrated like the intervals, on the in-sample excess of
// the realised window peak over the forecast window peak, in units of the
// running scale times the largest volatility factor of the window.
//
// # Real data
//
// Missing values (NaN) are filled by the one-step forecast and counted. A zero
// where the model expects clear traffic is an outage, not demand: the states
// are not updated from it (so a two-day outage does not erase the daily
// profile), and once zeros persist the forecast follows them until traffic
// returns. Forecasts are never negative.
//
// References:
//   - R. J. Hyndman, G. Athanasopoulos, Forecasting: Principles and Practice,
//     3rd ed., OTexts, 2021, ch. 8.
//   - R. J. Hyndman, A. B. Koehler, J. K. Ord, R. D. Snyder, Forecasting with
//     Exponential Smoothing: The State Space Approach, Springer, 2008.
//   - J. W. Taylor, Short-term electricity demand forecasting using double
//     seasonal exponential smoothing, J. Oper. Res. Soc. 54 (2003) 799–805.
package predictor
