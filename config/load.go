package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// Load reads the YAML file at path, applies defaults and PRESCALER_*
// environment overrides, and validates the result. A validation failure is
// the errors.Join of one *FieldError per problem.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(data)
}

// Parse is Load for a YAML document already in memory.
func Parse(data []byte) (*Config, error) {
	cfg, err := decode(data)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return nil, blameEnv(err)
	}
	return cfg, nil
}

// YAML renders c as a YAML document that Parse reads back to the same Config.
func (c *Config) YAML() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	return buf.Bytes(), nil
}

// decode turns a YAML document into a Config: defaults first, then the file,
// then the environment. It rejects unknown keys but checks no values.
func decode(data []byte) (*Config, error) {
	raw, err := parseYAML(data)
	if err != nil {
		return nil, err
	}
	problems := checkKnownKeys("", raw, reflect.TypeFor[Config]())
	problems = append(problems, checkKnownEnv(os.Environ())...)
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}

	v := viper.New()
	v.SetConfigType("yaml")
	bindEnv(v)
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}

	// Decoding onto a filled-in Config keeps the default of every key the
	// file leaves out, including inside each target.
	cfg := Default()
	cfg.Targets = defaultTargets(countTargets(raw))
	if err := v.UnmarshalExact(cfg, decoderOptions); err != nil {
		return nil, errors.Join(decodeProblems(err)...)
	}
	return cfg, nil
}

// blameEnv adds the environment variable that set a field to each problem
// with that field: otherwise the message quotes a value the file does not hold.
func blameEnv(err error) error {
	sources := envSources()
	if len(sources) == 0 {
		return err
	}
	problems := []error{err}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		problems = joined.Unwrap()
	}
	blamed := make([]error, len(problems))
	for i, p := range problems {
		blamed[i] = p
		var fieldErr *FieldError
		if errors.As(p, &fieldErr) {
			if name, ok := sources[fieldErr.Field]; ok {
				blamed[i] = &FieldError{Field: fieldErr.Field, Detail: fieldErr.Detail + " (set by " + name + ")"}
			}
		}
	}
	return errors.Join(blamed...)
}

// envSources maps each key path overridden by a non-empty environment
// variable to that variable's name.
func envSources() map[string]string {
	sources := map[string]string{}
	for _, path := range scalarPaths(reflect.TypeFor[Config](), nil, false) {
		for _, name := range envNames(path) {
			if os.Getenv(name) != "" {
				sources[strings.Join(path, ".")] = name
				break
			}
		}
	}
	return sources
}

// parseYAML reads the document as generic maps for the unknown-key check,
// which needs the keys as written (viper lower-cases them). A file holds one
// document: a second one (after a "---" line) would be ignored by the
// decoder, so it is an error.
func parseYAML(data []byte) (map[string]any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc any
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, fmt.Errorf("parse config: %w", err)
	default:
		return nil, fmt.Errorf("parse config: a second YAML document starts at line %d; the file must hold one document "+
			"(remove the \"---\" and what follows, or merge it into the first)", next.Line)
	}
	if doc == nil {
		return map[string]any{}, nil
	}
	m, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("parse config: the document must be a mapping of keys to values, got %s", describeType(reflect.TypeOf(doc)))
	}
	return m, nil
}

// toolingEnv are PRESCALER_* variables of prescaler's own test and
// benchmark tooling, not config overrides: they are set in the
// environment the tests run the binary in, so the check leaves them alone.
var toolingEnv = []string{"PRESCALER_TRACES", "PRESCALER_BIN", "PRESCALER_TEST_", "PRESCALER_TESTBED_"}

// checkKnownEnv returns a FieldError, named by the variable, for every
// non-empty PRESCALER_* variable in environ that overrides no key: a typo
// (PRESCALER_INTERVALL) or a list's key would otherwise be ignored.
func checkKnownEnv(environ []string) []error {
	known := map[string]bool{}
	var names []string
	for _, path := range scalarPaths(reflect.TypeFor[Config](), nil, false) {
		for _, name := range envNames(path) {
			known[name] = true
		}
		names = append(names, envNames(path)[0])
	}
	var problems []error
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix+"_") || value == "" || known[name] || isToolingEnv(name) {
			continue
		}
		detail := "environment variable overrides no key"
		if guess := closestKey(name, names); guess != "" {
			detail += fmt.Sprintf(" (did you mean %s?)", guess)
		} else {
			detail += "; only keys outside targets have one (see Environment overrides in docs/config.md)"
		}
		problems = append(problems, &FieldError{Field: name, Detail: detail})
	}
	slices.SortFunc(problems, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return problems
}

func isToolingEnv(name string) bool {
	for _, t := range toolingEnv {
		if name == t || strings.HasSuffix(t, "_") && strings.HasPrefix(name, t) {
			return true
		}
	}
	return false
}

// countTargets returns the length of the targets list, or 0 when it is absent
// or not a list (the decoder then reports the type).
func countTargets(raw map[string]any) int {
	list, _ := raw["targets"].([]any)
	return len(list)
}

func defaultTargets(n int) []Target {
	if n == 0 {
		return nil
	}
	targets := make([]Target, n)
	for i := range targets {
		targets[i] = DefaultTarget()
	}
	return targets
}
