// Package dynamics normalises what Microsoft Dynamics 365 / Dataverse sends:
// rows posted by a Power Automate HTTP action (Web API format with OData
// annotations) and plug-in WebHooks (a serialized RemoteExecutionContext).
//
// Both give one document shape, so one preset serves both:
//
//	{
//	  "source":       "plugin" | "webapi",
//	  "message_name": "Update",  "entity_name": "account",
//	  "record_id":    "…",       "stage": 40, "mode": "async",
//	  "record":       {…attributes: Target over Pre/Post images (Delete: the
//	                   Pre image); for rows the row; with merge_snapshots the
//	                   last known state underneath…},
//	  "changed":      ["telephone1"],          // attributes this event sent
//	  "target":       {…} | {"id","entity","name"} (Delete),
//	  "pre": {…}, "post": {…}, "images": {"pre": {alias: {…}}, "post": {…}},
//	  "input": {…}, "output": {…}, "shared": {…},
//	  "records":      [{…}, …],                // Web API collections only
//	  "context":      {"correlation_id", "operation_id", "operation_created_on",
//	                   "depth", "user_id", "initiating_user_id", "organization_id",
//	                   "organization_name", "business_unit_id", "request_id"},
//	  "_meta":        {"adapter", "source", "auth_username", "delivery_id",
//	                   "organization", "payload_truncated", "snapshot", "etag",
//	                   "odata", "run_id", "workflow_id", "correlation_id"}
//	}
//
// Typed values are unwrapped: Money and OptionSetValue → Value,
// EntityReference x → x (Id), x_entity, x_name; /Date(ms)/ → RFC 3339 UTC;
// FormattedValues and Web API annotations → x_formatted (lookups x_name),
// _x_value → x with x_entity and x_navigation.
package dynamics

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jsonevent/jsonevent/adapters/internal/jsondoc"
	"github.com/jsonevent/jsonevent/core"
)

// Name is the adapter's config value.
const Name = "dynamics"

// Adapter normalises Dynamics requests. Options (all optional):
//
//	merge_snapshots: true   # fill in the columns an update did not send
//	entity: account         # logical name for Web API rows that lack @odata.context
type Adapter struct {
	mergeSnapshots bool
	entity         string
	snapshots      core.SnapshotStore
	mem            *MemorySnapshots // shared by the configured copies of New()
}

var (
	_ core.Adapter      = (*Adapter)(nil)
	_ core.Configurable = (*Adapter)(nil)
)

// New returns the Dynamics adapter without snapshots.
func New() *Adapter { return &Adapter{mem: NewMemorySnapshots()} }

// Name returns "dynamics".
func (*Adapter) Name() string { return Name }

// Configure returns an adapter with one trigger's options. With
// merge_snapshots and no deps.Snapshots, snapshots are kept in memory (one
// store shared by every trigger of this process; lost on restart).
func (a *Adapter) Configure(options map[string]any, deps core.AdapterDeps) (core.Adapter, error) {
	o := jsondoc.NewOptions(Name, options)
	c := &Adapter{
		mergeSnapshots: o.Bool("merge_snapshots", false),
		entity:         strings.ToLower(o.String("entity", "")),
		snapshots:      deps.Snapshots,
		mem:            a.mem,
	}
	if err := o.Err(); err != nil {
		return nil, err
	}
	if c.snapshots == nil {
		if c.mem == nil {
			c.mem = NewMemorySnapshots()
		}
		c.snapshots = c.mem
	}
	return c, nil
}

// Normalize converts one Dynamics request.
func (a *Adapter) Normalize(ctx context.Context, req *core.Request) (*core.Normalized, error) {
	v, err := jsondoc.Decode(req.Body)
	if err != nil {
		return nil, err
	}
	if l, ok := v.([]any); ok && isRowList(l) {
		// The "value" list of Dataverse "List rows" posted as the body.
		v = map[string]any{"value": l}
	}
	top, ok := v.(map[string]any)
	if !ok {
		return nil, jsondoc.Invalid("dynamics body must be a JSON object (a RemoteExecutionContext or a Web API row), got %s", jsondoc.Kind(v))
	}
	n := &normalizer{warned: map[string]bool{}}
	var doc map[string]any
	var deliveryID string
	if isExecutionContext(top) {
		doc, deliveryID = n.plugin(top, req)
	} else {
		doc, deliveryID = n.webAPI(top, req, a.entity)
	}
	deliveryID = jsondoc.BoundKey(deliveryID)
	if a.mergeSnapshots {
		if err := a.merge(ctx, req.TriggerID, doc, n); err != nil {
			return nil, err
		}
	} else {
		doc["_meta"].(map[string]any)["snapshot"] = "off"
	}
	body, err := jsondoc.Encode(doc)
	if err != nil {
		return nil, err
	}
	return &core.Normalized{Body: body, DeliveryID: deliveryID, Warnings: n.warnings}, nil
}

