package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jsonevent/jsonevent/core/store"
)

func init() {
	commands["tickets"] = command{
		summary: "list, show and update tickets opened by workflows (via the HTTP API)",
		run:     runTickets,
	}
}

func runTickets(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	c, code := startAPICommand("tickets", `usage: jsonevent tickets list [--status S] [--trigger T] [--limit N] [--all]
       jsonevent tickets show ID
       jsonevent tickets set ID [--status S] [--assignee NAME]
common flags: --url URL (env JSONEVENT_URL), --token T (env JSONEVENT_TOKEN), --json`, args, stderr)
	if c == nil {
		return code
	}
	sub, args, fs, api, usage := c.sub, c.args, c.fs, &c.api, c.usage
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	switch sub {
	case "list":
		status := fs.String("status", "", "only tickets with this `status`: "+strings.Join(store.TicketStatuses, ", "))
		trigger := fs.String("trigger", "", "only tickets of this trigger `id`")
		limit := fs.Int("limit", 50, "tickets per page (1-500)")
		all := fs.Bool("all", false, "follow the cursor through every page")
		if err := fs.Parse(args); err != nil {
			return parseFailed(err)
		}
		q := url.Values{"limit": {fmt.Sprint(*limit)}}
		if *status != "" {
			q.Set("status", *status)
		}
		if *trigger != "" {
			q.Set("trigger", *trigger)
		}
		err := listPages(ctx, api, "/v1/tickets", q, "tickets", *all, stdout,
			"TICKET\tSTATUS\tPRIORITY\tTRIGGER\tASSIGNEE\tCREATED\tTITLE",
			func(w io.Writer, t *store.Ticket) {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Status, t.Priority, t.TriggerID, t.Assignee,
					fmtTime(t.CreatedAt), oneLine(t.Title, 60))
			})
		if err != nil {
			fmt.Fprintf(stderr, "jsonevent tickets list: %v\n", err)
			return 1
		}
		return 0
	case "show", "set":
		var status, assignee *string
		if sub == "set" { // show takes none: `show ID --status solved` is a usage error, not a silent no-op
			status = fs.String("status", "", "set the `status`: "+strings.Join(store.TicketStatuses, ", "))
			assignee = fs.String("assignee", "", "set the assignee (`name`)")
		}
		id, code, ok := parseIDArgs(fs, args, usage)
		if !ok {
			return code
		}
		path := "/v1/tickets/" + url.PathEscape(id)
		var raw json.RawMessage
		var err error
		if sub == "show" {
			err = api.call(ctx, http.MethodGet, path, nil, nil, &raw)
		} else {
			patch := map[string]string{}
			fs.Visit(func(f *flag.Flag) {
				switch f.Name {
				case "status":
					patch["status"] = *status
				case "assignee":
					patch["assignee"] = *assignee
				}
			})
			if len(patch) == 0 {
				fmt.Fprintln(stderr, "jsonevent tickets set: give --status and/or --assignee")
				return 2
			}
			b, _ := json.Marshal(patch)
			err = api.call(ctx, http.MethodPatch, path, nil, bytes.NewReader(b), &raw)
		}
		if err != nil {
			fmt.Fprintf(stderr, "jsonevent tickets %s: %v\n", sub, err)
			return 1
		}
		// Numbers stay as sent: a field's 64-bit id is not a float64.
		var t store.Ticket
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if api.json || dec.Decode(&t) != nil {
			printJSON(stdout, raw)
			return 0
		}
		printTicket(stdout, &t)
		return 0
	}
	usage()
	return 2
}

// printTicket shows one ticket for a person; --json prints the API's JSON.
func printTicket(w io.Writer, t *store.Ticket) {
	tw := tabwriter.NewWriter(termSafe{w}, 2, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	row("Ticket", t.ID)
	row("Title", oneLine(t.Title, 500))
	row("Status", t.Status)
	row("Priority", t.Priority)
	row("Assignee", oneLine(t.Assignee, 200))
	row("Trigger", t.TriggerID)
	if t.WorkflowID != "" {
		row("Workflow", t.WorkflowID+" (task "+t.TaskID+")")
	}
	row("Event", t.EventID)
	row("Created", fmtTime(t.CreatedAt))
	row("Updated", fmtTime(t.UpdatedAt))
	names := make([]string, 0, len(t.Fields))
	for n := range t.Fields {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		k := ""
		if i == 0 {
			k = "Fields"
		}
		v, _ := json.Marshal(t.Fields[n])
		fmt.Fprintf(tw, "%s\t%s = %s\n", k, oneLine(n, 80), oneLine(string(v), 300))
	}
	_ = tw.Flush()
	if d := strings.TrimSpace(t.Description); d != "" {
		fmt.Fprintln(w)
		for _, line := range strings.Split(d, "\n") {
			fmt.Fprintf(termSafe{w}, "  %s\n", strings.TrimRight(line, "\r"))
		}
	}
}
