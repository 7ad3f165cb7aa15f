// Package workflow runs what an accepted event starts: ordered tasks (an
// outbound HTTP call, a ticket in our store, a survey e-mail) described in
// the trigger's config, with templates that cannot be broken out of, a
// JSONPath `when` condition, retries with exponential backoff and jitter,
// and a record of every attempt.
//
// Compile turns the config into a Set once (at load, so a bad template or
// condition stops start-up with a message naming the key); a Runner executes
// one task of a compiled workflow against an event.
package workflow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Event is what a workflow sees of an accepted event.
type Event struct {
	ID         string
	TriggerID  string
	AccountID  string
	ReceivedAt time.Time
	// Query holds the request's query parameters (triggerId, contextId, …).
	Query map[string]string
	// Body is the normalised JSON document; Fields the extracted values as
	// raw JSON, by name (null when the path selected nothing).
	Body   json.RawMessage
	Fields map[string]json.RawMessage
}

// Document returns the JSON document `when` conditions are evaluated over:
// {"fields": …, "body": …, "query": …, "received_at": "RFC 3339"}.
func (e *Event) Document() []byte {
	var b bytes.Buffer
	b.WriteString(`{"fields":{`)
	first := true
	for _, k := range sortedKeys(e.Fields) {
		if !first {
			b.WriteByte(',')
		}
		first = false
		writeJSONString(&b, k)
		b.WriteByte(':')
		b.Write(rawOrNull(e.Fields[k]))
	}
	b.WriteString(`},"body":`)
	b.Write(rawOrNull(e.Body))
	b.WriteString(`,"query":{`)
	first = true
	for _, k := range sortedKeys(e.Query) {
		if !first {
			b.WriteByte(',')
		}
		first = false
		writeJSONString(&b, k)
		b.WriteByte(':')
		writeJSONString(&b, e.Query[k])
	}
	b.WriteString(`},"received_at":`)
	writeJSONString(&b, e.ReceivedAt.UTC().Format(time.RFC3339Nano))
	b.WriteByte('}')
	return b.Bytes()
}

// Data is the template root for one task: the event plus the outputs of the
// tasks that finished before it.
type Data struct {
	Event    *Event
	Workflow string
	// Tasks holds the outputs of finished tasks, by task id then output name.
	Tasks map[string]map[string]any

	root map[string]any
}

// Root returns the value templates are executed with: fields, body, query,
// received_at, event_id, trigger_id, workflow_id and tasks. Numbers keep
// their JSON text (json.Number).
func (d *Data) Root() (map[string]any, error) {
	if d.root != nil {
		return d.root, nil
	}
	fields := make(map[string]any, len(d.Event.Fields))
	for k, raw := range d.Event.Fields {
		v, err := decodeJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("decode field %q: %w", k, err)
		}
		fields[k] = v
	}
	body, err := decodeJSON(d.Event.Body)
	if err != nil {
		return nil, fmt.Errorf("decode event body: %w", err)
	}
	query := make(map[string]any, len(d.Event.Query))
	for k, v := range d.Event.Query {
		query[k] = v
	}
	tasks := make(map[string]any, len(d.Tasks))
	for id, out := range d.Tasks {
		m := make(map[string]any, len(out))
		for k, v := range out {
			m[k] = v
		}
		tasks[id] = m
	}
	d.root = map[string]any{
		"fields":      fields,
		"body":        body,
		"query":       query,
		"received_at": d.Event.ReceivedAt.UTC().Format(time.RFC3339Nano),
		"event_id":    d.Event.ID,
		"trigger_id":  d.Event.TriggerID,
		"workflow_id": d.Workflow,
		"tasks":       tasks,
	}
	return d.root, nil
}

// rootKeys are the names a template may start a field reference with.
var rootKeys = map[string]bool{
	"fields": true, "body": true, "query": true, "received_at": true,
	"event_id": true, "trigger_id": true, "workflow_id": true, "tasks": true,
}

func decodeJSON(raw []byte) (any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

func rawOrNull(raw []byte) []byte {
	if len(bytes.TrimSpace(raw)) == 0 {
		return []byte("null")
	}
	return raw
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s) // a string always marshals
	b.Write(enc)
}

// SetOutputs records a finished task's outputs for the tasks after it.
func (d *Data) SetOutputs(taskID string, out map[string]any) {
	if d.Tasks == nil {
		d.Tasks = map[string]map[string]any{}
	}
	d.Tasks[taskID] = out
	if d.root != nil {
		m := make(map[string]any, len(out))
		for k, v := range out {
			m[k] = v
		}
		d.root["tasks"].(map[string]any)[taskID] = m
	}
}
