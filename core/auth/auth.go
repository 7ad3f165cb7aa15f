// Package auth verifies the two accepted credentials, X-API-TOKEN and
// Basic base64(username:token), against hashed account tokens.
//
// Tokens are kept only as their hex SHA-256. A presented token is hashed
// first and the hash looked up, so the time taken does not depend on how
// much of a stored secret the guess matched; the final comparisons use
// crypto/subtle. No message ever contains the presented token.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/jsonevent/jsonevent/core"
	"github.com/jsonevent/jsonevent/core/config"
)

// TokenPrefix starts every token NewToken makes, so a leaked one is easy to
// recognise (and to grep for in logs and repositories).
const TokenPrefix = "jse_"

// Principal is who sent a request.
type Principal struct {
	AccountID string
	Username  string // the Basic-auth username, "" for X-API-TOKEN
	TokenID   string // hex SHA-256 of the token: a non-secret key for rate limits
}

// The reasons a request is refused. Authenticate's *core.Error wraps one of
// them in Err, so callers can count refusals by reason with errors.Is.
var (
	ErrMissing           = errors.New("missing credentials")
	ErrMalformed         = errors.New("malformed basic credentials")
	ErrUnsupportedScheme = errors.New("unsupported authorization scheme")
	ErrUnknownToken      = errors.New("unknown token")
	ErrUsernameMismatch  = errors.New("username does not match")
)

// Authenticator checks credentials against the configured accounts. It is
// immutable; build a new one on config reload.
type Authenticator struct {
	byHash map[[sha256.Size]byte]entry
}

type entry struct {
	hash      [sha256.Size]byte
	tokenID   string // hex of hash, made once rather than per request
	accountID string
	username  string
}

// New indexes the accounts' token hashes. Hashes that are not 64 hex
// characters are skipped (config validation reports them); a hash listed
// under two accounts belongs to the first.
func New(accounts []config.Account) *Authenticator {
	a := &Authenticator{byHash: make(map[[sha256.Size]byte]entry)}
	for _, acc := range accounts {
		for _, t := range acc.Tokens {
			var h [sha256.Size]byte
			if n, err := hex.Decode(h[:], []byte(strings.TrimSpace(t.SHA256))); err != nil || n != sha256.Size {
				continue
			}
			if _, dup := a.byHash[h]; dup {
				continue
			}
			a.byHash[h] = entry{hash: h, tokenID: hex.EncodeToString(h[:]), accountID: acc.ID, username: acc.Username}
		}
	}
	return a
}

// Authenticate checks the X-API-TOKEN header value and the Authorization
// header value (either may be ""). X-API-TOKEN, when present, wins. On
// failure it returns a *core.Error with core.CodeUnauthorized whose message
// says what was wrong (missing header, malformed Basic, unsupported scheme,
// unknown token, username does not match the account) and whose Err is one
// of the Err* reasons; it never echoes the token.
func (a *Authenticator) Authenticate(apiToken, authorization string) (Principal, error) {
	apiToken = strings.TrimSpace(apiToken)
	authorization = strings.TrimSpace(authorization)
	if apiToken != "" {
		e, ok := a.lookup(apiToken)
		if !ok {
			return Principal{}, refuse(ErrUnknownToken, "the X-API-TOKEN is not a valid token (mistyped, revoked, or for another installation); ask the administrator for a token made with `jsonevent token new`")
		}
		return Principal{AccountID: e.accountID, TokenID: e.tokenID}, nil
	}
	if authorization == "" {
		return Principal{}, refuse(ErrMissing, "missing credentials: send the header X-API-TOKEN: <token>, or Authorization: Basic base64(username:token)")
	}
	scheme, rest, _ := strings.Cut(authorization, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return Principal{}, refuse(ErrUnsupportedScheme, unsupported(scheme))
	}
	raw, err := decodeBase64(strings.TrimSpace(rest))
	if err != nil {
		return Principal{}, refuse(ErrMalformed, "malformed Basic credentials: the value after \"Basic \" is not valid base64; send base64(username:token)")
	}
	username, token, ok := strings.Cut(string(raw), ":")
	if !ok {
		return Principal{}, refuse(ErrMalformed, "malformed Basic credentials: the decoded value has no colon; send base64(username:token)")
	}
	if token == "" {
		return Principal{}, refuse(ErrMalformed, "malformed Basic credentials: the token after the colon is empty; send base64(username:token)")
	}
	e, found := a.lookup(token)
	if !found {
		return Principal{}, refuse(ErrUnknownToken, "the token in the Basic credentials is not a valid token (mistyped, revoked, or for another installation); the token goes after the colon, the account's username before it")
	}
	if e.username == "" || subtle.ConstantTimeCompare([]byte(username), []byte(e.username)) != 1 {
		return Principal{}, refuse(ErrUsernameMismatch, "the Basic username does not match the token's account; use the account's configured username (or send the token alone as X-API-TOKEN)")
	}
	return Principal{AccountID: e.accountID, Username: username, TokenID: e.tokenID}, nil
}

// lookup hashes token and finds its account. The map key is the hash of
// the presented secret, never the secret itself, and the stored hash is
// compared again in constant time.
func (a *Authenticator) lookup(token string) (entry, bool) {
	h := sha256.Sum256([]byte(token))
	e, ok := a.byHash[h]
	if !ok || subtle.ConstantTimeCompare(h[:], e.hash[:]) != 1 {
		return entry{}, false
	}
	return e, true
}

// knownSchemes are the Authorization schemes named back to the caller; any
// other first word may be a pasted token and is not echoed.
var knownSchemes = map[string]string{
	"bearer": "Bearer", "digest": "Digest", "token": "Token", "negotiate": "Negotiate",
	"ntlm": "NTLM", "hoba": "HOBA", "mutual": "Mutual", "oauth": "OAuth",
	"aws4-hmac-sha256": "AWS4-HMAC-SHA256", "apikey": "ApiKey",
}

func unsupported(scheme string) string {
	const hint = "use the header X-API-TOKEN: <token>, or Authorization: Basic base64(username:token)"
	if name, ok := knownSchemes[strings.ToLower(scheme)]; ok {
		return fmt.Sprintf("unsupported authorization scheme %q: %s", name, hint)
	}
	return "unsupported authorization scheme: " + hint
}

// decodeBase64 accepts standard base64 with or without padding, which is
// what HTTP clients send.
func decodeBase64(s string) ([]byte, error) {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}

func refuse(reason error, msg string) error {
	return &core.Error{Code: core.CodeUnauthorized, Message: msg, Err: reason}
}

// NewToken returns a fresh random token (TokenPrefix and 32 random bytes in
// unpadded base64url) and its hex SHA-256.
func NewToken() (token, sha256hex string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("auth: read random bytes: %w", err)
	}
	token = TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token), nil
}

// HashToken returns the hex SHA-256 of token.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}
