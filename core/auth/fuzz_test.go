package auth_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/jsonevent/jsonevent/core"
	"github.com/jsonevent/jsonevent/core/auth"
)

// FuzzAuthenticate feeds arbitrary header values. Authenticate must never
// panic, must accept only the configured token (with the right username
// for Basic), and its refusal message must never contain the presented
// secret.
func FuzzAuthenticate(f *testing.F) {
	f.Add("", "")
	f.Add(demoToken, "")
	f.Add("", basic("demo@example.com", demoToken))
	f.Add("", "Basic "+base64.StdEncoding.EncodeToString([]byte("demo@example.com:"+demoToken+"x")))
	f.Add("", "Bearer "+demoToken)
	f.Add("", "Basic ====")
	f.Add("", "basic  "+base64.RawStdEncoding.EncodeToString([]byte(":")))
	a := auth.New(accounts())
	f.Fuzz(func(t *testing.T, apiToken, authorization string) {
		p, err := a.Authenticate(apiToken, authorization)
		if err == nil {
			tok := strings.TrimSpace(apiToken)
			if tok == "" {
				scheme, rest, _ := strings.Cut(strings.TrimSpace(authorization), " ")
				if !strings.EqualFold(scheme, "basic") {
					t.Fatalf("accepted scheme %q", scheme)
				}
				raw, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
				if derr != nil {
					raw, derr = base64.RawStdEncoding.DecodeString(strings.TrimSpace(rest))
				}
				if derr != nil {
					t.Fatalf("accepted undecodable Basic %q", authorization)
				}
				_, tok, _ = strings.Cut(string(raw), ":")
			}
			if auth.HashToken(tok) != p.TokenID || (tok != demoToken && tok != otherToken) {
				t.Fatalf("accepted a token that is not configured: %+v", p)
			}
			return
		}
		if core.ErrorCode(err) != core.CodeUnauthorized {
			t.Fatalf("code %s", core.ErrorCode(err))
		}
		msg := core.ErrorMessage(err) + " " + err.Error()
		for _, secret := range []string{strings.TrimSpace(apiToken), strings.TrimSpace(authorization)} {
			if len(secret) >= 8 && strings.Contains(msg, secret) {
				t.Fatalf("message %q echoes the credential %q", msg, secret)
			}
		}
	})
}
