package config

import (
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/jsonevent/jsonevent/core/jsonpath"
)

// Bounds that validate enforces.
const (
	MaxBodyBytes         = 10 << 20 // 10 MiB, for limits.body_bytes and triggers[].body_bytes
	MaxRequestsPerMinute = 1_000_000
	MaxManualFields      = 1000
	MaxRetryAttempts     = 100
	MaxTaskTimeout       = 10 * time.Minute
	MaxShutdownTimeout   = 10 * time.Minute
)

func validate(c *Config, opt Options, ps *problems) {
	validateServer(c, ps)
	validateAccounts(c, ps)
	validateTriggers(c, opt, ps)
}

func validateServer(c *Config, ps *problems) {
	if host, port, err := net.SplitHostPort(c.Server.Listen); err != nil {
		ps.add("server.listen", "%q is not host:port (e.g. 127.0.0.1:8080 or :8080)", c.Server.Listen)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		ps.add("server.listen", "port %q is not a number from 0 to 65535", port)
	} else if !isListenHost(host) {
		ps.add("server.listen", "host %q is neither an IP address nor a host name (leave it empty, as in :8080, for every interface)", host)
	}
	if d := c.Server.ShutdownTimeout; d <= 0 || d > MaxShutdownTimeout {
		ps.add("server.shutdown_timeout", "%s is out of range: use more than 0s and at most %s", d, MaxShutdownTimeout)
	}
	switch c.Store.Driver {
	case "sqlite", "postgres":
	default:
		ps.add("store.driver", "%q is not a store driver: use sqlite or postgres", c.Store.Driver)
	}
	if r := c.Store.Retention; r != 0 && r < MinRetention {
		ps.add("store.retention", "%s is too short: use 0 to keep every event, or at least %s (an event must outlive its idempotency key and its captures), e.g. 30d", r, MinRetention)
	}
	if strings.TrimSpace(c.Store.DSN) == "" {
		ps.add("store.dsn", "is empty: give a file path for sqlite or a connection URL for postgres")
	} else {
		validateDSN(c.Store, ps)
	}
	inRange(ps, "limits.body_bytes", c.Limits.BodyBytes, 1, MaxBodyBytes)
	inRange(ps, "limits.requests_per_minute", c.Limits.RequestsPerMinute, 1, MaxRequestsPerMinute)
	inRange(ps, "limits.manual_fields", c.Limits.ManualFields, 0, MaxManualFields)
	switch c.SMTP.TLS {
	case "none", "starttls", "tls":
	default:
		ps.add("smtp.tls", "%q is not one of none, starttls, tls", c.SMTP.TLS)
	}
	inRange(ps, "smtp.port", c.SMTP.Port, 1, 65535)
	if c.SMTP.TLS == "none" && c.SMTP.Username != "" && !c.SMTP.InsecureAuth && !loopbackHost(c.SMTP.Host) {
		ps.add("smtp.tls", "is none, so smtp.username's password would cross the network to %q unencrypted: use starttls or tls, or set smtp.insecure_auth: true for a relay on a network you trust", c.SMTP.Host)
	}
	if c.SMTP.From != "" {
		if _, err := mail.ParseAddress(c.SMTP.From); err != nil {
			ps.add("smtp.from", "%q is not an e-mail address", c.SMTP.From)
		}
	}
}

// validateDSN refuses a store.dsn the driver would misread: SQLite takes
// any string as a file path, so a PostgreSQL URL left with the default
// driver would silently become a local database file.
func validateDSN(st Store, ps *problems) {
	dsn := strings.TrimSpace(st.DSN)
	switch st.Driver {
	case "sqlite":
		if msg := SQLitePathProblem(dsn); msg != "" {
			ps.add("store.dsn", "%s", msg)
		}
	case "postgres":
		lower := strings.ToLower(dsn)
		if !strings.HasPrefix(lower, "postgres://") && !strings.HasPrefix(lower, "postgresql://") && !strings.Contains(dsn, "=") {
			ps.add("store.dsn", "%q is not a PostgreSQL connection URL: with store.driver postgres set store.dsn (or JSONEVENT_STORE__DSN) to postgres://user@host/db or host=… dbname=…", dsn)
		}
	}
}

