//go:build !(cgo && linux)

package nvml

// DefaultLibraryPath is the library a cgo build opens when no path is given.
const DefaultLibraryPath = "libnvidia-ml.so.1"

// NewLibrary returns a [Library] whose Init fails with [ErrNoCgo]: go-nvml
// needs cgo on linux, and this binary was built without it.
func NewLibrary(string) Library { return noCgo{} }

type noCgo struct{}

func (noCgo) Init() (string, error)      { return "", ErrNoCgo }
func (noCgo) Shutdown() error            { return nil }
func (noCgo) DeviceCount() (int, error)  { return 0, ErrNotInitialized }
func (noCgo) Device(int) (Device, error) { return Device{}, ErrNotInitialized }
