package field

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrors(t *testing.T) {
	var l Errors
	l.Warnf("ReadTimeout", "", "above 10m lets slow clients hold requests")
	if l.Err() != nil || l.HasErrors() {
		t.Fatalf("a warning alone is an error: %v", l.Err())
	}
	var sub Errors
	sub.Errorf("Rate", `write "10r/s"`, "is required")
	l.Add(Key("Zones", "api"), sub)
	l.Add(Index("Rules", 2), Errors{{Path: "", Message: "must name a zone"}})
	err := fmt.Errorf("ratelimit: %w", l.Err())
	var got Errors
	if !errors.As(err, &got) || len(got) != 3 || len(got.Warnings()) != 1 {
		t.Fatalf("errors.As: %v %v", got, err)
	}
	want := "Zones[api].Rate: is required (hint: write \"10r/s\")\nRules[2]: must name a zone"
	if got.Error() != want {
		t.Errorf("Error() = %q, want %q", got.Error(), want)
	}
	for parent, child := range map[[2]string]string{{"", "A"}: "A", {"A", ""}: "A", {"A", "B"}: "A.B", {"A", "[x].B"}: "A[x].B"} {
		if j := Join(parent[0], parent[1]); j != child {
			t.Errorf("Join(%q, %q) = %q, want %q", parent[0], parent[1], j, child)
		}
	}
}
