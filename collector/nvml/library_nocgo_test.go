//go:build !(cgo && linux)

package nvml

import (
	"errors"
	"testing"
)

func TestLibraryWithoutCgo(t *testing.T) {
	lib := NewLibrary("")
	if _, err := lib.Init(); !errors.Is(err, ErrNoCgo) {
		t.Errorf("Init: %v, want ErrNoCgo", err)
	}
	if _, err := lib.Device(0); !errors.Is(err, ErrNotInitialized) {
		t.Errorf("Device: %v, want ErrNotInitialized", err)
	}
}
