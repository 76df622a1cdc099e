// Package version holds build information stamped in by the linker:
//
//	go build -ldflags "-X github.com/prescaler/prescaler/internal/version.Version=v0.1.0 ..."
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set by -ldflags at build time; the defaults describe a plain `go build`.
var (
	Version   = "dev"
	Commit    = ""
	BuildDate = ""
)

// Info is the build information printed by `prescaler version`.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	BuildDate string `json:"buildDate,omitempty"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get returns the build information, filling the commit from the Go build
// metadata when the linker did not stamp one.
func Get() Info {
	info := Info{
		Version:   Version,
		Commit:    Commit,
		BuildDate: BuildDate,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	if info.Commit == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					info.Commit = s.Value
				}
			}
		}
	}
	return info
}

// String is the one-line form.
func (i Info) String() string {
	s := "prescaler " + i.Version
	if i.Commit != "" {
		s += " (" + i.Commit + ")"
	}
	if i.BuildDate != "" {
		s += " built " + i.BuildDate
	}
	return fmt.Sprintf("%s %s %s", s, i.GoVersion, i.Platform)
}
