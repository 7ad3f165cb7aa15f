package auth_test

import (
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/jsonevent/jsonevent/core"
	"github.com/jsonevent/jsonevent/core/auth"
	"github.com/jsonevent/jsonevent/core/config"
)

const (
	demoToken  = "jse_demo_token_change_me"
	otherToken = "jse_other_secret_token_value"
)

func accounts() []config.Account {
	return []config.Account{
		{ID: "demo", Username: "demo@example.com", Tokens: []config.Token{{SHA256: auth.HashToken(demoToken)}}},
		{ID: "other", Username: "ops@other.example", Tokens: []config.Token{
			{SHA256: "not-a-hash"},
			{SHA256: strings.ToUpper(auth.HashToken(otherToken))},
		}},
	}
}

func basic(user, token string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+token))
}

func TestHashToken(t *testing.T) {
	// sha256("abc"), from FIPS 180-2.
	if got := auth.HashToken("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("HashToken(abc) = %s", got)
	}
}

func TestAuthenticateAccepted(t *testing.T) {
	a := auth.New(accounts())
	tests := []struct {
		name          string
		apiToken      string
		authorization string
		want          auth.Principal
	}{
		{"x-api-token", demoToken, "", auth.Principal{AccountID: "demo", TokenID: auth.HashToken(demoToken)}},
		{"x-api-token wins over authorization", demoToken, "Bearer whatever", auth.Principal{AccountID: "demo", TokenID: auth.HashToken(demoToken)}},
		{"basic", "", basic("demo@example.com", demoToken), auth.Principal{AccountID: "demo", Username: "demo@example.com", TokenID: auth.HashToken(demoToken)}},
		{"basic lower-case scheme", "", "basic " + base64.StdEncoding.EncodeToString([]byte("demo@example.com:"+demoToken)), auth.Principal{AccountID: "demo", Username: "demo@example.com", TokenID: auth.HashToken(demoToken)}},
		{"basic unpadded", "", "Basic " + base64.RawStdEncoding.EncodeToString([]byte("ops@other.example:"+otherToken)), auth.Principal{AccountID: "other", Username: "ops@other.example", TokenID: auth.HashToken(otherToken)}},
		{"upper-case stored hash", otherToken, "", auth.Principal{AccountID: "other", TokenID: auth.HashToken(otherToken)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := a.Authenticate(tc.apiToken, tc.authorization)
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestAuthenticateRefused(t *testing.T) {
	a := auth.New(accounts())
	tests := []struct {
		name          string
		apiToken      string
		authorization string
		reason        error
		msg           string // a substring of the message
	}{
		{"nothing", "", "", auth.ErrMissing, "missing credentials"},
		{"blank", "  ", " ", auth.ErrMissing, "missing credentials"},
		{"bearer", "", "Bearer " + demoToken, auth.ErrUnsupportedScheme, `unsupported authorization scheme "Bearer"`},
		{"bare token as authorization", "", demoToken, auth.ErrUnsupportedScheme, "unsupported authorization scheme:"},
		{"odd scheme", "", "Secret " + demoToken, auth.ErrUnsupportedScheme, "unsupported authorization scheme:"},
		{"basic not base64", "", "Basic %%%" + demoToken, auth.ErrMalformed, "not valid base64"},
		{"basic empty", "", "Basic", auth.ErrMalformed, "no colon"},
		{"basic no colon", "", "Basic " + base64.StdEncoding.EncodeToString([]byte(demoToken)), auth.ErrMalformed, "no colon"},
		{"basic empty token", "", basic("demo@example.com", ""), auth.ErrMalformed, "token after the colon is empty"},
		{"unknown x-api-token", demoToken + "x", "", auth.ErrUnknownToken, "not a valid token"},
		{"unknown basic token", "", basic("demo@example.com", "jse_nope"), auth.ErrUnknownToken, "not a valid token"},
		{"wrong username", "", basic("ops@other.example", demoToken), auth.ErrUsernameMismatch, "username does not match"},
		{"username case differs", "", basic("Demo@example.com", demoToken), auth.ErrUsernameMismatch, "username does not match"},
		{"swapped user and token", "", basic(demoToken, "demo@example.com"), auth.ErrUnknownToken, "not a valid token"},
	}
	secret := regexp.MustCompile(`jse_[A-Za-z0-9_]+`)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := a.Authenticate(tc.apiToken, tc.authorization)
			if err == nil {
				t.Fatalf("accepted as %+v", p)
			}
			if p != (auth.Principal{}) {
				t.Errorf("principal %+v returned with an error", p)
			}
			if core.ErrorCode(err) != core.CodeUnauthorized {
				t.Errorf("code = %s, want unauthorized", core.ErrorCode(err))
			}
			if !errors.Is(err, tc.reason) {
				t.Errorf("err = %v, want reason %v", err, tc.reason)
			}
			msg := core.ErrorMessage(err)
			if !strings.Contains(msg, tc.msg) {
				t.Errorf("message %q does not contain %q", msg, tc.msg)
			}
			for _, s := range []string{msg, err.Error()} {
				if secret.MatchString(s) {
					t.Errorf("message echoes a token: %q", s)
				}
			}
		})
	}
}

// Ensure every distinct refusal has a distinct message, so a vendor admin
// can tell what to fix.
func TestRefusalMessagesDistinct(t *testing.T) {
	a := auth.New(accounts())
	inputs := [][2]string{
		{"", ""},
		{"", "Bearer x"},
		{"", "Basic !!!"},
		{"", basic("nobody", "jse_nope")},
		{"", basic("nobody", demoToken)},
	}
	seen := map[string]bool{}
	for _, in := range inputs {
		_, err := a.Authenticate(in[0], in[1])
		msg := core.ErrorMessage(err)
		if seen[msg] {
			t.Errorf("message %q used for two different refusals", msg)
		}
		seen[msg] = true
	}
}

func TestNewToken(t *testing.T) {
	tok, hash, err := auth.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^jse_[A-Za-z0-9_-]{43}$`).MatchString(tok) {
		t.Errorf("token %q does not look like jse_ + 43 base64url characters", tok)
	}
	if hash != auth.HashToken(tok) || len(hash) != 64 {
		t.Errorf("hash %q is not the hex SHA-256 of the token", hash)
	}
	tok2, _, err := auth.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if tok == tok2 {
		t.Error("two tokens are equal")
	}
	a := auth.New([]config.Account{{ID: "x", Username: "u", Tokens: []config.Token{{SHA256: hash}}}})
	if p, err := a.Authenticate(tok, ""); err != nil || p.AccountID != "x" {
		t.Errorf("a fresh token does not authenticate: %+v, %v", p, err)
	}
}

// Ensure a hash configured under two accounts is not ambiguous: the first
// account owns it.
func TestDuplicateHashFirstWins(t *testing.T) {
	h := auth.HashToken(demoToken)
	a := auth.New([]config.Account{
		{ID: "first", Tokens: []config.Token{{SHA256: h}}},
		{ID: "second", Tokens: []config.Token{{SHA256: h}}},
	})
	p, err := a.Authenticate(demoToken, "")
	if err != nil || p.AccountID != "first" {
		t.Fatalf("got %+v, %v", p, err)
	}
}

func BenchmarkAuthenticateBasic(b *testing.B) {
	a := auth.New(accounts())
	h := basic("demo@example.com", demoToken)
	for b.Loop() {
		if _, err := a.Authenticate("", h); err != nil {
			b.Fatal(err)
		}
	}
}
