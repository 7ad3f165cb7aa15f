package store

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
)

// decodesLike asserts that got is valid JSON that decodes to the same value
// as encoding/json's encoding of want.
func decodesLike(t *testing.T, got string, want any) {
	t.Helper()
	if !json.Valid([]byte(got)) {
		t.Fatalf("invalid JSON %q", got)
	}
	wantJSON, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(wantJSON, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("got %s, want %s", got, wantJSON)
	}
}

var awkward = []string{"", "plain", `quote " backslash \ slash /`, "ctl \x00\x01\x1f\x7f", "nl\n cr\r tab\t",
	"é ü 日本 🙂", "bad utf8 \xff\xfe end", "trunc \xe6\x97", "<html>&amp;", "\u2028\u2029"}

func TestEncodersMatchEncodingJSON(t *testing.T) {
	for _, s := range awkward {
		decodesLike(t, string(appendString(nil, s)), s)
	}
	q := map[string]string{}
	for i, s := range awkward {
		q[s] = awkward[len(awkward)-1-i]
	}
	decodesLike(t, encodeStrings(q), q)
	decodesLike(t, encodeStrings(nil), map[string]string{})
	decodesLike(t, encodeList(awkward), awkward)
	decodesLike(t, encodeList(nil), []string{})

	f := map[string]json.RawMessage{"a": json.RawMessage(`{"x":[1,2]}`), "b": nil, "c": json.RawMessage(`"s"`), "d": json.RawMessage(`not json`)}
	decodesLike(t, encodeFields(f), map[string]any{"a": map[string]any{"x": []any{1, 2}}, "b": nil, "c": "s", "d": "not json"})

	h := http.Header{"X-Trace": {"a", "b\x00"}, "content-type": {"application/json"}, "Authorization": {"Basic x"},
		"X-Api-Token": {"t"}, "Cookie": {"c"}, "Proxy-Authorization": {"p"}, "x-odd": {"\xff"}}
	decodesLike(t, encodeHeaders(h), map[string][]string{"X-Trace": {"a", "b\x00"}, "Content-Type": {"application/json"}, "X-Odd": {"\ufffd"}})

	// All names canonical (the receiver's case): encoded straight from h,
	// secrets still dropped; one odd spelling regroups the lot.
	canon := http.Header{"X-Trace": {"a", "\xff"}, "Content-Type": {"application/json"}, "Authorization": {"Basic x"},
		"X-Api-Token": {"t"}, "Cookie": {"c"}, "Proxy-Authorization": {"p"}, "Empty": {}}
	decodesLike(t, encodeHeaders(canon), map[string][]string{"X-Trace": {"a", "\ufffd"}, "Content-Type": {"application/json"}, "Empty": {}})
	decodesLike(t, encodeHeaders(http.Header{}), map[string][]string{})
	decodesLike(t, encodeHeaders(http.Header{"X-Trace": {"a"}, "content-type": {"j"}, "x-api-token": {"t"}}), map[string][]string{"X-Trace": {"a"}, "Content-Type": {"j"}})
}

func FuzzAppendString(f *testing.F) {
	for _, s := range awkward {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		decodesLike(t, string(appendString(nil, s)), s)
	})
}