// SQLitePathProblem says why dsn cannot be the file the sqlite driver
// opens, or "" when it can. The driver takes any string as a path, so an
// in-memory database would lose every event at a restart, and a URL other
// than file: or a key=value connection string (meant for PostgreSQL) would
// silently become a local file named after it, password included. The
// message does not quote dsn: it may hold a password. The store checks it
// too, for callers that open a store without loading a config.
func SQLitePathProblem(dsn string) string {
	if strings.Contains(dsn, ":memory:") {
		return "is an in-memory database (:memory:): give a file path (the store must survive a restart)"
	}
	connection := strings.Contains(dsn, "://") && !strings.HasPrefix(dsn, "file:")
	for _, f := range strings.Fields(strings.ToLower(dsn)) {
		for _, k := range []string{"host=", "hostaddr=", "dbname=", "user=", "password="} {
			connection = connection || strings.HasPrefix(f, k)
		}
	}
	if connection {
		return "is a connection string (a URL or key=value pairs), but store.driver is sqlite, which takes a file path: for PostgreSQL set store.driver: postgres (JSONEVENT_STORE__DRIVER=postgres)"
	}
	return ""
}

func inRange(ps *problems, key string, v, lo, hi int) {
	if v < lo || v > hi {
		ps.add(key, "%d is out of range %d..%d", v, lo, hi)
	}
}

func validateAccounts(c *Config, ps *problems) {
	ids := map[string]string{}
	hashes := map[string]string{}
	for i, a := range c.Accounts {
		key := fmt.Sprintf("accounts[%d]", i)
		if checkID(ps, key+".id", a.ID) {
			if first, dup := ids[a.ID]; dup {
				ps.add(key+".id", "duplicate account id %q (first at %s)", a.ID, ps.where(first))
			} else {
				ids[a.ID] = key + ".id"
			}
		}
		if strings.Contains(a.Username, ":") {
			ps.add(key+".username", "contains a colon, which Basic auth cannot carry in a username")
		}
		for j, t := range a.Tokens {
			tkey := fmt.Sprintf("%s.tokens[%d].sha256", key, j)
			if !isHex64(t.SHA256) {
				ps.add(tkey, "must be the 64 hex characters of the token's SHA-256 (make one with `jsonevent token new --account %s`); the token itself never goes in the config", a.ID)
				continue
			}
			if first, dup := hashes[t.SHA256]; dup {
				ps.add(tkey, "duplicate token hash (also at %s): a token belongs to one account", ps.where(first))
			} else {
				hashes[t.SHA256] = tkey
			}
		}
		if w := a.Notify.Webhook; w != "" && !isHTTPURL(w) {
			ps.add(key+".notify.webhook", "%q is not an absolute http or https URL", w)
		}
		if e := a.Notify.Email; e != "" {
			if _, err := mail.ParseAddress(e); err != nil {
				ps.add(key+".notify.email", "%q is not an e-mail address", e)
			}
		}
	}
}

