// Package freshdesk normalises the requests of a Freshdesk automation rule's
// "Trigger webhook" action: simple mode ({"freshdesk_webhook":{"ticket_…"}})
// and advanced mode (the admin's own JSON template of placeholders).
//
// The normalised document is
//
//	{
//	  "ticket": {"id": "1042", "subject": …, "description_html": …,
//	             "description_text": …, "tags": ["a","b"],
//	             "requester_name": …, "requester_email": …,
//	             "custom_fields": {"cf_…": …}, …every other ticket_* key…},
//	  "event":  {"raw": "{status:{from:4,to:6}}", "name": "status",
//	             "from": "4", "to": "6", "value": null,
//	             "changes": [{"property":"status","from":"4","to":"6","value":null}]},
//	  "_meta":  {"adapter": "freshdesk", "shape": "freshdesk_webhook"|"template",
//	             "auth_username": …, "delivery_id": …}
//	}
//
// See README.md for the rules (ids as strings, "" as null, tags split).
package freshdesk

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"

	"github.com/jsonevent/jsonevent/adapters/internal/jsondoc"
	"github.com/jsonevent/jsonevent/core"
)

// Name is the adapter's config value.
const Name = "freshdesk"

// Adapter normalises Freshdesk webhook bodies. It has no options.
type Adapter struct{}

var (
	_ core.Adapter           = Adapter{}
	_ core.InvalidJSONHinter = Adapter{}
)

// New returns the Freshdesk adapter.
func New() Adapter { return Adapter{} }

// Name returns "freshdesk".
func (Adapter) Name() string { return Name }

// aliases maps key names (after the ticket_ prefix is removed) to the
// canonical name, so simple mode (ticket_contact_email) and the usual
// advanced templates (requester_email) give the same document.
var aliases = map[string]string{
	"contact_name":  "requester_name",
	"contact_email": "requester_email",
	"contact_phone": "requester_phone",
	"description":   "description_html",
}

// nestedPeople are objects an advanced template may nest, flattened into
// <prefix>_<key> like simple mode's keys (contact becomes requester).
var nestedPeople = map[string]string{"requester": "requester", "contact": "requester", "agent": "agent", "responder": "agent", "group": "group", "company": "company"}

func isObject(v any) bool {
	_, ok := v.(map[string]any)
	return ok
}

// isHTMLKey reports whether the values of k are HTML and get a "_text"
// twin: the description and comments.
func isHTMLKey(k string) bool {
	return k == "description_html" || strings.HasSuffix(k, "_comment") || strings.Contains(k, "comment_body")
}

