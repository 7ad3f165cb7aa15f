package capture

import (
	"context"
	"testing"
	"time"

	"github.com/jsonevent/jsonevent/core/config"
	"github.com/jsonevent/jsonevent/core/pgtest"
	"github.com/jsonevent/jsonevent/core/store"
)

// TestRefreshAcrossNodes runs two services ("nodes") on one PostgreSQL
// database: a session opened, a field adopted or a session closed on one is
// seen by the other after Refresh.
func TestRefreshAcrossNodes(t *testing.T) {
	ctx := context.Background()
	nodes := twoNodes(t)
	a, b := nodes[0], nodes[1]
	trig := testTrigger()

	if _, err := a.Open(ctx, trig, 2, time.Minute); err != nil {
		t.Fatal(err)
	}
	if b.Capturing(trig.ID) {
		t.Fatal("node b knew of the session before refreshing")
	}
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if !b.Capturing(trig.ID) {
		t.Fatal("node b does not capture after refreshing")
	}
	// Each node records one request: the session (count 2) is then full in
	// the store, and a refresh closes it on both.
	a.Record(ctx, request(trig.ID, "demo", `{"n":1}`, 202))
	b.Record(ctx, request(trig.ID, "demo", `{"n":2}`, 202))
	for _, n := range nodes {
		if err := n.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if n.Capturing(trig.ID) {
			t.Fatal("a node still captures after the session filled across nodes")
		}
	}
	state, err := a.Get(ctx, trig)
	if err != nil {
		t.Fatal(err)
	}
	if len(state.Captures) != 2 {
		t.Fatalf("%d captures stored, want one from each node", len(state.Captures))
	}

	if _, err := a.Adopt(ctx, trig, 10, map[string]string{"n": "$.n"}); err != nil {
		t.Fatal(err)
	}
	if len(b.Adopted(trig.Account, trig.ID)) != 0 {
		t.Fatal("node b had the adopted field before refreshing")
	}
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.Adopted(trig.Account, trig.ID); len(got) != 1 || got[0].Name != "n" {
		t.Fatalf("node b adopted fields after refresh = %+v, want n", got)
	}
}

// TestSessionCountHoldsAcrossNodes: two nodes that both hold a session in
// memory record no more than its count between them, and the node that
// finds it full in the store stops capturing without waiting for Refresh.
func TestSessionCountHoldsAcrossNodes(t *testing.T) {
	ctx := context.Background()
	nodes := twoNodes(t)
	a, b := nodes[0], nodes[1]
	trig := testTrigger()
	if _, err := a.Open(ctx, trig, 2, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	a.Record(ctx, request(trig.ID, "demo", `{"n":1}`, 202))
	a.Record(ctx, request(trig.ID, "demo", `{"n":2}`, 202))
	if !b.Capturing(trig.ID) {
		t.Fatal("node b stopped capturing before it could know")
	}
	b.Record(ctx, request(trig.ID, "demo", `{"n":3}`, 202))
	if b.Capturing(trig.ID) {
		t.Fatal("node b still captures after the store refused its capture")
	}
	state, err := b.Get(ctx, trig)
	if err != nil {
		t.Fatal(err)
	}
	if len(state.Captures) != 2 {
		t.Fatalf("%d captures stored for a session of 2", len(state.Captures))
	}
}

// twoNodes runs two services ("nodes") on one PostgreSQL database, with
// one clock.
func twoNodes(t *testing.T) [2]*Service {
	t.Helper()
	dsn := pgtest.DSN(t)
	clk := &clock{t: time.Now()}
	var nodes [2]*Service
	for i := range nodes {
		st, err := store.Open(context.Background(), config.Store{Driver: "postgres", DSN: dsn}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		nodes[i] = newService(t, st, clk)
	}
	return nodes
}