func validateTriggers(c *Config, opt Options, ps *problems) {
	accounts := map[string]bool{}
	for _, a := range c.Accounts {
		accounts[a.ID] = true
	}
	ids := map[string]string{}
	usesEmail := ""
	for i, t := range c.Triggers {
		key := fmt.Sprintf("triggers[%d]", i)
		if checkID(ps, key+".id", t.ID) {
			if first, dup := ids[t.ID]; dup {
				ps.add(key+".id", "duplicate trigger id %q (first at %s)", t.ID, ps.where(first))
			} else {
				ids[t.ID] = key + ".id"
			}
		}
		switch {
		case t.Account == "":
			ps.add(key+".account", "is missing: name the account whose tokens may fire this trigger")
		case !accounts[t.Account]:
			ps.add(key+".account", "unknown account %q: it is not in accounts[].id", t.Account)
		}
		if opt.Adapters != nil && !contains(opt.Adapters, t.Adapter) {
			ps.add(key+".adapter", "unknown adapter %q: use one of %s", t.Adapter, strings.Join(opt.Adapters, ", "))
		} else if strings.ContainsAny(t.Adapter, `/\`) || strings.HasPrefix(t.Adapter, ".") {
			ps.add(key+".adapter", "%q is not an adapter name", t.Adapter)
		}
		if t.BodyBytes != 0 {
			inRange(ps, key+".body_bytes", t.BodyBytes, 1, MaxBodyBytes)
		}
		if n := len(t.Fields); n > c.Limits.ManualFields {
			ps.add(key+".fields", "has %d hand-written fields; the limit is limits.manual_fields = %d (preset fields do not count)", n, c.Limits.ManualFields)
		}
		for _, name := range sortedNames(t.Fields) {
			checkField(key+".fields."+name, name, t.Fields[name], ps)
		}
		wids := map[string]string{}
		for j, w := range t.Workflows {
			wkey := fmt.Sprintf("%s.workflows[%d]", key, j)
			if checkID(ps, wkey+".id", w.ID) {
				if first, dup := wids[w.ID]; dup {
					ps.add(wkey+".id", "duplicate workflow id %q in trigger %q (first at %s)", w.ID, t.ID, ps.where(first))
				} else {
					wids[w.ID] = wkey + ".id"
				}
			}
			if w.When != "" {
				if f, err := jsonpath.CompileFilter(w.When); err != nil {
					ps.add(wkey+".when", "bad filter %q: %v", w.When, err)
				} else {
					for _, h := range f.Hints() {
						ps.warn(wkey+".when", "filter %q: %s", w.When, h)
					}
				}
			}
			validateRetry(wkey+".retry", w.Retry, ps)
			if len(w.Tasks) == 0 {
				ps.add(wkey+".tasks", "workflow %q has no tasks", w.ID)
			}
			tids := map[string]string{}
			for k, tk := range w.Tasks {
				tkey := fmt.Sprintf("%s.tasks[%d]", wkey, k)
				if checkID(ps, tkey+".id", tk.ID) {
					if first, dup := tids[tk.ID]; dup {
						ps.add(tkey+".id", "duplicate task id %q in workflow %q (first at %s)", tk.ID, w.ID, ps.where(first))
					} else {
						tids[tk.ID] = tkey + ".id"
					}
				}
				if tk.Type == "email" && usesEmail == "" {
					usesEmail = tkey
				}
				validateTask(tkey, tk, ps)
			}
		}
	}
	if usesEmail == "" {
		for i, a := range c.Accounts {
			if a.Notify.Email != "" {
				usesEmail = fmt.Sprintf("accounts[%d].notify.email", i)
				break
			}
		}
	}
	if usesEmail != "" && c.SMTP.Host == "" {
		ps.add("smtp.host", "is empty, but %s sends e-mail: set smtp.host (and smtp.from)", usesEmail)
	}
	if usesEmail != "" && c.SMTP.From == "" {
		ps.add("smtp.from", "is empty, but %s sends e-mail: set the sender address, e.g. \"jsonevent <jsonevent@example.com>\"", usesEmail)
	}
}

func validateRetry(key string, r Retry, ps *problems) {
	inRange(ps, key+".attempts", r.Attempts, 1, MaxRetryAttempts)
	if r.MinBackoff < 0 {
		ps.add(key+".min_backoff", "%s is negative", r.MinBackoff)
	}
	if r.MaxBackoff < r.MinBackoff {
		ps.add(key+".max_backoff", "%s is less than min_backoff %s", r.MaxBackoff, r.MinBackoff)
	}
	for i, s := range r.RetryStatuses {
		if s < 400 || s > 499 {
			ps.add(fmt.Sprintf("%s.retry_statuses[%d]", key, i), "%d is not a 4xx status (5xx and network errors are always retried)", s)
		}
	}
}

func validateTask(key string, t Task, ps *problems) {
	if t.Timeout <= 0 || t.Timeout > MaxTaskTimeout {
		ps.add(key+".timeout", "%s is out of range: use more than 0s and at most %s", t.Timeout, MaxTaskTimeout)
	}
	// set lists the type-specific keys this task sets.
	set := map[string]bool{
		"method": t.Method != "", "url": t.URL != "", "headers": len(t.Headers) > 0,
		"body": t.Body != nil, "success": len(t.Success) > 0, "outputs": len(t.Outputs) > 0,
		"title": t.Title != "", "description": t.Description != "", "priority": t.Priority != "",
		"to": t.To != "", "subject": t.Subject != "",
	}
	var allowed []string
	switch t.Type {
	case "http":
		allowed = []string{"method", "url", "headers", "body", "success", "outputs"}
		if t.URL == "" {
			ps.add(key+".url", "is missing: an http task needs a url")
		} else if !strings.HasPrefix(t.URL, "{{") && !isHTTPURL(t.URL) {
			ps.add(key+".url", "%q is not an absolute http or https URL", t.URL)
		}
		switch t.Method {
		case "", "GET", "POST", "PUT", "PATCH", "DELETE":
		default:
			ps.add(key+".method", "%q is not one of GET, POST, PUT, PATCH, DELETE", t.Method)
		}
		for i, s := range t.Success {
			if s < 100 || s > 599 {
				ps.add(fmt.Sprintf("%s.success[%d]", key, i), "%d is not an HTTP status", s)
			}
		}
		for _, name := range sortedNames(t.Outputs) {
			checkField(key+".outputs."+name, name, t.Outputs[name], ps)
		}
	case "ticket":
		allowed = []string{"title", "description", "priority"}
		if t.Title == "" {
			ps.add(key+".title", "is missing: a ticket task needs a title")
		}
	case "email":
		allowed = []string{"to", "subject", "body"}
		if t.To == "" {
			ps.add(key+".to", "is missing: an email task needs a recipient")
		}
		if _, ok := t.Body.(string); t.Body != nil && !ok {
			ps.add(key+".body", "must be a text template (a string) for an email task")
		}
	case "":
		ps.add(key+".type", "is missing: use http, ticket or email")
		return
	default:
		ps.add(key+".type", "%q is not a task type: use http, ticket or email", t.Type)
		return
	}
	for _, name := range []string{"method", "url", "headers", "body", "success", "outputs", "title", "description", "priority", "to", "subject"} {
		if set[name] && !contains(allowed, name) {
			ps.add(key+"."+name, "does not apply to %s tasks (they take %s)", t.Type, strings.Join(allowed, ", "))
		}
	}
}

// checkField checks one field name and its JSONPath.
func checkField(key, name, path string, ps *problems) {
	if name == "" || len(name) > 64 || strings.IndexFunc(name, unicode.IsSpace) >= 0 {
		ps.add(key, "field name %q must be 1 to 64 characters without spaces", name)
	}
	if strings.TrimSpace(path) == "" {
		ps.add(key, "has no JSONPath: write one such as \"$.ticket.id\"")
		return
	}
	p, err := jsonpath.Compile(path)
	if err != nil {
		ps.add(key, "bad JSONPath %q: %v", path, err)
		return
	}
	for _, h := range p.Hints() {
		ps.warn(key, "JSONPath %q: %s", path, h)
	}
}

// checkID reports a missing or malformed id and says whether id is usable.
func checkID(ps *problems, key, id string) bool {
	if id == "" {
		ps.add(key, "is missing")
		return false
	}
	if strings.IndexFunc(id, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 || len(id) > 128 {
		ps.add(key, "%q must be at most 128 characters without spaces", id)
		return false
	}
	// Ids travel in URL paths (/v1/triggers/{id}/events) and query strings:
	// these characters would split or re-encode them, so a trigger named
	// OC/b would pass validation yet be unreachable by its alias route.
	if i := strings.IndexAny(id, "/?#%\\"); i >= 0 {
		ps.add(key, "%q must not contain %q (ids appear in URLs)", id, id[i:i+1])
		return false
	}
	return true
}

// isListenHost reports whether host can be bound: empty (every
// interface), an IP address, or a host name, whose labels are letters,
// digits, '-' and '_', not all digits (10.0.0.300 is a mistyped address
// that would be looked up in DNS).
func isListenHost(host string) bool {
	if _, err := netip.ParseAddr(host); host == "" || err == nil { // IPv6 zones too (fe80::1%eth0)
		return true
	}
	letter := false
	for _, label := range strings.Split(strings.TrimSuffix(host, "."), ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '-', r == '_':
				letter = true
			case r >= '0' && r <= '9':
			default:
				return false
			}
		}
	}
	return letter
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func sortedNames(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// loopbackHost reports whether host is this machine: localhost or a
// loopback address, where a password sent without TLS never leaves it.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
