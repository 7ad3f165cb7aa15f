// Package config loads and validates jsonevent's configuration with koanf:
// built-in defaults, then the YAML file, then presets, then JSONEVENT_*
// environment variables (JSONEVENT_SERVER__LISTEN). It is the only package
// that imports koanf.
//
// The types below are the shared contract; loading, strict decoding,
// validation and hot reload live beside them.
package config

import "time"

// Config is the whole configuration file.
type Config struct {
	Server   Server    `koanf:"server"`
	Store    Store     `koanf:"store"`
	Limits   Limits    `koanf:"limits"`
	SMTP     SMTP      `koanf:"smtp"`
	Queue    Queue     `koanf:"queue"`
	Accounts []Account `koanf:"accounts"`
	Triggers []Trigger `koanf:"triggers"`

	// MissingPresets are the preset files a trigger's adapter has none
	// of (<presets dir>/<adapter>.yaml): its triggers get only their own
	// fields. Not a config key; serve and validate warn about each.
	MissingPresets []string `koanf:"-"`
	// Warnings are located notes on values that are valid but probably
	// not what was meant (a JSONPath filter testing ".length"). Not a
	// config key; serve and validate show each.
	Warnings []Problem `koanf:"-"`
}

// Server configures the HTTP listener.
type Server struct {
	Listen string `koanf:"listen"` // default 127.0.0.1:8080
	// ShutdownTimeout bounds the SIGTERM drain; default 30s.
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`
}

// Store selects the database.
type Store struct {
	Driver string `koanf:"driver"` // sqlite (default) or postgres
	DSN    string `koanf:"dsn"`    // default data/jsonevent.db
	// Retention is how long an event, with the workflow runs it started,
	// is kept; 0 (the default) keeps every event. At least MinRetention.
	Retention time.Duration `koanf:"retention"`
}

// MinRetention is the shortest store.retention: an event must outlive its
// idempotency key (24 h) and the captures that point at it (24 h).
const MinRetention = 24 * time.Hour

// Limits are the wire-contract limits; a trigger may override BodyBytes.
type Limits struct {
	BodyBytes         int `koanf:"body_bytes"`          // default 102400
	RequestsPerMinute int `koanf:"requests_per_minute"` // default 3000, per token
	ManualFields      int `koanf:"manual_fields"`       // default 10
}

// Queue tunes the workflow job queue (river). Zero values take defaults.
type Queue struct {
	// Workers is how many workflow runs execute at once; default 250.
	Workers int `koanf:"workers"`
	// PollInterval is how often idle workers look for jobs; default 100ms.
	PollInterval time.Duration `koanf:"poll_interval"`
	// RescueAfter is how long a run may stay "running" before it is taken
	// to have been interrupted (the process died) and is retried, resuming
	// at its first unfinished task; default 5m. It must exceed the longest
	// workflow's run time.
	RescueAfter time.Duration `koanf:"rescue_after"`
}

// SMTP is the outgoing mail server for email tasks and notifications.
type SMTP struct {
	Host     string `koanf:"host"`
	Port     int    `koanf:"port"`
	Username string `koanf:"username"`
	Password string `koanf:"password"` // from env: JSONEVENT_SMTP__PASSWORD
	From     string `koanf:"from"`
	TLS      string `koanf:"tls"` // none | starttls | tls
	// InsecureAuth allows a username (and its password) with tls none to a
	// host other than this machine: for a relay on a network you trust.
	InsecureAuth bool `koanf:"insecure_auth"`
}

// Account owns tokens and triggers.
type Account struct {
	ID       string  `koanf:"id"`
	Username string  `koanf:"username"` // the username half of Basic auth
	Tokens   []Token `koanf:"tokens"`
	Notify   Notify  `koanf:"notify"`
}

// Token is stored only as the hex SHA-256 of the secret.
type Token struct {
	SHA256 string `koanf:"sha256"`
}

// Notify says where failed workflow runs are reported.
type Notify struct {
	Webhook string `koanf:"webhook"`
	Email   string `koanf:"email"`
}

// Trigger binds an id to an account, an adapter, fields and workflows.
type Trigger struct {
	ID        string            `koanf:"id"`
	Account   string            `koanf:"account"`
	Adapter   string            `koanf:"adapter"`    // default generic
	BodyBytes int               `koanf:"body_bytes"` // 0 = limits.body_bytes
	Fields    map[string]string `koanf:"fields"`     // name -> JSONPath, hand-written
	// PresetFields are the fields inherited from configs/presets/<adapter>.yaml,
	// filled by Load; a hand-written field of the same name wins, so a name
	// is in Fields or in PresetFields, never both. They do not count against
	// limits.manual_fields.
	PresetFields map[string]string `koanf:"-"`
	// Adapter-specific options (e.g. dynamics merge_snapshots, genesys echo).
	Options   map[string]any `koanf:"options"`
	Workflows []Workflow     `koanf:"workflows"`
}

// Workflow is an ordered list of tasks run after an event is accepted.
type Workflow struct {
	ID    string `koanf:"id"`
	When  string `koanf:"when"` // JSONPath filter over {fields, body, query, received_at}
	Retry Retry  `koanf:"retry"`
	Tasks []Task `koanf:"tasks"`
}

// Retry is a workflow's retry policy.
type Retry struct {
	Attempts   int           `koanf:"attempts"`    // default 8
	MinBackoff time.Duration `koanf:"min_backoff"` // default 1s
	MaxBackoff time.Duration `koanf:"max_backoff"` // default 15m
	// RetryStatuses lists 4xx statuses that are retried anyway.
	RetryStatuses []int `koanf:"retry_statuses"`
}

// Task is one step of a workflow. Which keys apply depends on Type
// (http, ticket, email); the others must be empty.
type Task struct {
	ID      string        `koanf:"id"`
	Type    string        `koanf:"type"`
	Timeout time.Duration `koanf:"timeout"` // default 10s

	// http
	Method  string            `koanf:"method"`
	URL     string            `koanf:"url"`
	Headers map[string]string `koanf:"headers"`
	Body    any               `koanf:"body"` // http: JSON template (object); email: text template
	Success []int             `koanf:"success"`
	Outputs map[string]string `koanf:"outputs"` // name -> JSONPath on the response body

	// ticket
	Title       string `koanf:"title"`
	Description string `koanf:"description"`
	Priority    string `koanf:"priority"`

	// email
	To      string `koanf:"to"`
	Subject string `koanf:"subject"`
}
