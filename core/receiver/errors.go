package receiver

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/jsonevent/jsonevent/core"
)

// statusOf is the one table from error code to HTTP status. Every refusal
// the receiver sends goes through it.
var statusOf = map[core.Code]int{
	core.CodeInvalid:              http.StatusBadRequest,
	core.CodeUnauthorized:         http.StatusUnauthorized,
	core.CodeNotFound:             http.StatusNotFound,
	core.CodeMethodNotAllowed:     http.StatusMethodNotAllowed,
	core.CodeConflict:             http.StatusConflict,
	core.CodeTooLarge:             http.StatusRequestEntityTooLarge,
	core.CodeUnsupportedMediaType: http.StatusUnsupportedMediaType,
	core.CodeUnprocessable:        http.StatusUnprocessableEntity,
	core.CodeRateLimited:          http.StatusTooManyRequests,
	core.CodeUnavailable:          http.StatusServiceUnavailable,
	core.CodeInternal:             http.StatusInternalServerError,
}

// codeOf maps a status that fiber itself produced (unknown route, …) back to
// a code, so that even those answers are JSON errors with a code.
var codeOf = func() map[int]core.Code {
	m := make(map[int]core.Code, len(statusOf))
	for c, s := range statusOf {
		m[s] = c
	}
	return m
}()

// HTTPStatus returns the HTTP status for err's code.
func HTTPStatus(err error) int {
	if s, ok := statusOf[core.ErrorCode(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// errorBody is the JSON of every refusal.
type errorBody struct {
	Error   core.Code `json:"error"`
	Message string    `json:"message"`
}

func marshalError(code core.Code, message string) []byte {
	// Without HTML escaping: admins read these in curl and vendor logs,
	// where "<token>" is clearer than "\u003ctoken\u003e". The body is
	// application/json, never HTML.
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(errorBody{Error: code, Message: message}); err != nil { // cannot happen for two strings
		return []byte(`{"error":"internal","message":"internal error"}`)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
