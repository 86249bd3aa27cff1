package ratelimit_test

import (
	"testing"

	"github.com/rampart-dev/rampart/ratelimit"
	"github.com/rampart-dev/rampart/ratelimit/internal/vectortest"
)

func TestVectors_Memory(t *testing.T) {
	for _, v := range vectortest.Load(t, "testdata/vectors.json") {
		t.Run(v.Name, func(t *testing.T) {
			var now int64
			l, err := ratelimit.New(vectortest.Options(v, &now, nil))
			if err != nil {
				t.Fatal(err)
			}
			vectortest.Run(t, v, l, &now)
		})
	}
}
