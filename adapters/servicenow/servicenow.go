// Package servicenow normalises records that ServiceNow sends from an
// Outbound REST Message, a RESTMessageV2 script or a Flow Designer REST step:
// a flat object (current.getValue()), a Table API {"result":{…}} or a
// {"result":[…]} list.
//
// The normalised document is
//
//	{
//	  "record":       {…the first (usually only) record…},
//	  "records":      [{…}, …],
//	  "record_count": 1,
//	  "table":        "incident",
//	  "_meta": {"adapter": "servicenow", "shape": "flat"|"result"|"result_list",
//	            "display_values": false, "auth_username": …, "delivery_id": …}
//	}
//
// In each record a reference {link, value} becomes x = value (the sys_id)
// and x_link; {display_value, link} becomes x = sys_id taken from the link's
// last path segment, x_display and x_link; {display_value, value} becomes x
// and x_display. "" becomes null; glide date-times "YYYY-MM-DD HH:MM:SS"
// (UTC) become RFC 3339; text is never XML-unescaped unless a field is
// listed in the xml_unescape option.
package servicenow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jsonevent/jsonevent/adapters/internal/jsondoc"
	"github.com/jsonevent/jsonevent/core"
)

// Name is the adapter's config value.
const Name = "servicenow"

// DefaultBoolFields are the fields whose "true"/"false" strings become JSON
// booleans when the trigger does not set bool_fields: ServiceNow's own
// boolean system fields on task tables.
var DefaultBoolFields = []string{"active", "made_sla", "knowledge"}

// Adapter normalises ServiceNow records. Options (all optional):
//
//	bool_fields:  [active, made_sla, knowledge]  # "true"/"false" → boolean
//	xml_unescape: [short_description]            # &amp; → & in these fields
//	table:        incident                       # when records carry no sys_class_name
type Adapter struct {
	boolFields  map[string]bool
	xmlUnescape map[string]bool
	table       string
}

var (
	_ core.Adapter      = (*Adapter)(nil)
	_ core.Configurable = (*Adapter)(nil)
)

// New returns the ServiceNow adapter with default options.
func New() *Adapter {
	return &Adapter{boolFields: set(DefaultBoolFields), xmlUnescape: map[string]bool{}}
}

// Name returns "servicenow".
func (*Adapter) Name() string { return Name }

// Configure returns an adapter with one trigger's options.
func (*Adapter) Configure(options map[string]any, _ core.AdapterDeps) (core.Adapter, error) {
	o := jsondoc.NewOptions(Name, options)
	a := &Adapter{
		boolFields:  set(o.Strings("bool_fields", DefaultBoolFields)),
		xmlUnescape: set(o.Strings("xml_unescape", nil)),
		table:       o.String("table", ""),
	}
	if err := o.Err(); err != nil {
		return nil, err
	}
	return a, nil
}

