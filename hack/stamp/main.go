// Command stamp prints what a prescaler binary was stamped with, without
// running it: the architecture and linking of the ELF file and the values the
// linker wrote into internal/version's Version, Commit and BuildDate (-X).
// hack/release.sh reads the arm64 binary with it, which cannot run on an
// amd64 machine, and the amd64 one too, to compare with what `prescaler
// version` prints.
//
//	go run ./hack/stamp dist/v0.1.0/prescaler-v0.1.0-linux-arm64
//
// prints one key=value per line:
//
//	goarch=arm64
//	static=true
//	version=v0.1.0
//	commit=...
//	buildDate=...
//
// It reads the variables through the ELF symbol table, so the binary must be
// linked without -s (-w, which drops only DWARF, is fine).
package main

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
)

// versionPkg is the package whose variables -ldflags -X stamps.
const versionPkg = "github.com/prescaler/prescaler/internal/version"

// stamped are the variables read, in output order, with their output keys.
var stamped = []struct{ key, symbol string }{
	{"version", versionPkg + ".Version"},
	{"commit", versionPkg + ".Commit"},
	{"buildDate", versionPkg + ".BuildDate"},
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: stamp BINARY")
		os.Exit(2)
	}
	if err := run(os.Stdout, os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "stamp:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	s, err := read(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	fmt.Fprintf(w, "goarch=%s\nstatic=%t\n", s.goarch, s.static)
	for _, v := range stamped {
		fmt.Fprintf(w, "%s=%s\n", v.key, s.values[v.key])
	}
	return nil
}

type stamp struct {
	goarch string
	static bool
	values map[string]string
}

// goarchOf maps the ELF machines prescaler is released for to GOARCH.
var goarchOf = map[elf.Machine]string{elf.EM_X86_64: "amd64", elf.EM_AARCH64: "arm64"}

func read(f *elf.File) (stamp, error) {
	s := stamp{values: map[string]string{}}
	var ok bool
	if s.goarch, ok = goarchOf[f.Machine]; !ok {
		return s, fmt.Errorf("machine %v, want x86-64 or aarch64", f.Machine)
	}
	if f.Class != elf.ELFCLASS64 {
		return s, fmt.Errorf("ELF class %v, want 64-bit", f.Class)
	}
	// A dynamically linked binary names its loader in a PT_INTERP header.
	s.static = true
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			s.static = false
		}
	}
	syms, err := f.Symbols()
	if errors.Is(err, elf.ErrNoSymbols) {
		return s, errors.New("no symbol table (linked with -s): the stamped values cannot be located")
	}
	if err != nil {
		return s, err
	}
	addr := map[string]uint64{}
	for _, sym := range syms {
		addr[sym.Name] = sym.Value
	}
	for _, v := range stamped {
		a, ok := addr[v.symbol]
		if !ok {
			return s, fmt.Errorf("no symbol %s", v.symbol)
		}
		if s.values[v.key], err = readString(f, a); err != nil {
			return s, fmt.Errorf("%s: %w", v.symbol, err)
		}
	}
	return s, nil
}

// readString reads the Go string whose header (data pointer, then length,
// 8 bytes each in a 64-bit binary, in the file's byte order) is at addr.
func readString(f *elf.File, addr uint64) (string, error) {
	hdr, err := readAt(f, addr, 16)
	if err != nil {
		return "", err
	}
	ptr, n := f.ByteOrder.Uint64(hdr[:8]), f.ByteOrder.Uint64(hdr[8:])
	if n == 0 {
		return "", nil
	}
	if n > 4096 {
		return "", fmt.Errorf("string length %d: not a stamped value", n)
	}
	b, err := readAt(f, ptr, n)
	return string(b), err
}

// readAt reads n bytes at virtual address addr from the section holding them.
// Bytes in a section with no file data (.bss) are zero.
func readAt(f *elf.File, addr, n uint64) ([]byte, error) {
	for _, sec := range f.Sections {
		if sec.Flags&elf.SHF_ALLOC == 0 || addr < sec.Addr || addr+n > sec.Addr+sec.Size {
			continue
		}
		b := make([]byte, n)
		if sec.Type == elf.SHT_NOBITS {
			return b, nil
		}
		if _, err := sec.ReadAt(b, int64(addr-sec.Addr)); err != nil {
			return nil, fmt.Errorf("reading %d bytes at %#x in %s: %w", n, addr, sec.Name, err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("no section holds %d bytes at %#x", n, addr)
}
