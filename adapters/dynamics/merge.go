package dynamics

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/jsonevent/jsonevent/adapters/internal/jsondoc"
	"github.com/jsonevent/jsonevent/core"
)

// merge fills doc.record with the last known state of the record (Dynamics
// sends only the changed columns on Update) and stores the new state; a
// Delete removes the snapshot after using it. The key is trigger, entity
// and record id, so triggers never see each other's data.
func (a *Adapter) merge(ctx context.Context, triggerID string, doc map[string]any, n *normalizer) error {
	meta := doc["_meta"].(map[string]any)
	entity, _ := doc["entity_name"].(string)
	recordID, _ := doc["record_id"].(string)
	if entity == "" || recordID == "" {
		meta["snapshot"] = "skipped"
		n.warn("merge_snapshots: no entity name or record id, so the record was not merged")
		return nil
	}
	record, _ := doc["record"].(map[string]any)
	deleted := doc["message_name"] == "Delete"
	key := triggerID + "/" + entity + "/" + recordID
	var merged map[string]any
	state := "new"
	err := a.snapshots.UpdateSnapshot(ctx, key, func(prev []byte) ([]byte, error) {
		merged = map[string]any{}
		state = "new"
		if prev != nil {
			dec := json.NewDecoder(bytes.NewReader(prev))
			dec.UseNumber()
			var p map[string]any
			if err := dec.Decode(&p); err == nil {
				for k, v := range p {
					merged[k] = v
				}
				state = "merged"
			}
		}
		for k, v := range record {
			merged[k] = v
		}
		if deleted {
			return nil, nil
		}
		return jsondoc.Encode(merged)
	})
	if err != nil {
		return &core.Error{Code: core.CodeUnavailable, Message: "could not read or save the record snapshot; retry later", Err: fmt.Errorf("dynamics merge_snapshots %s: %w", key, err)}
	}
	doc["record"] = merged
	if recs, ok := doc["records"].([]any); ok && len(recs) > 0 {
		recs[0] = merged
	}
	if deleted {
		state += ",deleted"
	}
	meta["snapshot"] = state
	return nil
}