type normalizer struct {
	warnings []string
	warned   map[string]bool
}

func (n *normalizer) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if !n.warned[msg] {
		n.warned[msg] = true
		n.warnings = append(n.warnings, msg)
	}
}

// isExecutionContext reports whether top is a plug-in RemoteExecutionContext.
func isExecutionContext(top map[string]any) bool {
	if _, ok := top["MessageName"]; !ok {
		return false
	}
	_, in := top["InputParameters"]
	_, pe := top["PrimaryEntityName"]
	return in || pe
}

// plugin normalises a RemoteExecutionContext.
func (n *normalizer) plugin(top map[string]any, req *core.Request) (map[string]any, string) {
	message := str(top["MessageName"])
	entity := str(top["PrimaryEntityName"])
	recordID := str(top["PrimaryEntityId"])

	input := n.keyValues(top["InputParameters"], "InputParameters")
	var target any
	targetAttrs := map[string]any{}
	var changed []any
	if t, ok := input["Target"]; ok {
		delete(input, "Target")
		switch tv := t.(type) {
		case entityValue:
			targetAttrs = tv.attrs
			changed = sortedAny(tv.names)
			target = tv.attrs
			if recordID == "" || isZeroGUID(recordID) {
				recordID = tv.id
			}
			if entity == "" {
				entity = tv.logicalName
			}
		case refValue:
			target = tv.object()
			if recordID == "" || isZeroGUID(recordID) {
				recordID = tv.id
			}
			if entity == "" {
				entity = tv.logicalName
			}
		default:
			target = plain(t)
		}
	}
	preImages, pre := n.images(top["PreEntityImages"], "PreEntityImages")
	postImages, post := n.images(top["PostEntityImages"], "PostEntityImages")

	record := map[string]any{}
	for _, layer := range []map[string]any{pre, targetAttrs, post} {
		for k, v := range layer {
			record[k] = v
		}
	}
	if message == "Delete" && len(pre) == 0 {
		n.warn("a Delete without a Pre image carries no record data: register a Pre Image on the step")
	}
	truncated := truncatedHeader(req)
	if truncated {
		n.warn("dynamics removed ParentContext, InputParameters and the entity images because the context exceeded 256 KB (x-ms-dynamics-msg-size-exceeded); record data may be missing")
	}
	if changed == nil {
		changed = []any{}
	}
	operationID := str(top["OperationId"])
	correlationID := str(top["CorrelationId"])
	deliveryID := operationID
	if deliveryID == "" || isZeroGUID(deliveryID) {
		deliveryID = ""
		if correlationID != "" {
			deliveryID = strings.Join([]string{correlationID, message, recordID, str(top["Stage"]), str(top["RequestId"])}, ":")
		}
	}
	mode := any(nil)
	switch fmt.Sprint(number(top["Mode"])) {
	case "0":
		mode = "sync"
	case "1":
		mode = "async"
	}
	organization := req.Header.Get("x-ms-dynamics-organization")
	if organization == "" {
		organization = str(top["OrganizationName"])
	}
	doc := map[string]any{
		"source":       "plugin",
		"message_name": jsondoc.NullIfEmpty(message),
		"entity_name":  jsondoc.NullIfEmpty(entity),
		"record_id":    jsondoc.NullIfEmpty(recordID),
		"stage":        number(top["Stage"]),
		"mode":         mode,
		"record":       record,
		"changed":      changed,
		"target":       target,
		"pre":          pre,
		"post":         post,
		"images":       map[string]any{"pre": preImages, "post": postImages},
		"input":        input.plain(),
		"output":       n.keyValues(top["OutputParameters"], "OutputParameters").plain(),
		"shared":       n.keyValues(top["SharedVariables"], "SharedVariables").plain(),
		"records":      []any{record},
		"context": map[string]any{
			"correlation_id":       jsondoc.NullIfEmpty(correlationID),
			"operation_id":         jsondoc.NullIfEmpty(operationID),
			"operation_created_on": convert(top["OperationCreatedOn"]),
			"depth":                number(top["Depth"]),
			"user_id":              jsondoc.NullIfEmpty(str(top["UserId"])),
			"initiating_user_id":   jsondoc.NullIfEmpty(str(top["InitiatingUserId"])),
			"organization_id":      jsondoc.NullIfEmpty(str(top["OrganizationId"])),
			"organization_name":    jsondoc.NullIfEmpty(str(top["OrganizationName"])),
			"business_unit_id":     jsondoc.NullIfEmpty(str(top["BusinessUnitId"])),
			"request_id":           jsondoc.NullIfEmpty(str(top["RequestId"])),
		},
		"_meta": map[string]any{
			"adapter":           Name,
			"source":            "plugin",
			"auth_username":     jsondoc.NullIfEmpty(req.AuthUsername),
			"delivery_id":       jsondoc.NullIfEmpty(deliveryID),
			"organization":      jsondoc.NullIfEmpty(organization),
			"payload_truncated": truncated,
			"correlation_id":    jsondoc.NullIfEmpty(req.Header.Get("x-ms-correlation-request-id")),
		},
	}
	return doc, deliveryID
}

