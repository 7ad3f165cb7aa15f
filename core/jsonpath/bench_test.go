package jsonpath

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ohler55/ojg/jp"
	"github.com/ohler55/ojg/oj"
	theory "github.com/theory/jsonpath"
)

// ticketDocument builds a realistic help-desk ticket webhook of about
// 100 KB, deterministically: a ticket with requester, custom fields, tags,
// line items and a long conversation thread.
func ticketDocument() []byte { return ticketDocumentN(150) }

// ticketDocumentN builds the ticket document with n conversation entries.
func ticketDocumentN(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("order refund shipping delayed invoice account password reset urgent please help thanks " +
		"customer package tracking number warehouse replacement damaged item broken screen battery charger " +
		"subscription renewal payment failed card declined discount coupon code weekend support agent")
	sentence := func(n int) string {
		w := make([]string, n)
		for i := range w {
			w[i] = words[r.IntN(len(words))]
		}
		return strings.Join(w, " ")
	}
	type attachment struct {
		Name        string `json:"name"`
		ContentType string `json:"content_type"`
		Size        int    `json:"size"`
	}
	type conversation struct {
		ID          int          `json:"id"`
		Incoming    bool         `json:"incoming"`
		Private     bool         `json:"private"`
		FromEmail   string       `json:"from_email"`
		BodyText    string       `json:"body_text"`
		CreatedAt   string       `json:"created_at"`
		Attachments []attachment `json:"attachments"`
	}
	type lineItem struct {
		SKU      string  `json:"sku"`
		Name     string  `json:"name"`
		Quantity int     `json:"quantity"`
		Price    float64 `json:"price"`
	}
	var convs []conversation
	for i := 0; i < n; i++ {
		c := conversation{
			ID:        9000000 + i,
			Incoming:  r.IntN(2) == 0,
			Private:   r.IntN(5) == 0,
			FromEmail: fmt.Sprintf("user%d@%s", r.IntN(50), []string{"example.com", "example.org", "corp.test"}[r.IntN(3)]),
			BodyText:  sentence(40 + r.IntN(40)),
			CreatedAt: fmt.Sprintf("2026-11-%02dT%02d:%02d:00Z", 1+r.IntN(26), r.IntN(24), r.IntN(60)),
		}
		for j := r.IntN(4); j > 0; j-- {
			c.Attachments = append(c.Attachments, attachment{Name: fmt.Sprintf("file%d.pdf", r.IntN(1000)), ContentType: "application/pdf", Size: r.IntN(1 << 20)})
		}
		if c.Attachments == nil {
			c.Attachments = []attachment{}
		}
		convs = append(convs, c)
	}
	var items []lineItem
	for i := 0; i < 40; i++ {
		items = append(items, lineItem{SKU: fmt.Sprintf("SKU-%05d", r.IntN(100000)), Name: sentence(3), Quantity: 1 + r.IntN(5), Price: float64(r.IntN(50000)) / 100})
	}
	doc := map[string]any{
		"freshdesk_webhook": map[string]any{"triggered_event": "{ticket_action:created}", "ticket_id": 123456},
		"ticket": map[string]any{
			"id":          123456,
			"subject":     "Order delayed and " + sentence(6),
			"status":      "Open",
			"priority":    3,
			"source":      "Email",
			"description": sentence(120),
			"requester":   map[string]any{"id": 77, "name": "Jane Doe", "email": "jane.doe@example.com", "phone": "+1 555 0100"},
			"company":     map[string]any{"id": 5, "name": "Acme Corp", "domains": []string{"acme.test", "acme.example"}},
			"custom_fields": map[string]any{
				"cf_order_number": "ORD-2026-000123", "cf_region": "EU", "cf_total": 1234.5, "cf_vip": true, "cf_contract": nil,
			},
			"tags":          []string{"vip", "shipping", "eu", "escalated"},
			"line_items":    items,
			"conversations": convs,
		},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return b
}

// benchQueries are the query shapes compared, named for the table.
var benchQueries = []struct{ name, expr string }{
	{"child", `$.ticket.requester.email`},
	{"child_deep", `$.ticket.custom_fields.cf_order_number`},
	{"index", `$.ticket.conversations[0].from_email`},
	{"index_neg", `$.ticket.conversations[-1].id`},
	{"wildcard", `$.ticket.conversations[*].id`},
	{"slice", `$.ticket.conversations[0:20:2].created_at`},
	{"descendant", `$..email`},
	{"filter_eq", `$.ticket.conversations[?@.incoming == true].id`},
	{"filter_num", `$.ticket.line_items[?@.price > 250].sku`},
	{"fn_length", `$.ticket.conversations[?length(@.attachments) > 1].id`},
	{"fn_match", `$.ticket.conversations[?match(@.from_email, 'user1.*')].id`},
}

// TestBenchQueriesAgree checks that the three engines agree on the
// benchmark queries, so the benchmark compares equal work.
func TestBenchQueriesAgree(t *testing.T) {
	if n := len(ticketDocument()); n < 90_000 || n > 130_000 {
		t.Fatalf("benchmark document is %d bytes, want about 100 KB", n)
	}
	// The same shape, smaller: theory/jsonpath's match() is slow.
	doc := ticketDocumentN(25)
	data, err := oj.Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatal(err)
	}
	for _, q := range benchQueries {
		ours := MustCompile(q.expr).Values(doc)
		if len(ours) == 0 {
			t.Errorf("%s selects nothing", q.name)
		}
		ox := jp.MustParseString(q.expr)
		if n := len(ox.Get(data)); n != len(ours) {
			t.Errorf("%s: ojg selects %d nodes, we select %d", q.name, n, len(ours))
		}
		tp := theory.MustParse(q.expr)
		if n := len(tp.Select(v)); n != len(ours) {
			t.Errorf("%s: theory/jsonpath selects %d nodes, we select %d", q.name, n, len(ours))
		}
	}
}

// BenchmarkQuery compares, per query shape, this engine (over raw bytes)
// with ojg (parsing included) and theory/jsonpath (unmarshal included).
// Paths are compiled once; each iteration queries the ~100 KB document.
func BenchmarkQuery(b *testing.B) {
	doc := ticketDocument()
	for _, q := range benchQueries {
		b.Run(q.name+"/jsonevent", func(b *testing.B) {
			p := MustCompile(q.expr)
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				if len(p.Values(doc)) == 0 {
					b.Fatal("no result")
				}
			}
		})
		b.Run(q.name+"/ojg", func(b *testing.B) {
			x := jp.MustParseString(q.expr)
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				data, err := oj.Parse(doc)
				if err != nil {
					b.Fatal(err)
				}
				if len(x.Get(data)) == 0 {
					b.Fatal("no result")
				}
			}
		})
		b.Run(q.name+"/theory", func(b *testing.B) {
			p := theory.MustParse(q.expr)
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				var v any
				if err := json.Unmarshal(doc, &v); err != nil {
					b.Fatal(err)
				}
				if len(p.Select(v)) == 0 {
					b.Fatal("no result")
				}
			}
		})
	}
}

// BenchmarkNodes measures results with normalized paths.
func BenchmarkNodes(b *testing.B) {
	doc := ticketDocument()
	for _, q := range benchQueries {
		b.Run(q.name, func(b *testing.B) {
			p := MustCompile(q.expr)
			b.ReportAllocs()
			for b.Loop() {
				p.Nodes(doc)
			}
		})
	}
}

// BenchmarkLeaves measures listing every leaf of the ticket document.
func BenchmarkLeaves(b *testing.B) {
	doc := ticketDocument()
	b.ReportAllocs()
	for b.Loop() {
		Leaves(doc)
	}
}
