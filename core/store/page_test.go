package store

import (
	"reflect"
	"testing"
)

// Ensure the page builder numbers placeholders in order, bounds the limit and
// asks for one row past the page.
func TestPageQuery(t *testing.T) {
	p := newPage("acme", 0, "run_X")
	p.and("status = $%d", "failed")
	q, args := p.query("id, status", "workflow_runs")
	wantQ := `SELECT id, status FROM workflow_runs WHERE account_id = $1 AND id < $2 AND status = $3 ORDER BY id DESC LIMIT $4`
	if q != wantQ {
		t.Errorf("query =\n%s\nwant\n%s", q, wantQ)
	}
	if want := []any{"acme", "run_X", "failed", int64(51)}; !reflect.DeepEqual(args, want) {
		t.Errorf("args = %v, want %v (default limit 50, plus one)", args, want)
	}
	if p := newPage("acme", 10_000, ""); p.limit != 500 {
		t.Errorf("limit 10000 became %d, want the 500 cap", p.limit)
	}
	// query must not let a later and() see the LIMIT argument.
	p.and("trigger_id = $%d", "OC_a")
	if _, args := p.query("id", "t"); len(args) != 5 || args[3] != "OC_a" {
		t.Errorf("args after a second query = %v", args)
	}
}

// Ensure cut returns the next cursor only when a row past the page came back.
func TestPageCut(t *testing.T) {
	p := newPage("acme", 2, "")
	id := func(s string) string { return s }
	if rows, next := cut(p, []string{"c", "b"}, id); len(rows) != 2 || next != "" {
		t.Errorf("a full last page: %v, next %q", rows, next)
	}
	if rows, next := cut(p, []string{"c", "b", "a"}, id); !reflect.DeepEqual(rows, []string{"c", "b"}) || next != "b" {
		t.Errorf("a page with more: %v, next %q, want [c b] and b", rows, next)
	}
}