// Normalize converts one ServiceNow request.
func (a *Adapter) Normalize(_ context.Context, req *core.Request) (*core.Normalized, error) {
	v, err := jsondoc.Decode(req.Body)
	if err != nil {
		return nil, err
	}
	var raw []any
	shape := "flat"
	wrappedTable := ""
	switch top := v.(type) {
	case map[string]any:
		switch r := top["result"].(type) {
		case map[string]any:
			shape, raw = "result", []any{r}
		case []any:
			shape, raw = "result_list", r
		default:
			if l, ok := top["records"].([]any); ok && len(top) == 1 {
				// The JSONv2 web service's {"records":[…]}.
				shape, raw = "records", l
			} else if table, rec, ok := wrapped(top); ok {
				// A script's {"incident":{…record…}}.
				shape, raw = "wrapped", []any{rec}
				wrappedTable = table
			} else {
				raw = []any{top}
			}
		}
	case []any:
		shape, raw = "list", top
	default:
		return nil, jsondoc.Invalid("servicenow body must be a JSON object (a record, or {\"result\":…} from the Table API), got %s", jsondoc.Kind(v))
	}
	n := &normalizer{a: a, displayMode: displayMode(raw)}
	records := make([]any, 0, len(raw))
	for i, r := range raw {
		rec, ok := r.(map[string]any)
		if !ok {
			return nil, jsondoc.Invalid("servicenow record %d must be a JSON object, got %s", i, jsondoc.Kind(r))
		}
		records = append(records, n.record(rec))
	}
	var first map[string]any
	if len(records) > 0 {
		first = records[0].(map[string]any)
	} else {
		n.warn("the body holds no record ({\"result\":[]})")
	}
	table := any(nil)
	if first != nil {
		if s, ok := first["sys_class_name"].(string); ok && s != "" {
			table = s
		}
	}
	if table == nil && wrappedTable != "" {
		table = wrappedTable
	}
	if table == nil && a.table != "" {
		table = a.table
	}
	deliveryID := jsondoc.BoundKey(deliveryID(first, len(records), req.Body))
	doc := map[string]any{
		"record":       first,
		"records":      records,
		"record_count": len(records),
		"table":        table,
		"_meta": map[string]any{
			"adapter":        Name,
			"shape":          shape,
			"display_values": n.displayMode,
			"auth_username":  jsondoc.NullIfEmpty(req.AuthUsername),
			"delivery_id":    jsondoc.NullIfEmpty(deliveryID),
		},
	}
	body, err := jsondoc.Encode(doc)
	if err != nil {
		return nil, err
	}
	return &core.Normalized{Body: body, DeliveryID: deliveryID, Warnings: n.warnings}, nil
}

// wrapped recognises {"<table>":{record}}: one key whose value is an object
// with a sys_id (or number) and no reference shape of its own.
func wrapped(top map[string]any) (string, map[string]any, bool) {
	if len(top) != 1 {
		return "", nil, false
	}
	for k, v := range top {
		rec, ok := v.(map[string]any)
		if !ok || isReference(rec) {
			return "", nil, false
		}
		if _, id := rec["sys_id"]; id {
			return k, rec, true
		}
		if _, num := rec["number"]; num {
			return k, rec, true
		}
	}
	return "", nil, false
}

// deliveryID is sys_id, the record's version (sys_mod_count when sent, else
// sys_updated_on) and a hash of the exact body. ServiceNow sends no delivery
// id; a retry (a script's own retry, an IntegrationHub retry policy) resends
// the same body, so it is a duplicate. The version alone is not enough: an
// update made with GlideRecord.autoSysFields(false) changes neither
// sys_mod_count nor sys_updated_on, and an "after delete" business rule
// sends the version of the last insert or update, so keying on the version
// alone dropped those real events as duplicates. Bodies with several
// records, or none, or no sys_id have none.
func deliveryID(rec map[string]any, count int, body []byte) string {
	if count != 1 || rec == nil {
		return ""
	}
	id, _ := rec["sys_id"].(string)
	if id == "" {
		return ""
	}
	sum := sha256.Sum256(body)
	h := hex.EncodeToString(sum[:8])
	for _, k := range []string{"sys_mod_count", "sys_updated_on"} {
		switch v := rec[k].(type) {
		case string:
			if v != "" {
				return id + ":" + v + ":" + h
			}
		case json.Number:
			return id + ":" + v.String() + ":" + h
		}
	}
	return id + ":" + h
}

type normalizer struct {
	a           *Adapter
	displayMode bool
	warnings    []string
	warned      map[string]bool
}

func (n *normalizer) warn(msg string) {
	if n.warned == nil {
		n.warned = map[string]bool{}
	}
	if !n.warned[msg] {
		n.warned[msg] = true
		n.warnings = append(n.warnings, msg)
	}
}

