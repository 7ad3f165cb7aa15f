// Package auth verifies the two accepted credentials, X-API-TOKEN and
// Basic base64(username:token), against hashed account tokens.
//
// CONTRACT (stub; the auth work fills it in, keeping these signatures).
package auth

import (
	"errors"

	"github.com/jsonevent/jsonevent/core/config"
)

// Principal is who sent a request.
type Principal struct {
	AccountID string
	Username  string // the Basic-auth username, "" for X-API-TOKEN
	TokenID   string // hex SHA-256 of the token: a non-secret key for rate limits
}

// Authenticator checks credentials against the configured accounts. It is
// immutable; build a new one on config reload.
type Authenticator struct{}

// New indexes the accounts' token hashes.
func New(accounts []config.Account) *Authenticator { return &Authenticator{} }

// Authenticate checks the X-API-TOKEN header value and the Authorization
// header value (either may be ""). On failure it returns a *core.Error with
// core.CodeUnauthorized whose message says what was wrong (missing header,
// malformed Basic, unknown token, username does not match the account) but
// never echoes the token.
func (a *Authenticator) Authenticate(apiToken, authorization string) (Principal, error) {
	return Principal{}, errors.New("auth: not built yet")
}

// NewToken returns a fresh random token and its hex SHA-256.
func NewToken() (token, sha256hex string, err error) {
	return "", "", errors.New("auth: not built yet")
}

// HashToken returns the hex SHA-256 of token.
func HashToken(token string) string { return "" }
