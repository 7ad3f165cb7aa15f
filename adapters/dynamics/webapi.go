package dynamics

import (
	"github.com/jsonevent/jsonevent/adapters/internal/jsondoc"
	"regexp"
	"strings"

	"github.com/jsonevent/jsonevent/core"
)

var (
	lookupRe = regexp.MustCompile(`^_(.+)_value$`)
	// connectorRe matches the helper keys the Power Automate Dataverse
	// connector adds beside the columns: _x_label (a choice column's label)
	// and _x_type (a lookup's table).
	connectorRe = regexp.MustCompile(`^_(.+)_(label|type)$`)
	guidRe      = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	contextSet  = regexp.MustCompile(`#([A-Za-z0-9_]+)`)
)

// notPrimaryKeys are GUID columns ending in "id" that are never the row's
// own id.
var notPrimaryKeys = map[string]bool{"processid": true, "stageid": true, "traversedpath": true, "versionnumber": true, "importsequencenumber": true}

// annotationSuffix maps Web API annotation names to the suffix of the
// derived column.
var annotationSuffix = map[string]string{
	"OData.Community.Display.V1.FormattedValue":           "_formatted",
	"Microsoft.Dynamics.CRM.lookuplogicalname":            "_entity",
	"Microsoft.Dynamics.CRM.associatednavigationproperty": "_navigation",
}

// webAPI normalises a Dataverse Web API row (or a {"value":[rows]}
// collection) forwarded by a Power Automate HTTP action.
func (n *normalizer) webAPI(top map[string]any, req *core.Request, entityOpt string) (map[string]any, string) {
	odata := map[string]any{}
	var rows []map[string]any
	if list, ok := collection(top); ok {
		for k, v := range top {
			if strings.HasPrefix(k, "@odata.") {
				odata[strings.TrimPrefix(k, "@odata.")] = v
			}
		}
		for i, r := range list {
			m, ok := r.(map[string]any)
			if !ok {
				n.warn("value[%d] is not a row object; skipped", i)
				continue
			}
			row, _ := n.row(m) // per-row annotations (etag) are dropped in collections
			rows = append(rows, row)
		}
	} else {
		row, meta := n.row(top)
		for k, v := range meta {
			odata[k] = v
		}
		rows = []map[string]any{row}
	}
	record := map[string]any{}
	if len(rows) > 0 {
		record = rows[0]
	}
	lookups := map[string]bool{}
	for k := range rawFirstRow(top) {
		if m := lookupRe.FindStringSubmatch(k); m != nil {
			lookups[m[1]] = true
		}
	}
	entity, recordID := n.identify(record, lookups, entityOpt, str(odata["context"]), str(odata["type"]))
	// The Dataverse connector's trigger ("When a row is added, modified or
	// deleted") puts the message in SdkMessage.
	message := str(rawFirstRow(top)["SdkMessage"])
	if len(rows) > 1 {
		n.warn("the body holds %d rows; record is the first, all are in records", len(rows))
	}
	records := make([]any, len(rows))
	for i, r := range rows {
		records[i] = r
	}
	changed := []any{}
	if len(rows) > 0 {
		changed = columns(top)
	}
	runID := req.Header.Get("x-ms-workflow-run-id")
	vendorID := runID
	if vendorID == "" {
		vendorID = req.Header.Get("x-ms-client-tracking-id")
	}
	// Several HTTP actions of one run (an Apply to each loop) share the run
	// id; an engine retry resends the same body. So the de-duplication key
	// is the run id plus a hash of the body.
	deliveryID := ""
	if vendorID != "" {
		deliveryID = vendorID + ":" + hashBody(req.Body)
	}
	doc := map[string]any{
		"source":       "webapi",
		"message_name": jsondoc.NullIfEmpty(message),
		"entity_name":  jsondoc.NullIfEmpty(entity),
		"record_id":    jsondoc.NullIfEmpty(recordID),
		"stage":        nil,
		"mode":         nil,
		"record":       record,
		"changed":      changed,
		"target":       record,
		"pre":          map[string]any{},
		"post":         map[string]any{},
		"images":       map[string]any{"pre": map[string]any{}, "post": map[string]any{}},
		"input":        map[string]any{},
		"output":       map[string]any{},
		"shared":       map[string]any{},
		"records":      records,
		"context": map[string]any{
			"correlation_id":       jsondoc.NullIfEmpty(req.Header.Get("x-ms-correlation-id")),
			"operation_id":         nil,
			"operation_created_on": nil,
			"depth":                nil,
			"user_id":              nil,
			"initiating_user_id":   nil,
			"organization_id":      nil,
			"organization_name":    nil,
			"business_unit_id":     nil,
			"request_id":           nil,
		},
		"_meta": map[string]any{
			"adapter":           Name,
			"source":            "webapi",
			"auth_username":     jsondoc.NullIfEmpty(req.AuthUsername),
			"delivery_id":       jsondoc.NullIfEmpty(vendorID),
			"organization":      nil,
			"payload_truncated": false,
			"etag":              odata["etag"],
			"odata":             odata,
			"run_id":            jsondoc.NullIfEmpty(runID),
			"workflow_id":       jsondoc.NullIfEmpty(req.Header.Get("x-ms-workflow-id")),
			"correlation_id":    jsondoc.NullIfEmpty(req.Header.Get("x-ms-correlation-id")),
		},
	}
	return doc, deliveryID
}