// Normalize converts one Freshdesk request.
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
		return nil, jsondoc.Invalid("freshdesk body must be a JSON object: simple mode sends {\"freshdesk_webhook\":{…}}, advanced mode sends your template, which must start with {")
	}
	shape := "template"
	src := top
	if w, ok := top["freshdesk_webhook"].(map[string]any); ok {
		shape, src = "freshdesk_webhook", w
	}
	var warnings []string
	ticket := map[string]any{}
	custom := map[string]any{}
	var rawEvent any
	haveEvent := false
	put := func(k string, val any) {
		if strings.HasPrefix(k, "cf_") {
			custom[k] = val
			return
		}
		if c, ok := aliases[k]; ok {
			k = c
		}
		if old, exists := ticket[k]; exists && old != nil {
			if val != nil {
				warnings = append(warnings, "both "+k+" and an alias of it were sent; kept the first")
			}
			return
		}
		ticket[k] = val
	}
	keys := jsondoc.SortedKeys(src)
	for _, k := range keys {
		val := emptyToNull(src[k])
		switch {
		case k == "triggered_event":
			rawEvent, haveEvent = val, true
		case k == "ticket":
			// An advanced template nesting {"ticket":{"id":"{{ticket.id}}",…}}.
			if m, ok := val.(map[string]any); ok {
				for _, kk := range jsondoc.SortedKeys(m) {
					put(stripTicket(kk), m[kk])
				}
				continue
			}
			put("ticket", val)
		case nestedPeople[k] != "" && isObject(val):
			// {"requester":{"name":"{{ticket.requester.name}}",…}} →
			// requester_name, like simple mode's keys.
			m := val.(map[string]any)
			for _, kk := range jsondoc.SortedKeys(m) {
				put(nestedPeople[k]+"_"+kk, m[kk])
			}
		default:
			put(stripTicket(k), val)
		}
	}
	for k, val := range ticket {
		if k == "id" || strings.HasSuffix(k, "_id") {
			if n, ok := val.(json.Number); ok {
				ticket[k] = n.String()
			}
		}
	}
	if _, ok := ticket["tags"]; ok {
		ticket["tags"] = splitTags(ticket["tags"])
	}
	for _, k := range jsondoc.SortedKeys(ticket) {
		twin := strings.TrimSuffix(k, "_html") + "_text"
		if _, sent := ticket[twin]; !isHTMLKey(k) || sent {
			continue // Freshdesk's own {{ticket.description_text}} wins
		}
		if s, ok := ticket[k].(string); ok {
			ticket[twin] = htmlToText(s)
		} else if ticket[k] == nil {
			ticket[twin] = nil
		}
	}
	if len(custom) > 0 {
		ticket["custom_fields"] = custom
	}

	event := map[string]any{"raw": nil, "name": nil, "from": nil, "to": nil, "value": nil, "changes": []any{}}
	if haveEvent && rawEvent != nil {
		event["raw"] = rawEvent
		ev, err := parseEvent(rawEvent)
		if err != nil {
			warnings = append(warnings, "triggered_event not understood ("+err.Error()+"); kept it in event.raw")
		} else {
			for k, x := range ev {
				event[k] = x
			}
		}
	}

	id, _ := ticket["id"].(string)
	deliveryID := jsondoc.BoundKey(deliveryID(id, req.Body))
	meta := map[string]any{
		"adapter":       Name,
		"shape":         shape,
		"auth_username": jsondoc.NullIfEmpty(req.AuthUsername),
		"delivery_id":   deliveryID,
	}
	if id == "" {
		warnings = append(warnings, "no ticket id in the body (ticket_id / {{ticket.id}}); add it so workflows can find the ticket")
	}
	body, err := jsondoc.Encode(map[string]any{"ticket": ticket, "event": event, "_meta": meta})
	if err != nil {
		return nil, err
	}
	return &core.Normalized{Body: body, DeliveryID: deliveryID, Warnings: warnings}, nil
}

// deliveryID is the de-duplication key. Freshdesk sends no delivery id and
// retries (5, 30, 60 minutes later) resend the same body, so the key is the
// ticket id plus a hash of the exact body: a retry is a duplicate, a new
// update of the same ticket (another status, another comment) is not.
func deliveryID(ticketID string, body []byte) string {
	sum := sha256.Sum256(body)
	h := hex.EncodeToString(sum[:8])
	if ticketID == "" {
		return "freshdesk:" + h
	}
	return "freshdesk:" + ticketID + ":" + h
}

func stripTicket(k string) string {
	switch {
	case strings.HasPrefix(k, "ticket_") && len(k) > len("ticket_"):
		return k[len("ticket_"):]
	case strings.HasPrefix(k, "ticket.") && len(k) > len("ticket."):
		return strings.ReplaceAll(k[len("ticket."):], ".", "_")
	}
	return k
}

// emptyToNull maps "" (an unset placeholder) to null, recursively.
func emptyToNull(v any) any {
	switch x := v.(type) {
	case string:
		if x == "" {
			return nil
		}
	case map[string]any:
		for k, e := range x {
			x[k] = emptyToNull(e)
		}
	case []any:
		for i, e := range x {
			x[i] = emptyToNull(e)
		}
	}
	return v
}

// splitTags turns "billing, invoice" into ["billing","invoice"]; a list is
// kept (its items as strings); null and "" give [].
func splitTags(v any) []any {
	return jsondoc.StringList(v, func(s string) []string { return strings.Split(s, ",") })
}
