// A program holding internal/version's variables, for stamp's tests.
package main

import (
	"fmt"

	"github.com/prescaler/prescaler/internal/version"
)

func main() { fmt.Println(version.Get()) }
