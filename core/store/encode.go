package store

import (
	"encoding/json"
	"net/http"
	"slices"
	"unicode/utf8"
)

// The event's small JSON columns are encoded by hand: encoding/json's
// reflection over maps was a tenth of the CPU an accepted event costs. The
// output is what encoding/json would decode to the same values (keys
// sorted, invalid UTF-8 replaced by U+FFFD).

// appendString appends s as a JSON string.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

const hex = "0123456789abcdef"

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// encodeHeaders encodes h as a JSON object of string arrays, canonical
// names, without the secret headers. Headers from the receiver already have
// canonical names, so they are encoded straight from h; only a header with
// another spelling (which may merge with a canonical one) takes the slower
// path that regroups them.
func encodeHeaders(h http.Header) string {
	keys := make([]string, 0, len(h))
	size := 2
	for k, v := range h {
		if http.CanonicalHeaderKey(k) != k {
			return encodeHeadersRegrouped(h)
		}
		if isSecretHeader(k) {
			continue
		}
		keys = append(keys, k)
		size += len(k) + 6
		for _, s := range v {
			size += len(s) + 3
		}
	}
	slices.Sort(keys)
	return string(appendHeaders(make([]byte, 0, size), keys, h))
}

// encodeHeadersRegrouped is encodeHeaders for a header whose names are not
// all canonical: values of names that canonicalize alike are merged.
func encodeHeadersRegrouped(h http.Header) string {
	canon := make(map[string][]string, len(h))
	for k, v := range h {
		ck := http.CanonicalHeaderKey(k)
		if isSecretHeader(ck) {
			continue
		}
		canon[ck] = append(canon[ck], v...)
	}
	return string(appendHeaders(make([]byte, 0, 64*len(canon)+2), sortedKeys(canon), canon))
}

// appendHeaders appends the JSON object of h's keys in order.
func appendHeaders(b []byte, keys []string, h http.Header) []byte {
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':', '[')
		for j, v := range h[k] {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendString(b, v)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func isSecretHeader(canonical string) bool {
	for _, s := range secretHeaders {
		if canonical == s {
			return true
		}
	}
	return false
}

// encodeStrings encodes a string map as a JSON object.
func encodeStrings(m map[string]string) string {
	b := make([]byte, 0, 32*len(m)+2)
	b = append(b, '{')
	for i, k := range sortedKeys(m) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, m[k])
	}
	return string(append(b, '}'))
}

// encodeFields encodes raw JSON values by name; a nil value is null. A
// value that is not valid JSON is stored as a JSON string of its bytes, so
// the column always holds valid JSON.
func encodeFields(m map[string]json.RawMessage) string {
	n := 2
	for k, v := range m {
		n += len(k) + len(v) + 4
	}
	b := make([]byte, 0, n)
	b = append(b, '{')
	for i, k := range sortedKeys(m) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		switch v := m[k]; {
		case v == nil:
			b = append(b, "null"...)
		case json.Valid(v):
			b = append(b, v...)
		default:
			b = appendString(b, string(v))
		}
	}
	return string(append(b, '}'))
}

// encodeList encodes a string slice as a JSON array.
func encodeList(l []string) string {
	b := []byte{'['}
	for i, s := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return string(append(b, ']'))
}
