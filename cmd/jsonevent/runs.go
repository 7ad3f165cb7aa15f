package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/jsonevent/jsonevent/core/store"
)

// The runs and tickets commands talk to a running server's HTTP API with
// an account token, rather than opening the database: the server is the
// only writer of its SQLite file, the account scoping is the API's own, and
// the same commands work against a remote or PostgreSQL-backed server.

func init() {
	commands["runs"] = command{
		summary: "list workflow runs, show one, retry a failed one (via the HTTP API)",
		run:     runRuns,
	}
}

// apiFlags are the connection flags of the API commands.
type apiFlags struct {
	url   string
	token string
	json  bool
}

func (a *apiFlags) register(fs *flag.FlagSet) {
	def := os.Getenv("JSONEVENT_URL")
	if def == "" {
		def = "http://127.0.0.1:8080"
	}
	fs.StringVar(&a.url, "url", def, "server base `URL` (env JSONEVENT_URL)")
	fs.StringVar(&a.token, "token", "", "account API `token` (better: env JSONEVENT_TOKEN, which stays out of ps)")
	fs.BoolVar(&a.json, "json", false, "print the API's JSON instead of a table")
}

// apiCommand is an API command's subcommand as startAPICommand found it.
type apiCommand struct {
	sub   string        // list, show, ...
	args  []string      // what follows the subcommand
	fs    *flag.FlagSet // the subcommand's flags, the connection flags registered
	api   apiFlags
	usage func() // prints the command's usage
}

// startAPICommand is how every API command begins: the usage for help
// (exit 0) or when no subcommand is named (exit 2), which return nil and
// the exit status; else the subcommand with its flag set.
func startAPICommand(name, usageText string, args []string, stderr io.Writer) (*apiCommand, int) {
	usage := func() { fmt.Fprintln(stderr, usageText) }
	if len(args) == 0 || isHelp(args[0]) {
		usage()
		if len(args) == 0 {
			return nil, 2
		}
		return nil, 0
	}
	c := &apiCommand{sub: args[0], args: args[1:], usage: usage}
	c.fs = flag.NewFlagSet(name+" "+c.sub, flag.ContinueOnError)
	c.fs.SetOutput(stderr)
	c.fs.Usage = func() {
		usage()
		c.fs.PrintDefaults()
	}
	c.api.register(c.fs)
	return c, 0
}

// parseIDArgs parses the flags of a subcommand that names one id; the
// flags may come before or after it. ok is false when the command is over,
// with code its exit status (the usage printed for a missing or extra id).
func parseIDArgs(fs *flag.FlagSet, args []string, usage func()) (id string, code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		return "", parseFailed(err), false
	}
	if fs.NArg() < 1 {
		usage()
		return "", 2, false
	}
	id = fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return "", parseFailed(err), false
	}
	if fs.NArg() > 0 {
		usage()
		return "", 2, false
	}
	return id, 0, true
}