// images flattens Pre/PostEntityImages into alias → attributes and the
// merge of all aliases (sorted by alias, later aliases win).
func (n *normalizer) images(v any, where string) (map[string]any, map[string]any) {
	kv := n.keyValues(v, where)
	byAlias := map[string]any{}
	merged := map[string]any{}
	for _, alias := range jsondoc.SortedKeys(kv) {
		switch e := kv[alias].(type) {
		case entityValue:
			byAlias[alias] = e.attrs
			for k, x := range e.attrs {
				merged[k] = x
			}
		default:
			byAlias[alias] = plain(e)
		}
	}
	return byAlias, merged
}

// truncatedHeader reports whether Dataverse trimmed the context.
func truncatedHeader(req *core.Request) bool {
	vals := req.Header.Values("x-ms-dynamics-msg-size-exceeded")
	if len(vals) == 0 {
		return false
	}
	for _, v := range vals {
		if strings.EqualFold(strings.TrimSpace(v), "false") {
			return false
		}
	}
	return true
}

// kvList is a flattened [{key,value}] list; values are converted (entities
// and references kept typed so the caller can expand them).
type kvList map[string]any

func (l kvList) plain() map[string]any {
	out := make(map[string]any, len(l))
	for k, v := range l {
		out[k] = plain(v)
	}
	return out
}

// keyValues flattens a DataContract key/value list. A list item that is not
// {key,value} is reported once and skipped.
func (n *normalizer) keyValues(v any, where string) kvList {
	out := kvList{}
	list, ok := v.([]any)
	if !ok {
		if v != nil {
			n.warn("%s is not a key/value list; ignored", where)
		}
		return out
	}
	for _, item := range list {
		m, ok := item.(map[string]any)
		key, kok := m["key"].(string)
		if !ok || !kok {
			n.warn("%s has an item that is not {key, value}; skipped", where)
			continue
		}
		out[key] = n.typed(m["value"])
	}
	return out
}

// entityValue is a flattened Entity: attributes with references expanded,
// FormattedValues as x_formatted, and the names of the attributes sent.
type entityValue struct {
	logicalName string
	id          string
	attrs       map[string]any
	names       []string
}

// refValue is an EntityReference.
type refValue struct{ id, logicalName, name string }

func (r refValue) object() map[string]any {
	return map[string]any{"id": jsondoc.NullIfEmpty(r.id), "entity": jsondoc.NullIfEmpty(r.logicalName), "name": jsondoc.NullIfEmpty(r.name)}
}

// typed converts a DataContract value, keeping entities and references
// typed (see plain for the JSON form).
func (n *normalizer) typed(v any) any {
	switch x := v.(type) {
	case string:
		return convert(x)
	case []any:
		if isKeyValueList(x) {
			return n.keyValues(x, "a nested list").plain()
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plain(n.typed(e))
		}
		return out
	case map[string]any:
		typ := typeName(x)
		switch {
		case typ == "Entity" || (typ == "" && isEntity(x)):
			return n.entity(x)
		case typ == "EntityReference" || (typ == "" && isReference(x)):
			return refValue{id: str(x["Id"]), logicalName: str(x["LogicalName"]), name: str(x["Name"])}
		case typ == "EntityCollection":
			var out []any
			if l, ok := x["Entities"].([]any); ok {
				for _, e := range l {
					out = append(out, plain(n.typed(e)))
				}
			}
			if out == nil {
				out = []any{}
			}
			return out
		case typ != "":
			if val, ok := x["Value"]; ok {
				// Money, OptionSetValue, BooleanManagedProperty, AliasedValue…
				return plain(n.typed(val))
			}
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			if k == "__type" {
				continue
			}
			out[k] = plain(n.typed(e))
		}
		return out
	}
	return v
}

