package writer

import (
	"bytes"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// releaseOwnership returns the managedFields a restore sends: every entry of
// prescaler's field manager is dropped, and the fields it owned alone (a
// forced apply took them from the user's manager) go to the restore manager,
// so no restored field is left unowned. Fields another manager co-owns just
// lose prescaler; prescaler's own annotations are removed by the restore, so
// they go with it. Fields that will not exist after the restore (the final
// object lacks them: a behavior going back to unset) are not handed on.
//
// Sent in the same request as the restored values, these managedFields
// replace the live ones (the apiserver honours managedFields sent in an update
// or a non-apply patch), and the request's own changes are then attributed to
// the restore manager as any update's are. Nothing is pruned: pruning happens
// only when an applier stops applying a field, and prescaler never applies
// again.
func releaseOwnership(entries []metav1.ManagedFieldsEntry, final map[string]any, now metav1.Time) ([]metav1.ManagedFieldsEntry, error) {
	var out []metav1.ManagedFieldsEntry
	var mine []metav1.ManagedFieldsEntry
	for _, e := range entries {
		if e.Manager == FieldManager {
			mine = append(mine, e)
		} else {
			out = append(out, e)
		}
	}
	for _, e := range mine {
		set, err := decodeFields(e)
		if err != nil {
			return nil, fmt.Errorf("managedFields of %s: %w", e.Manager, err)
		}
		others := fieldpath.NewSet()
		for _, o := range out {
			if o.APIVersion != e.APIVersion || o.Subresource != e.Subresource {
				continue // paths of another version or subresource do not compare
			}
			s, err := decodeFields(o)
			if err != nil {
				return nil, fmt.Errorf("managedFields of %s: %w", o.Manager, err)
			}
			others = others.Union(s)
		}
		orphans := fieldpath.NewSet()
		for p := range set.Difference(others).All() {
			if isOwnAnnotation(p) || !exists(final, p) {
				continue
			}
			orphans.Insert(p)
		}
		if orphans.Empty() {
			continue
		}
		out = handOver(out, orphans, e.APIVersion, e.Subresource, now)
	}
	if len(out) == 0 {
		// An empty list would read as "keep the live managedFields"; an entry
		// with no fields is dropped by the apiserver after it is read.
		out = append(out, restoreEntry(fieldpath.NewSet(), "", "", now))
	}
	return out, nil
}

// handOver adds set to the restore manager's update entry for version,
// creating it when missing.
func handOver(entries []metav1.ManagedFieldsEntry, set *fieldpath.Set, version, subresource string, now metav1.Time) []metav1.ManagedFieldsEntry {
	for i, e := range entries {
		if e.Manager == RestoreFieldManager && e.Operation == metav1.ManagedFieldsOperationUpdate &&
			e.APIVersion == version && e.Subresource == subresource {
			if have, err := decodeFields(e); err == nil {
				set = set.Union(have)
			}
			entries[i] = restoreEntry(set, version, subresource, now)
			return entries
		}
	}
	return append(entries, restoreEntry(set, version, subresource, now))
}

func restoreEntry(set *fieldpath.Set, version, subresource string, now metav1.Time) metav1.ManagedFieldsEntry {
	raw, err := set.ToJSON()
	if err != nil { // a set built from paths always serialises
		panic(fmt.Sprintf("writer: encoding managedFields: %v", err))
	}
	return metav1.ManagedFieldsEntry{
		Manager:     RestoreFieldManager,
		Operation:   metav1.ManagedFieldsOperationUpdate,
		APIVersion:  version,
		Time:        &now,
		FieldsType:  "FieldsV1",
		FieldsV1:    &metav1.FieldsV1{Raw: raw},
		Subresource: subresource,
	}
}

// userSetKeys returns keyMin when managedFields show that a manager other
// than prescaler owns the floor at minPath on the object itself (not a
// subresource) together with prescaler: evidence that the user set the live
// value, even when it is the value prescaler wrote, which comparing values
// cannot see.
//
// Shared ownership arises only from a write that agrees with the value in
// force: a forced apply of a different value, and an update that changes it,
// take the field from every other manager, so a co-owner's value is the live
// one. Server-side apply records its applier as owner of every field it sends,
// changed or not, so `kubectl apply --server-side` of prescaler's own value
// leaves this trace. An update (kubectl edit, client-side kubectl apply, Helm)
// owns only the fields it changes, and one that sets the value already there
// changes nothing, so it leaves none.
//
// The paths compare across API versions: minReplicas has the same path in
// autoscaling/v1 and v2. An entry that cannot be decoded is returned as an
// error; the caller may still use the values alone.
func userSetKeys(entries []metav1.ManagedFieldsEntry, minPath []string) ([]string, error) {
	parts := make([]any, len(minPath))
	for i, p := range minPath {
		parts[i] = p
	}
	floor, err := fieldpath.MakePath(parts...)
	if err != nil {
		return nil, err
	}
	var prescaler, other bool
	for _, e := range entries {
		if e.Subresource != "" {
			continue
		}
		set, err := decodeFields(e)
		if err != nil {
			return nil, fmt.Errorf("managedFields of %s: %w", e.Manager, err)
		}
		if !set.Has(floor) {
			continue
		}
		if e.Manager == FieldManager {
			prescaler = true
		} else {
			other = true
		}
	}
	if prescaler && other {
		return []string{keyMin}, nil
	}
	return nil, nil
}

func decodeFields(e metav1.ManagedFieldsEntry) (*fieldpath.Set, error) {
	set := fieldpath.NewSet()
	if e.FieldsV1 == nil || len(e.FieldsV1.Raw) == 0 {
		return set, nil
	}
	if err := set.FromJSON(bytes.NewReader(e.FieldsV1.Raw)); err != nil {
		return nil, err
	}
	return set, nil
}

// ownedFields returns the fields manager owns on an object, as path strings
// (e.g. ".spec.minReplicas"), for tests and diagnostics.
func ownedFields(entries []metav1.ManagedFieldsEntry, manager string) ([]string, error) {
	var paths []string
	for _, e := range entries {
		if e.Manager != manager {
			continue
		}
		set, err := decodeFields(e)
		if err != nil {
			return nil, err
		}
		for p := range set.Leaves().All() {
			paths = append(paths, p.String())
		}
	}
	return paths, nil
}

// isOwnAnnotation reports whether p is one of prescaler's annotations.
func isOwnAnnotation(p fieldpath.Path) bool {
	if len(p) != 3 || p[0].FieldName == nil || p[1].FieldName == nil || p[2].FieldName == nil {
		return false
	}
	return *p[0].FieldName == "metadata" && *p[1].FieldName == "annotations" &&
		(*p[2].FieldName == AnnotationOriginal || *p[2].FieldName == AnnotationWritten || *p[2].FieldName == AnnotationDecision)
}

// exists reports whether path p leads to a value in obj (JSON). Path elements
// other than field names (list keys, values, indexes) are not followed: the
// path is assumed to exist below them.
func exists(obj map[string]any, p fieldpath.Path) bool {
	var cur any = obj
	for _, pe := range p {
		if pe.FieldName == nil {
			return true
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[*pe.FieldName]; !ok {
			return false
		}
	}
	return true
}
