package workflow

import (
	"context"
	"testing"
	"time"

	"github.com/jsonevent/jsonevent/core/config"
	"github.com/jsonevent/jsonevent/core/store"
)

// slowJSON takes its time to encode, as a large ticket's fields or a
// busy machine would, holding the Batcher in the write's function.
type slowJSON struct{}

func (slowJSON) MarshalJSON() ([]byte, error) {
	time.Sleep(300 * time.Millisecond)
	return []byte(`"slow"`), nil
}

// TestCreateTicketGivesUpWithoutRacingTheWriter: when the caller's
// context ends while the Batcher runs its write, Do returns at once, but
// the write's function goes on in the Batcher's goroutine and then sets
// the ticket CreateTicket returns. Read after such a give-up, it is a data
// race with that goroutine (go test -race), and the ticket of a write
// that may yet commit would be returned beside the error.
func TestCreateTicketGivesUpWithoutRacingTheWriter(t *testing.T) {
	env := newEngineEnv(t, &config.Config{}, false)
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	tk, err := engineTickets{env.e}.CreateTicket(short, &store.Ticket{AccountID: "demo", TriggerID: "OC_demo",
		EventID: store.NewEventID(), WorkflowID: "wf", TaskID: "t", Title: "slow", Fields: map[string]any{"x": slowJSON{}}})
	if err == nil {
		t.Fatalf("CreateTicket succeeded past its context: %+v", tk)
	}
	if tk != nil {
		t.Fatalf("CreateTicket failed (%v) but returned a ticket", err)
	}
	// A later write is answered once the Batcher has finished the first.
	if err := env.e.batch.Do(context.Background(), func(store.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
}
