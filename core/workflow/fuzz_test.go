package workflow

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzPlaceEscaping checks, for any field value, that it cannot leave its
// place: the JSON body stays one object with the same keys and the value
// comes back exactly; the URL keeps its host, path segments and query keys
// and the value comes back exactly; a header value holds no CR or LF.
func FuzzPlaceEscaping(f *testing.F) {
	for _, s := range []string{"", "plain", evilSeed, "a/b?c=d&e#f", "%2F%00", "\r\n\r\nGET / HTTP/1.1", `{{ .fields.x }}`, "é\u2028\x00", `\"}`} {
		f.Add(s)
	}
	body, _, err := parseBody("body", map[string]any{"v": "{{ .fields.v }}", "mixed": "<{{ .fields.v }}>", "k": "lit"})
	if err != nil {
		f.Fatal(err)
	}
	u, err := parseTemplate("url", "https://h.example.com/a/{{ .fields.v }}/b?q={{ .fields.v }}&z=1#{{ .fields.v }}", placeURL)
	if err != nil {
		f.Fatal(err)
	}
	h, err := parseTemplate("header", "Bearer {{ .fields.v }}", placeHeader)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, v string) {
		raw, _ := json.Marshal(v)
		d := &Data{Event: &Event{ID: "e", ReceivedAt: time.Unix(0, 0), Fields: map[string]json.RawMessage{"v": raw}}}
		root, err := d.Root()
		if err != nil {
			t.Fatal(err)
		}
		out, err := body.render(root)
		if err != nil {
			t.Fatalf("render body: %v", err)
		}
		var got map[string]any
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("body is not JSON: %v: %s", err, out)
		}
		// json.Unmarshal replaces invalid UTF-8; compare what JSON can carry.
		var want string
		_ = json.Unmarshal(raw, &want)
		if len(got) != 3 || got["v"] != want || got["mixed"] != "<"+want+">" || got["k"] != "lit" {
			t.Fatalf("body = %s for %q", out, v)
		}
		s, err := u.execute(root)
		if err != nil {
			t.Fatalf("render url: %v", err)
		}
		pu, err := url.Parse(s)
		if err != nil {
			t.Fatalf("url %q does not parse: %v", s, err)
		}
		segs := strings.Split(pu.EscapedPath(), "/")
		if pu.Host != "h.example.com" || len(segs) != 4 || segs[1] != "a" || segs[3] != "b" {
			t.Fatalf("url %q: host %q path %q", s, pu.Host, pu.EscapedPath())
		}
		if seg, _ := url.PathUnescape(segs[2]); seg != want {
			t.Fatalf("path segment %q != %q", seg, want)
		}
		q := pu.Query()
		if len(q) != 2 || q.Get("q") != want || q.Get("z") != "1" || pu.Fragment != want {
			t.Fatalf("url %q: query %v fragment %q", s, q, pu.Fragment)
		}
		hv, err := h.execute(root)
		if err != nil {
			t.Fatalf("render header: %v", err)
		}
		if strings.ContainsAny(hv, "\r\n\x00") {
			t.Fatalf("header %q holds a control character", hv)
		}
	})
}

const evilSeed = "\",\"admin\":true,\"x\":\"\r\nX-Admin: yes"
