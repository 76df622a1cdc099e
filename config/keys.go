package config

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"unicode"

	"github.com/spf13/viper"
)

// envPrefix starts the name of every environment override.
const envPrefix = "PRESCALER"

// field is one key of a config struct: its YAML name and Go type.
type field struct {
	key string
	typ reflect.Type
}

// fieldsOf lists the keys of a config struct in declaration order.
func fieldsOf(t reflect.Type) []field {
	fields := make([]field, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if key == "" || key == "-" {
			continue
		}
		fields = append(fields, field{key: key, typ: f.Type})
	}
	return fields
}

// isLeaf reports whether values of t are scalars in YAML: either a basic kind
// or a type that unmarshals itself from text (Duration, LeadTime, ...).
func isLeaf(t reflect.Type) bool {
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return true
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Slice, reflect.Array, reflect.Map:
		return false
	default:
		return true
	}
}

// checkKnownKeys walks a parsed YAML value next to the type it decodes into
// and returns a FieldError for every key the type does not declare and every
// mapping or list written as something else. Keys are matched exactly, so
// "MinReplicas" is reported like "minReplica" is. Scalars are left to the
// decoder.
func checkKnownKeys(path string, node any, t reflect.Type) []error {
	if isLeaf(t) {
		return nil
	}
	var problems []error
	switch t.Kind() {
	case reflect.Struct:
		m, ok := node.(map[string]any)
		if !ok {
			return wrongShape(path, node, "a mapping")
		}
		fields := fieldsOf(t)
		for _, key := range slices.Sorted(maps.Keys(m)) {
			i := slices.IndexFunc(fields, func(f field) bool { return f.key == key })
			if i < 0 {
				problems = append(problems, &FieldError{Field: joinPath(path, key), Detail: unknownKeyDetail(key, fields)})
				continue
			}
			problems = append(problems, checkKnownKeys(joinPath(path, key), m[key], fields[i].typ)...)
		}
	case reflect.Slice:
		items, ok := node.([]any)
		if !ok {
			return wrongShape(path, node, "a list")
		}
		for i, item := range items {
			problems = append(problems, checkKnownKeys(fmt.Sprintf("%s[%d]", path, i), item, t.Elem())...)
		}
	}
	return problems
}

// wrongShape reports a value that is not the mapping or list its key needs;
// an empty value (YAML null) is fine and keeps the defaults.
func wrongShape(path string, node any, want string) []error {
	if node == nil {
		return nil
	}
	if path == "" {
		path = "(document)"
	}
	got := describeType(reflect.TypeOf(node))
	if _, ok := node.(map[any]any); ok {
		got = "a mapping with keys that are not strings"
	}
	return []error{&FieldError{Field: path, Detail: fmt.Sprintf("expected %s, got %s", want, got)}}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// unknownKeyDetail suggests the known key closest to a typo, then a key one
// level down ("minReplicas" in a target is "bounds.minReplicas"), or else
// lists the keys allowed here.
func unknownKeyDetail(key string, fields []field) string {
	known := make([]string, len(fields))
	for i, f := range fields {
		known[i] = f.key
	}
	guess := closestKey(key, known)
	if guess == "" {
		guess = closestNestedKey(key, fields)
	}
	if guess != "" {
		return fmt.Sprintf("unknown key (did you mean %q?)", guess)
	}
	return "unknown key; known keys here: " + strings.Join(known, ", ")
}

// closestNestedKey looks for key among the keys of the sections below fields
// and returns it as "section.key".
func closestNestedKey(key string, fields []field) string {
	for _, f := range fields {
		if isLeaf(f.typ) || f.typ.Kind() != reflect.Struct {
			continue
		}
		var children []string
		for _, child := range fieldsOf(f.typ) {
			children = append(children, child.key)
		}
		if guess := closestKey(key, children); guess != "" {
			return f.key + "." + guess
		}
	}
	return ""
}

// closestKey returns the known key within a small edit distance of key
// (ignoring case), or "" when none is close enough to be the intended one.
func closestKey(key string, known []string) string {
	best, bestDistance := "", max(2, len(key)/4)+1
	for _, k := range known {
		if d := editDistance(strings.ToLower(key), strings.ToLower(k)); d < bestDistance {
			best, bestDistance = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// bindEnv binds every scalar key outside the targets list to its environment
// variables (see envNames). Lists have no environment override.
func bindEnv(v *viper.Viper) {
	for _, path := range scalarPaths(reflect.TypeFor[Config](), nil, false) {
		// BindEnv fails only when given no key, and there always is one.
		_ = v.BindEnv(append([]string{strings.Join(path, ".")}, envNames(path)...)...)
	}
}

// envNames returns the environment variables that override the key at path,
// in the order they are looked up: the camelCase words split by "_"
// (PRESCALER_LEADER_ELECTION_LEASE_DURATION), then, when different, the
// keys only upper-cased (PRESCALER_LEADERELECTION_LEASEDURATION).
func envNames(path []string) []string {
	split := make([]string, len(path))
	for i, key := range path {
		split[i] = screamingSnake(key)
	}
	names := []string{envPrefix + "_" + strings.Join(split, "_")}
	if flat := envPrefix + "_" + strings.ToUpper(strings.Join(path, "_")); flat != names[0] {
		names = append(names, flat)
	}
	return names
}

// scalarPaths lists the paths of the scalar keys under t. Lists are entered
// only when withLists is set, with "[]" appended to the list's key. A
// target outside the targets list (discovery.target) is one key: its keys
// are those of targets[], and it has no environment overrides.
func scalarPaths(t reflect.Type, path []string, withLists bool) [][]string {
	var paths [][]string
	for _, f := range fieldsOf(t) {
		keyPath := append(slices.Clip(path), f.key)
		switch {
		case isLeaf(f.typ):
			paths = append(paths, keyPath)
		case f.typ == reflect.TypeFor[Target]():
			if withLists {
				paths = append(paths, keyPath)
			}
		case f.typ.Kind() == reflect.Slice && isLeaf(f.typ.Elem()):
			if withLists {
				keyPath[len(keyPath)-1] += "[]"
				paths = append(paths, keyPath)
			}
		case f.typ.Kind() == reflect.Struct:
			paths = append(paths, scalarPaths(f.typ, keyPath, withLists)...)
		case f.typ.Kind() == reflect.Slice && withLists:
			keyPath[len(keyPath)-1] += "[]"
			paths = append(paths, scalarPaths(f.typ.Elem(), keyPath, withLists)...)
		}
	}
	return paths
}

// screamingSnake turns a camelCase key into upper snake case:
// "bearerTokenFile" becomes "BEARER_TOKEN_FILE".
func screamingSnake(key string) string {
	var b strings.Builder
	runes := []rune(key)
	for i, r := range runes {
		if i > 0 && unicode.IsUpper(r) && !unicode.IsUpper(runes[i-1]) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}