// columns lists the columns a row sent (lookups by their base name,
// without annotations and the Dataverse connector's helper keys _x_label,
// _x_type, SdkMessage and ItemInternalId), sorted: for a collection, those
// of the first row.
func columns(top map[string]any) []any {
	row := rawFirstRow(top)
	names := make([]string, 0, len(row))
	for k := range row {
		if strings.Contains(k, "@") || connectorRe.MatchString(k) || k == "SdkMessage" || k == "ItemInternalId" {
			continue
		}
		if m := lookupRe.FindStringSubmatch(k); m != nil {
			k = m[1]
		}
		names = append(names, k)
	}
	return sortedAny(names)
}

// collection returns the rows of a Web API collection: {"value":[rows]}
// with nothing beside value but @odata.* members. @odata.context is not
// required: a maker who builds the body from the "value" of Dataverse
// "List rows" sends {"value":[rows]} alone.
func collection(top map[string]any) ([]any, bool) {
	list, ok := top["value"].([]any)
	if !ok {
		return nil, false
	}
	for k := range top {
		if k != "value" && !strings.HasPrefix(k, "@odata.") {
			return nil, false
		}
	}
	for _, r := range list {
		if _, ok := r.(map[string]any); !ok {
			return nil, false
		}
	}
	return list, true
}

// rawFirstRow returns top, or the first row of a collection.
func rawFirstRow(top map[string]any) map[string]any {
	if list, ok := collection(top); ok {
		if len(list) > 0 {
			row, _ := list[0].(map[string]any)
			return row
		}
		return nil
	}
	return top
}

// row normalises one Web API row: @odata.* members go to the returned
// annotations; _x_value lookups become x; x@annotation becomes
// x_formatted / x_entity / x_navigation (x_name for a lookup's formatted
// value); nested rows (expanded navigation properties) are normalised too.
func (n *normalizer) row(in map[string]any) (map[string]any, map[string]any) {
	out := map[string]any{}
	odata := map[string]any{}
	derived := map[string]any{}
	for _, k := range jsondoc.SortedKeys(in) {
		v := in[k]
		if strings.HasPrefix(k, "@odata.") {
			odata[strings.TrimPrefix(k, "@odata.")] = v
			continue
		}
		if i := strings.IndexByte(k, '@'); i > 0 {
			prop, ann := k[:i], k[i+1:]
			base, lookup := prop, false
			if m := lookupRe.FindStringSubmatch(prop); m != nil {
				base, lookup = m[1], true
			}
			suffix, known := annotationSuffix[ann]
			if !known {
				out[k] = v
				continue
			}
			if lookup && suffix == "_formatted" {
				suffix = "_name"
			}
			derived[base+suffix] = v
			continue
		}
		if m := lookupRe.FindStringSubmatch(k); m != nil {
			derived[m[1]] = v
			continue
		}
		if m := connectorRe.FindStringSubmatch(k); m != nil && m[2] == "label" {
			// The connector's label of a choice column; kept as sent too.
			if _, annotated := in[m[1]+"@OData.Community.Display.V1.FormattedValue"]; !annotated {
				derived[m[1]+"_formatted"] = v
			}
		}
		out[k] = n.nested(v)
	}
	for _, k := range jsondoc.SortedKeys(derived) {
		if _, clash := out[k]; clash {
			n.warn("column %q already exists; the value derived from an annotation or lookup was not added", k)
			continue
		}
		out[k] = derived[k]
	}
	return out, odata
}

func (n *normalizer) nested(v any) any {
	switch x := v.(type) {
	case map[string]any:
		r, _ := n.row(x)
		return r
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = n.nested(e)
		}
		return out
	}
	return v
}

// identify finds the row's entity and id: the entity option, else
// @odata.type ("#Microsoft.Dynamics.CRM.account"), else the entity set in
// @odata.context ("…$metadata#accounts/$entity"), else the only GUID
// column named <entity>id.
func (n *normalizer) identify(record map[string]any, lookups map[string]bool, entityOpt, context, odataType string) (string, string) {
	try := func(entity string) (string, bool) {
		id, ok := record[entity+"id"].(string)
		return id, ok && id != ""
	}
	if entityOpt != "" {
		if id, ok := try(entityOpt); ok {
			return entityOpt, id
		}
		n.warn("the row has no %sid column (option entity: %s)", entityOpt, entityOpt)
		return entityOpt, ""
	}
	// "@odata.type": "#Microsoft.Dynamics.CRM.account"
	if i := strings.LastIndexByte(odataType, '.'); i >= 0 {
		cand := strings.ToLower(odataType[i+1:])
		if id, ok := try(cand); ok {
			return cand, id
		}
	}
	if m := contextSet.FindStringSubmatch(context); m != nil {
		set := strings.ToLower(m[1])
		for _, cand := range []string{strings.TrimSuffix(set, "s"), strings.TrimSuffix(set, "es"), strings.TrimSuffix(set, "ies") + "y", set} {
			if id, ok := try(cand); ok {
				return cand, id
			}
		}
	}
	var found []string
	for _, k := range jsondoc.SortedKeys(record) {
		s, ok := record[k].(string)
		if !ok || !strings.HasSuffix(k, "id") || len(k) < 3 || notPrimaryKeys[k] || !guidRe.MatchString(s) {
			continue
		}
		if lookups[k] {
			continue
		}
		found = append(found, k)
	}
	if len(found) == 1 {
		return strings.TrimSuffix(found[0], "id"), record[found[0]].(string)
	}
	if len(found) > 1 {
		n.warn("cannot tell which of %v is the row's id; set the trigger option entity", found)
	}
	return "", ""
}
