package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// schemaKeys lists the YAML path of every leaf key of t: "listen.https",
// "headers.routes[].prefix", "ratelimit.zones.NAME.rate".
func schemaKeys(t reflect.Type, path string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		return schemaKeys(t.Elem(), path+"[]")
	case t.Kind() == reflect.Map && t.Elem().Kind() == reflect.Struct:
		return schemaKeys(t.Elem(), path+".NAME")
	case t.Kind() != reflect.Struct || t == reflect.TypeFor[Duration]() || t == reflect.TypeFor[ByteSize]():
		return []string{path}
	}
	var keys []string
	for i := range t.NumField() {
		sf := t.Field(i)
		if strings.Contains(sf.Tag.Get("yaml"), ",inline") {
			keys = append(keys, schemaKeys(sf.Type, path)...)
		} else if name := yamlName(sf); name != "" {
			keys = append(keys, schemaKeys(sf.Type, joinKey(path, name))...)
		}
	}
	return keys
}

// The README's configuration reference has a row naming every key of the
// schema (the headers: and ratelimit: tables name keys relative to their
// section), so a key added to the schema cannot go undocumented.
func TestREADME_ConfigurationReferenceNamesEveryKey(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Skipf("README.md not found: %v", err)
	}
	doc := string(b)
	start := strings.Index(doc, "## Configuration reference")
	end := strings.Index(doc[max(start, 0):], "\n## ")
	if start < 0 || end < 0 {
		t.Fatal("README.md has no \"## Configuration reference\" section")
	}
	ref := doc[start : start+end]
	for _, key := range schemaKeys(reflect.TypeFor[File](), "") {
		short := key
		for _, section := range []string{"headers.", "ratelimit."} {
			short = strings.TrimPrefix(short, section)
		}
		if !strings.Contains(ref, "`"+short+"`") {
			t.Errorf("README.md configuration reference has no row for %s (written `%s`)", key, short)
		}
	}
}
