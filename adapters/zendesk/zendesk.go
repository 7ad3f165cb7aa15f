// Package zendesk normalises the requests of Zendesk webhooks, in both of
// Zendesk's connection methods: a webhook subscribed to Zendesk events
// (Zendesk writes the body: {"type":"zen:event-type:…","id":…,"detail":{…},
// "event":{…}}) and a webhook connected to a trigger or automation (the admin
// writes the JSON body with placeholders such as {{ticket.id}}).
//
// The normalised document is
//
//	{
//	  "shape":    "event" | "template",
//	  "ticket":   {"id": "35436", "subject": …, "status": …, "tags": ["a","b"],
//	               …every other key of the ticket…} | null,
//	  "event":    {"type": "zen:event-type:ticket.created", "name": "ticket.created",
//	               "domain": "ticket", "id": …, "time": …, "account_id": "12514403",
//	               "subject": "zen:ticket:35436", "subject_type": "ticket",
//	               "subject_id": "35436", "version": …, "current": …,
//	               "previous": …, "change": {…the event object as sent…}} | null,
//	  "detail":   {…the event's detail object as sent…} | null,
//	  "template": {…the trigger's body as sent…} | null,
//	  "_meta":    {"adapter": "zendesk", "auth_username": …, "delivery_id": …,
//	               "account_id": …, "webhook_id": …, "invocation_id": …,
//	               "signature_timestamp": …}
//	}
//
// See README.md for the rules (ids as strings, "" as null in ticket, tags
// split on spaces).
package zendesk

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/jsonevent/jsonevent/adapters/internal/jsondoc"
	"github.com/jsonevent/jsonevent/core"
)

// Name is the adapter's config value.
const Name = "zendesk"

// eventTypePrefix starts the type of every Zendesk event; Zendesk's own
// tables spell a few types with a slash after it instead of a colon.
const eventTypePrefix = "zen:event-type"

// The headers every Zendesk webhook request carries.
const (
	headerAccountID    = "X-Zendesk-Account-Id"
	headerWebhookID    = "X-Zendesk-Webhook-Id"
	headerInvocationID = "X-Zendesk-Webhook-Invocation-Id"
	headerSignatureAt  = "X-Zendesk-Webhook-Signature-Timestamp"
)

// Adapter normalises Zendesk webhook bodies. It has no options.
type Adapter struct{}

var (
	_ core.Adapter           = Adapter{}
	_ core.InvalidJSONHinter = Adapter{}
)

// New returns the Zendesk adapter.
func New() Adapter { return Adapter{} }

// Name returns "zendesk".
func (Adapter) Name() string { return Name }

// Normalize converts one Zendesk request.
func (a Adapter) Normalize(_ context.Context, req *core.Request) (*core.Normalized, error) {
	v, err := jsondoc.Decode(req.Body)
	if err != nil {
		if hint := a.InvalidJSONHint(req.Body, -1); hint != "" {
			return nil, &core.Error{Code: core.CodeInvalid, Message: core.ErrorMessage(err) + "; " + hint, Err: errors.Unwrap(err)}
		}
		return nil, err
	}
	top, ok := v.(map[string]any)
	if !ok {
		return nil, jsondoc.Invalid("zendesk body must be a JSON object, not %s: event webhooks always send one, and a trigger's JSON body must start with {", jsondoc.Kind(v))
	}
	header := func(name string) string {
		if req.Header == nil {
			return ""
		}
		return strings.TrimSpace(req.Header.Get(name))
	}
	invocation := header(headerInvocationID)
	webhook := header(headerWebhookID)
	meta := map[string]any{
		"adapter":             Name,
		"auth_username":       jsondoc.NullIfEmpty(req.AuthUsername),
		"account_id":          jsondoc.NullIfEmpty(header(headerAccountID)),
		"webhook_id":          jsondoc.NullIfEmpty(webhook),
		"invocation_id":       jsondoc.NullIfEmpty(invocation),
		"signature_timestamp": jsondoc.NullIfEmpty(header(headerSignatureAt)),
	}
	doc := map[string]any{"shape": "template", "ticket": nil, "event": nil, "detail": nil, "template": nil, "_meta": meta}
	var warnings []string
	deliveryID := ""

	if typ, _ := top["type"].(string); strings.HasPrefix(typ, eventTypePrefix) {
		ev := event(top, typ)
		doc["shape"], doc["event"], doc["detail"] = "event", ev, top["detail"]
		if meta["account_id"] == nil {
			meta["account_id"] = ev["account_id"]
		}
		if detail, ok := top["detail"].(map[string]any); ok && ev["domain"] == "ticket" {
			doc["ticket"] = ticket(detail)
		}
		// The event's own id is unique per event and resent unchanged on a
		// retry; the invocation id is the fallback.
		if id, _ := ev["id"].(string); id != "" {
			deliveryID = "zendesk:event:" + id
		}
	} else {
		doc["template"] = top
		if t, ok := top["ticket"].(map[string]any); ok {
			doc["ticket"] = ticket(t)
		} else {
			warnings = append(warnings, `no "ticket" object in the body: the preset's ticket fields are null; nest the placeholders under "ticket" as adapters/zendesk/README.md shows, or map your own fields`)
		}
	}
	if deliveryID == "" && invocation != "" {
		deliveryID = "zendesk:" + webhook + ":" + invocation
	}
	if deliveryID == "" {
		warnings = append(warnings, "no "+headerInvocationID+" header (nor an event id): the request did not come from a Zendesk webhook, so it is not de-duplicated")
	}
	deliveryID = jsondoc.BoundKey(deliveryID)
	meta["delivery_id"] = jsondoc.NullIfEmpty(deliveryID)
	body, err := jsondoc.Encode(doc)
	if err != nil {
		return nil, err
	}
	return &core.Normalized{Body: body, DeliveryID: deliveryID, Warnings: warnings}, nil
}

