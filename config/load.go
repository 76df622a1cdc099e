package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
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
	if err := errors.Join(checkKnownKeys("", raw, reflect.TypeFor[Config]())...); err != nil {
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
// which needs the keys as written (viper lower-cases them).
func parseYAML(data []byte) (map[string]any, error) {
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse config: %w", err)
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