// call sends one API request and decodes a 2xx JSON answer into out; any
// other answer becomes an error carrying the API's message.
func (a *apiFlags) call(ctx context.Context, method, path string, query url.Values, body io.Reader, out any) error {
	token := a.token
	if token == "" {
		token = os.Getenv("JSONEVENT_TOKEN")
	}
	if token == "" {
		return errors.New("no token: set JSONEVENT_TOKEN (or pass --token)")
	}
	u := strings.TrimRight(a.url, "/") + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("X-API-TOKEN", token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct{ Error, Message string }
		if json.Unmarshal(b, &e) == nil && e.Message != "" {
			return fmt.Errorf("%s (%d %s)", e.Message, resp.StatusCode, e.Error)
		}
		return fmt.Errorf("%s %s answered %d", method, path, resp.StatusCode)
	}
	if raw, ok := out.(*json.RawMessage); ok {
		*raw = b
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// listPages prints a paged list endpoint whose answer holds its items under
// key and the next page's cursor under nextCursor: every page's raw JSON with
// --json, else a table of header and one row per item; with all it follows
// the cursor to the last page. Rows hold the senders' text (a ticket title
// from an event field, a run error quoting a receiver's answer): control
// characters are shown escaped (termSafe), never sent to the terminal.
func listPages[T any](ctx context.Context, api *apiFlags, path string, q url.Values, key string, all bool,
	stdout io.Writer, header string, row func(io.Writer, T)) error {
	tw := tabwriter.NewWriter(termSafe{stdout}, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	for first := true; ; first = false {
		var raw json.RawMessage
		if err := api.call(ctx, http.MethodGet, path, q, nil, &raw); err != nil {
			return err
		}
		if first && !api.json { // after the first answer: an error prints no table
			fmt.Fprintln(tw, header)
		}
		var page map[string]json.RawMessage
		if err := json.Unmarshal(raw, &page); err != nil {
			return fmt.Errorf("decode answer: %w", err)
		}
		var items []T
		if len(page[key]) > 0 {
			if err := json.Unmarshal(page[key], &items); err != nil {
				return fmt.Errorf("decode answer: %s: %w", key, err)
			}
		}
		var next string
		if len(page["nextCursor"]) > 0 {
			if err := json.Unmarshal(page["nextCursor"], &next); err != nil {
				return fmt.Errorf("decode answer: nextCursor: %w", err)
			}
		}
		if api.json {
			printJSON(stdout, raw)
		} else {
			for _, it := range items {
				row(tw, it)
			}
		}
		if !all || next == "" {
			return nil
		}
		q.Set("cursor", next)
	}
}

// printJSON prints raw indented, with the control characters encoding/json
// leaves in strings (DEL, U+0080 to U+009F: CSI on some terminals) written
// as \u escapes, so that it stays JSON; an answer that is not JSON is
// printed through termSafe.
func printJSON(w io.Writer, raw json.RawMessage) {
	var v any
	if json.Unmarshal(raw, &v) == nil {
		if b, err := json.MarshalIndent(v, "", "  "); err == nil {
			fmt.Fprintf(w, "%s\n", escapeJSONControls(b))
			return
		}
	}
	fmt.Fprintf(termSafe{w}, "%s\n", raw)
}

// escapeJSONControls writes every control character of b but newline (in
// MarshalIndent's output, only in strings) as a JSON \u escape.
func escapeJSONControls(b []byte) string {
	var out strings.Builder
	for _, r := range string(b) {
		if r != '\n' && unicode.IsControl(r) {
			fmt.Fprintf(&out, "\\u%04x", r)
			continue
		}
		out.WriteRune(r)
	}
	return out.String()
}

func runRuns(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	c, code := startAPICommand("runs", `usage: jsonevent runs list [--status S] [--trigger T] [--since 24h|7d|RFC3339] [--limit N] [--all]
       jsonevent runs show ID
       jsonevent runs retry ID
common flags: --url URL (env JSONEVENT_URL), --token T (env JSONEVENT_TOKEN), --json`, args, stderr)
	if c == nil {
		return code
	}
	sub, args, fs, api, usage := c.sub, c.args, c.fs, &c.api, c.usage
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	switch sub {
	case "list":
		status := fs.String("status", "", "only runs with this `status`: "+strings.Join(store.RunStatuses, ", "))
		trigger := fs.String("trigger", "", "only runs of this trigger `id`")
		since := fs.String("since", "", "only runs created since (a duration back, 24h or 7d, or an RFC 3339 `time`)")
		limit := fs.Int("limit", 50, "runs per page (1-500)")
		all := fs.Bool("all", false, "follow the cursor through every page")
		if err := fs.Parse(args); err != nil {
			return parseFailed(err)
		}
		q := url.Values{}
		for k, v := range map[string]string{"status": *status, "trigger": *trigger, "since": *since} {
			if v != "" {
				q.Set(k, v)
			}
		}
		q.Set("limit", fmt.Sprint(*limit))
		err := listPages(ctx, api, "/v1/runs", q, "runs", *all, stdout,
			"RUN\tSTATUS\tTRIGGER\tWORKFLOW\tATTEMPTS\tCREATED\tEVENT\tERROR",
			func(w io.Writer, r *store.Run) {
				errText := r.Error
				if r.Status == store.RunSkipped {
					errText = "skipped by: " + r.SkippedBy
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.ID, r.Status, r.TriggerID, r.WorkflowID, len(r.Attempts),
					fmtTime(r.CreatedAt), r.EventID, oneLine(errText, 80))
			})
		if err != nil {
			fmt.Fprintf(stderr, "jsonevent runs list: %v\n", err)
			return 1
		}
		return 0
	case "show", "retry":
		id, code, ok := parseIDArgs(fs, args, usage)
		if !ok {
			return code
		}
		method, path := http.MethodGet, "/v1/runs/"+url.PathEscape(id)
		if sub == "retry" {
			method, path = http.MethodPost, path+"/retry"
		}
		var raw json.RawMessage
		if err := api.call(ctx, method, path, nil, nil, &raw); err != nil {
			fmt.Fprintf(stderr, "jsonevent runs %s: %v\n", sub, err)
			return 1
		}
		var r store.Run
		if api.json || json.Unmarshal(raw, &r) != nil {
			printJSON(stdout, raw)
			return 0
		}
		if sub == "retry" {
			fmt.Fprintf(termSafe{stdout}, "run %s is %s again; it resumes at its first unfinished task\n", r.ID, r.Status)
			return 0
		}
		printRun(stdout, &r)
		return 0
	}
	usage()
	return 2
}

// printRun shows one run for a person: what it belongs to, how it ended or
// when it tries again, every attempt with what failed it, and the tasks it
// finished. --json prints the whole record (responses included) instead.
func printRun(w io.Writer, r *store.Run) {
	tw := tabwriter.NewWriter(termSafe{w}, 2, 4, 2, ' ', 0)
	status := r.Status
	if r.MaxAttempts > 0 {
		status += fmt.Sprintf(" (%d of at most %d attempts)", len(r.Attempts), r.MaxAttempts)
	}
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	row("Run", r.ID)
	row("Status", status)
	row("Trigger", r.TriggerID)
	row("Workflow", r.WorkflowID)
	row("Event", r.EventID)
	row("Created", fmtTime(r.CreatedAt))
	row("Finished", fmtTime(r.FinishedAt))
	row("Next attempt", fmtTime(r.NextAt))
	row("Skipped by", oneLine(r.SkippedBy, 500))
	if r.Error != "" {
		e := oneLine(r.Error, 2000)
		if r.FailedTask != "" {
			e = "task " + r.FailedTask + ": " + e
		}
		row("Error", e)
	}
	_ = tw.Flush()
	if len(r.Attempts) > 0 {
		fmt.Fprintln(w, "\nAttempts:")
		tw = tabwriter.NewWriter(termSafe{w}, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  #\tSTARTED\tTOOK\tTASK\tOUTCOME")
		for _, a := range r.Attempts {
			took, outcome := "", "running"
			if !a.FinishedAt.IsZero() {
				took = a.FinishedAt.Sub(a.StartedAt).Round(time.Millisecond).String()
				outcome = "succeeded"
			}
			if a.Error != "" {
				outcome = oneLine(a.Error, 160)
				if a.Permanent {
					outcome = "(permanent, not retried) " + outcome
				}
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\n", a.Number, fmtTime(a.StartedAt), took, a.Task, outcome)
		}
		_ = tw.Flush()
	}
	if len(r.Notifications) > 0 {
		fmt.Fprintln(w, "\nFailure notifications:")
		tw = tabwriter.NewWriter(termSafe{w}, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  CHANNEL\tFOR\tSTATUS\tTRIES\tAT\tLAST ERROR")
		for _, n := range r.Notifications {
			status := n.Status
			switch status {
			case store.NotifyFailed:
				status = "failed, given up"
			case store.NotifyRetrying:
				status = "retrying"
			}
			fmt.Fprintf(tw, "  %s\tattempt %d\t%s\t%d\t%s\t%s\n", n.Channel, n.RunAttempts, status, n.Attempts, fmtTime(n.At), oneLine(n.Error, 160))
		}
		_ = tw.Flush()
	}
	if len(r.Tasks) > 0 {
		ids := make([]string, 0, len(r.Tasks))
		for id := range r.Tasks {
			ids = append(ids, id)
		}
		slices.SortFunc(ids, func(a, b string) int {
			return cmp.Or(r.Tasks[a].FinishedAt.Compare(r.Tasks[b].FinishedAt), strings.Compare(a, b))
		})
		fmt.Fprintln(w, "\nTasks finished (a retry does not run them again):")
		tw = tabwriter.NewWriter(termSafe{w}, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  TASK\tFINISHED\tTOOK\tOUTPUTS")
		for _, id := range ids {
			t := r.Tasks[id]
			took := time.Duration(t.DurationMS * float64(time.Millisecond)).Round(time.Millisecond).String()
			// The outputs are what later tasks and templates see; the
			// recorded response is in --json.
			shown := t.Result
			var rec map[string]json.RawMessage
			if json.Unmarshal(t.Result, &rec) == nil && rec["outputs"] != nil {
				shown = rec["outputs"]
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", id, fmtTime(t.FinishedAt), took, oneLine(string(shown), 160))
		}
		_ = tw.Flush()
	}
	fmt.Fprintln(w, "\n(--json prints the whole record, with the recorded responses)")
}

// fmtTime is t in local time for a person, "" when unset.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format(time.DateTime)
}

// oneLine flattens s to one line of at most n runes for a table cell.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