// event reads the envelope Zendesk puts around every event.
func event(top map[string]any, typ string) map[string]any {
	name := strings.TrimLeft(strings.TrimPrefix(typ, eventTypePrefix), ":/")
	domain, _, _ := strings.Cut(name, ".")
	ev := map[string]any{
		"type": typ, "name": name, "domain": domain,
		"id": idString(top["id"]), "time": top["time"], "account_id": idString(top["account_id"]),
		"subject": top["subject"], "subject_type": nil, "subject_id": nil,
		"version": top["zendesk_event_version"], "current": nil, "previous": nil, "change": top["event"],
	}
	// "zen:user:6596848315901" → user, 6596848315901.
	if s, ok := top["subject"].(string); ok {
		if rest, ok := strings.CutPrefix(s, "zen:"); ok {
			if typ, id, ok := strings.Cut(rest, ":"); ok && typ != "" && id != "" {
				ev["subject_type"], ev["subject_id"] = typ, id
			}
		}
	}
	if change, ok := top["event"].(map[string]any); ok {
		ev["current"], ev["previous"] = change["current"], change["previous"]
	}
	return ev
}

// ticket copies t with the documented rules: "" (an unset placeholder) is
// null, id and *_id numbers are strings, tags is a list.
func ticket(t map[string]any) map[string]any {
	out := make(map[string]any, len(t))
	for k, v := range t {
		if s, ok := v.(string); ok && s == "" {
			v = nil
		}
		if k == "id" || strings.HasSuffix(k, "_id") {
			if n, ok := v.(json.Number); ok {
				v = n.String()
			}
		}
		out[k] = v
	}
	if tags, ok := out["tags"]; ok {
		out["tags"] = splitTags(tags)
	}
	return out
}

// idString returns a number or string id as a string, anything else as is.
func idString(v any) any {
	if n, ok := v.(json.Number); ok {
		return n.String()
	}
	return v
}

// splitTags turns "billing invoice" ({{ticket.tags}} renders the tags
// separated by spaces; a Zendesk tag has none) into ["billing","invoice"]; a
// list keeps its strings and numbers; null gives [].
func splitTags(v any) []any {
	return jsondoc.StringList(v, func(s string) []string { return strings.Fields(strings.ReplaceAll(s, ",", " ")) })
}

// InvalidJSONHint explains the usual mistakes behind a trigger's body that
// is not JSON: Zendesk pastes each placeholder's value where it stands, so
// an unquoted placeholder that is empty gives `"group_id": ,`, and an
// unquoted text placeholder gives bare words. Event webhooks always send
// valid JSON. offset is encoding/json's error offset, or -1 to compute it.
func (Adapter) InvalidJSONHint(body []byte, offset int64) string {
	hint, offset := jsondoc.HintStart(body, offset,
		"the body is empty: in the trigger's Notify by webhook action write a JSON body, and give the webhook the POST method",
		"the body is not JSON at all (form data or XML?): set the webhook's request format to JSON")
	if hint != "" || offset < 0 {
		return hint
	}
	return "in the trigger's JSON body put every placeholder in double quotes, numbers included (\"id\": \"{{ticket.id}}\"), so that an empty or free-text value stays valid JSON"
}