// entity flattens an Entity's Attributes and FormattedValues.
func (n *normalizer) entity(x map[string]any) entityValue {
	e := entityValue{logicalName: str(x["LogicalName"]), id: str(x["Id"]), attrs: map[string]any{}}
	attrs := n.keyValues(x["Attributes"], "Attributes")
	derived := map[string]any{}
	for _, k := range jsondoc.SortedKeys(attrs) {
		e.names = append(e.names, k)
		switch v := attrs[k].(type) {
		case refValue:
			e.attrs[k] = jsondoc.NullIfEmpty(v.id)
			derived[k+"_entity"] = jsondoc.NullIfEmpty(v.logicalName)
			derived[k+"_name"] = jsondoc.NullIfEmpty(v.name)
		default:
			e.attrs[k] = plain(v)
		}
	}
	for k, v := range n.keyValues(x["FormattedValues"], "FormattedValues") {
		derived[k+"_formatted"] = plain(v)
	}
	for k, v := range derived {
		if _, clash := e.attrs[k]; clash {
			n.warn("attribute %q already exists; the derived value was not added", k)
			continue
		}
		e.attrs[k] = v
	}
	return e
}

// plain turns typed values into JSON values.
func plain(v any) any {
	switch x := v.(type) {
	case entityValue:
		return x.attrs
	case refValue:
		return x.object()
	case kvList:
		return x.plain()
	}
	return v
}

func typeName(m map[string]any) string {
	t, _ := m["__type"].(string)
	if i := strings.IndexByte(t, ':'); i >= 0 {
		t = t[:i]
	}
	return t
}

func isEntity(m map[string]any) bool {
	l, ok := m["Attributes"].([]any)
	return ok && isKeyValueList(l) && m["LogicalName"] != nil
}

func isReference(m map[string]any) bool {
	_, id := m["Id"]
	_, ln := m["LogicalName"]
	_, attrs := m["Attributes"]
	return id && ln && !attrs
}

// isRowList reports whether l is a non-empty list of Web API rows (objects,
// not the {key,value} items of a DataContract list).
func isRowList(l []any) bool {
	if len(l) == 0 || isKeyValueList(l) {
		return false
	}
	for _, e := range l {
		if _, ok := e.(map[string]any); !ok {
			return false
		}
	}
	return true
}

func isKeyValueList(l []any) bool {
	if len(l) == 0 {
		return false
	}
	for _, e := range l {
		m, ok := e.(map[string]any)
		if !ok {
			return false
		}
		if _, ok := m["key"].(string); !ok {
			return false
		}
		if _, ok := m["value"]; !ok || len(m) != 2 {
			return false
		}
	}
	return true
}

var wcfDateRe = regexp.MustCompile(`^/Date\((-?\d{1,15})([+-]\d{4})?\)/$`)

// convert turns a WCF date "/Date(1715703611000)/" or
// "/Date(1715703611000+0200)/" into RFC 3339 UTC (the milliseconds are UTC;
// the offset only says where the writer was). Other values are unchanged.
func convert(v any) any {
	s, ok := v.(string)
	if !ok {
		return v
	}
	m := wcfDateRe.FindStringSubmatch(s)
	if m == nil {
		return s
	}
	ms, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return s
	}
	t := time.UnixMilli(ms).UTC()
	if t.Nanosecond() != 0 {
		return t.Format(time.RFC3339Nano)
	}
	return t.Format(time.RFC3339)
}

func isZeroGUID(s string) bool { return strings.Trim(s, "0-") == "" }

func number(v any) any {
	switch x := v.(type) {
	case json.Number:
		return x
	case string:
		if _, err := strconv.ParseFloat(x, 64); err == nil {
			return json.Number(x)
		}
	}
	return nil
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	}
	return ""
}

func sortedAny(l []string) []any {
	s := append([]string(nil), l...)
	sort.Strings(s)
	out := make([]any, len(s))
	for i, x := range s {
		out[i] = x
	}
	return out
}

func hashBody(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:8])
}
