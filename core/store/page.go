package store

import (
	"fmt"
	"strings"
)

// page builds the query of an account-scoped list that pages by id, newest
// first (events, runs, tickets): the WHERE conditions with their $N
// placeholders, the LIMIT one row past the page to know whether another
// follows, and the cursor of that next page.
type page struct {
	limit int
	where []string
	args  []any
}

// newPage starts a page for account with limit rows (default 50, at most
// 500) and a cursor before ("" = from the newest).
func newPage(account string, limit int, before string) *page {
	if limit <= 0 {
		limit = 50
	}
	p := &page{limit: min(limit, 500)}
	p.and("account_id = $%d", account)
	if before != "" {
		p.and("id < $%d", before)
	}
	return p
}

// and adds a condition; cond holds one %d for the value's placeholder.
func (p *page) and(cond string, v any) {
	p.args = append(p.args, v)
	p.where = append(p.where, fmt.Sprintf(cond, len(p.args)))
}

// query returns the SELECT of columns from table and its arguments.
func (p *page) query(columns, table string) (string, []any) {
	args := append(p.args[:len(p.args):len(p.args)], int64(p.limit+1))
	return fmt.Sprintf(`SELECT %s FROM %s WHERE %s ORDER BY id DESC LIMIT $%d`,
		columns, table, strings.Join(p.where, " AND "), len(args)), args
}

// cut trims rows to the page and returns them with the next page's cursor
// ("" when this is the last page).
func cut[T any](p *page, rows []T, id func(T) string) ([]T, string) {
	if len(rows) <= p.limit {
		return rows, ""
	}
	rows = rows[:p.limit]
	return rows, id(rows[p.limit-1])
}
