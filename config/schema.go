package config

import (
	"reflect"
)

// durationPattern matches the shape of the durations the config accepts
// as text: number-unit pairs (fractions and a sign allowed, as
// ParseDuration reads them), or a bare 0. Which combinations are valid is
// ParseDuration's to say, at load.
const durationPattern = `^[-+]?(0|([0-9]*\.?[0-9]+(ns|us|µs|ms|s|m|h|d|w|y))+)$`

// JSONSchema returns a JSON Schema of the config file: every key with its
// type, unknown keys refused, and the spelled-out values of the enumerations
// (mode, nodes.provisioner, "auto"). The Helm chart validates its config
// value with it, so a typo or `mode: dryrun` fails `helm install` instead of
// the daemon's start. Ranges and the relations between keys stay with
// Validate, which the daemon runs at start and at every reload.
func JSONSchema() map[string]any {
	s := schemaOf(reflect.TypeFor[Config]())
	s["$schema"] = "http://json-schema.org/draft-07/schema#"
	return s
}

// schemaOf is the schema of one Go type of the config.
func schemaOf(t reflect.Type) map[string]any {
	if s, ok := leafSchemas()[t]; ok {
		return s
	}
	switch t.Kind() {
	case reflect.Struct:
		props := map[string]any{}
		for _, f := range fieldsOf(t) {
			props[f.key] = schemaOf(f.typ)
		}
		return map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem())}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	default:
		return map[string]any{"type": "string"}
	}
}

// leafSchemas are the types written as one scalar in their own spelling.
func leafSchemas() map[reflect.Type]map[string]any {
	duration := func() map[string]any {
		return map[string]any{"anyOf": []any{
			map[string]any{"type": "string", "minLength": 1, "pattern": durationPattern},
			map[string]any{"type": "integer", "enum": []any{0}},
		}}
	}
	auto := map[string]any{"type": "string", "enum": []any{autoText}}
	return map[reflect.Type]map[string]any{
		reflect.TypeFor[Duration]():        duration(),
		reflect.TypeFor[LeadTime]():        {"anyOf": []any{auto, duration()}},
		reflect.TypeFor[ReplicaCapacity](): {"anyOf": []any{auto, map[string]any{"type": "number"}}},
		reflect.TypeFor[Mode]():            {"type": "string", "enum": spelled(modes)},
		reflect.TypeFor[Provisioner]():     {"type": "string", "enum": spelled(provisioners)},
	}
}

// spelled lists the values of a string enumeration as JSON values.
func spelled[S ~string](values []S) []any {
	out := make([]any, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}
