package workflow

import (
	"context"
	"testing"
	"time"

	"github.com/jsonevent/jsonevent/core/config"
	"github.com/jsonevent/jsonevent/core/pgtest"
	"github.com/jsonevent/jsonevent/core/store"
)

// TestEngineWorkflowOnlyAnotherNodeKnows: a config reload reaches the nodes
// one by one. A node that has reloaded plans a new workflow's job; a node
// that has not yet fetches it. That run failed at once ("workflow … is no
// longer in trigger …'s config", and its failure notified); it must wait
// for a node that has the workflow instead.
func TestEngineWorkflowOnlyAnotherNodeKnows(t *testing.T) {
	dsn := pgtest.DSN(t)
	old := engineStore
	engineStore = func(t *testing.T) config.Store { return config.Store{Driver: "postgres", DSN: dsn} }
	defer func() { engineStore = old }()

	kept := config.Workflow{ID: "kept", Tasks: []config.Task{{ID: "x", Type: "ticket", Title: "kept"}}}
	added := config.Workflow{ID: "added", Tasks: []config.Task{{ID: "x", Type: "ticket", Title: "added"}}}
	notYet := newEngineEnv(t, testConfig(kept), true)           // working jobs, config not reloaded yet
	reloaded := newEngineEnv(t, testConfig(kept, added), false) // receiving only, for now
	id := reloaded.fire(t, `{}`)

	// The node without "added" works what it can; "added" must not fail.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		runs, err := notYet.st.EventRuns(context.Background(), "demo", id)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range runs {
			if r.WorkflowID == "added" && r.Status == store.RunFailed {
				t.Fatalf("run of a workflow only another node knows failed: %s", r.Error)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Once a node that has it works jobs, the run succeeds. (The other node
	// stops, so that it is this one that fetches the job next.)
	stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := notYet.st.Queue().Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	if err := reloaded.st.Queue().Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, r := range reloaded.waitRuns(t, id, 2) {
		if r.Status != store.RunSucceeded || len(r.Attempts) != 1 {
			t.Errorf("run %s: %s after %d attempts: %s", r.WorkflowID, r.Status, len(r.Attempts), r.Error)
		}
	}
}
