package app

import (
	"testing"

	"github.com/prescaler/prescaler/config"
	"github.com/prescaler/prescaler/writer"
)

// One annotation opts an object in (discovery, "true") and out (the
// writer, a false value).
func TestOptInAndOptOutAreOneAnnotation(t *testing.T) {
	if config.AnnotationEnabled != writer.AnnotationEnabled {
		t.Errorf("discovery reads %s, the writer %s", config.AnnotationEnabled, writer.AnnotationEnabled)
	}
}

func TestTargetChangesNamesAddedAndRemoved(t *testing.T) {
	prev := []config.Target{{Name: "a"}, {Name: "b"}}
	next := []config.Target{{Name: "b"}, {Name: "c"}}
	added, removed := targetChanges(prev, next)
	if len(added) != 1 || added[0] != "c" || len(removed) != 1 || removed[0] != "a" {
		t.Errorf("added %v removed %v, want [c] [a]", added, removed)
	}
}