// record normalises one record. Derived keys (x_display, x_link) never
// overwrite a key the record already has.
func (n *normalizer) record(in map[string]any) map[string]any {
	out := make(map[string]any, len(in))
	derived := map[string]any{}
	for _, k := range jsondoc.SortedKeys(in) {
		v := in[k]
		if ref, ok := v.(map[string]any); ok && isReference(ref) {
			value, hasValue := ref["value"]
			display, hasDisplay := ref["display_value"]
			link, _ := ref["link"].(string)
			switch {
			case hasValue:
				out[k] = n.scalar(k, value, true)
			case link != "":
				out[k] = lastSegment(link)
			default:
				out[k] = nil
			}
			if hasDisplay {
				derived[k+"_display"] = n.scalar(k+"_display", display, false)
			}
			if link != "" {
				derived[k+"_link"] = link
			}
			continue
		}
		out[k] = n.scalar(k, v, true)
	}
	for _, k := range jsondoc.SortedKeys(derived) {
		if _, clash := out[k]; clash {
			n.warn(fmt.Sprintf("record already has %q; the derived value was not added", k))
			continue
		}
		out[k] = derived[k]
	}
	return out
}

// scalar applies the per-value rules; dates only when convertDates.
func (n *normalizer) scalar(key string, v any, convertDates bool) any {
	switch x := v.(type) {
	case string:
		if x == "" {
			return nil
		}
		if n.a.xmlUnescape[key] {
			x = xmlUnescaper.Replace(x)
		}
		if n.a.boolFields[key] {
			switch x {
			case "true":
				return true
			case "false":
				return false
			}
		}
		if t, ok := glideDateTime(x); ok {
			if convertDates && !n.displayMode {
				return t
			}
			if n.displayMode {
				n.warn("the record has display values (sysparm_display_value=true): date-times are in the sender's time zone and were left as sent")
			}
		}
		return x
	case map[string]any:
		// A nested object that is not a reference (a script's own JSON):
		// keep it, with "" → null inside.
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = n.scalar(k, e, convertDates)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = n.scalar(key, e, convertDates)
		}
		return l
	}
	return v
}

// displayMode reports whether the records were read with
// sysparm_display_value=true: some reference has a display_value and a link
// but no value. Plain fields then carry display strings, and date-times are
// in the sending user's time zone, so they are not converted.
func displayMode(records []any) bool {
	for _, r := range records {
		rec, ok := r.(map[string]any)
		if !ok {
			continue
		}
		for _, v := range rec {
			ref, ok := v.(map[string]any)
			if !ok || !isReference(ref) {
				continue
			}
			_, hasValue := ref["value"]
			_, hasDisplay := ref["display_value"]
			if hasDisplay && !hasValue {
				return true
			}
		}
	}
	return false
}

// isReference reports whether m is a ServiceNow reference or display/value
// pair: only the keys link, value, display_value, with value or
// display_value present.
func isReference(m map[string]any) bool {
	if len(m) == 0 || len(m) > 3 {
		return false
	}
	for k := range m {
		if k != "link" && k != "value" && k != "display_value" {
			return false
		}
	}
	_, v := m["value"]
	_, d := m["display_value"]
	_, l := m["link"]
	return v || d || l
}

func lastSegment(link string) string {
	if i := strings.IndexAny(link, "?#"); i >= 0 {
		link = link[:i]
	}
	link = strings.TrimRight(link, "/")
	if i := strings.LastIndexByte(link, '/'); i >= 0 {
		return link[i+1:]
	}
	return link
}

// glideDateTime converts "YYYY-MM-DD HH:MM:SS" (ServiceNow stores and sends
// getValue() date-times in UTC) to RFC 3339.
func glideDateTime(s string) (string, bool) {
	if len(s) != len("2006-01-02 15:04:05") || s[10] != ' ' {
		return "", false
	}
	t, err := time.ParseInLocation("2006-01-02 15:04:05", s, time.UTC)
	if err != nil {
		return "", false
	}
	return t.Format(time.RFC3339), true
}

var xmlUnescaper = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&quot;", `"`, "&apos;", "'", "&#39;", "'", "&#34;", `"`)

func set(l []string) map[string]bool {
	m := make(map[string]bool, len(l))
	for _, s := range l {
		m[s] = true
	}
	return m
}
