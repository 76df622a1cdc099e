// Package report renders a backtest.Result for people and programs: the
// terminal tables, the per-minute timeline CSV, the JSON document, the PNG
// plots, and a progress bar for the simulation itself.
//
// Everything here reads a finished Result and writes to an io.Writer; nothing
// runs a simulation, opens a file or reads a clock except the progress bar,
// whose clock is injected.
package report
