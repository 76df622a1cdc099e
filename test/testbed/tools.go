package testbed

import "path/filepath"

// Tool returns the path of one of the testbed's binaries (e.g. "promtool"),
// for tests that check files with the same tools the testbed runs.
func (e *Env) Tool(name string) string { return filepath.Join(e.bins, name) }
