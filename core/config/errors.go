package config

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a configuration, located as precisely as
// Load can: the key, and the file and line or the environment variable it
// came from. Options.Validators may return a *Problem with only Key and Msg
// set (or errors.Join of several) to have Load locate the key.
type Problem struct {
	Key  string // full key path, e.g. triggers[0].workflows[1].tasks[2].url
	File string // the file that holds Key, "" if none
	Line int    // 1-based line of Key in File, 0 if unknown
	Env  string // the environment variable that set Key, if any
	Msg  string
}

// Problemf returns a *Problem for key with a formatted message; for
// Options.Validators.
func Problemf(key, format string, args ...any) *Problem {
	return &Problem{Key: key, Msg: fmt.Sprintf(format, args...)}
}

func (p *Problem) Error() string {
	var b strings.Builder
	switch {
	case p.Env != "":
		b.WriteString("environment variable ")
		b.WriteString(p.Env)
		b.WriteString(": ")
	case p.File != "" && p.Line > 0:
		b.WriteString(p.File)
		b.WriteString(":")
		b.WriteString(strconv.Itoa(p.Line))
		b.WriteString(": ")
	case p.File != "":
		b.WriteString(p.File)
		b.WriteString(": ")
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error is what Load returns for a configuration it refuses: every problem
// found, in file order, not just the first.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return "config: " + e.Problems[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "config: %d problems:", len(e.Problems))
	for i := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(e.Problems[i].Error())
	}
	return b.String()
}

// LogValue shows several problems in a JSON log line as a list, one
// located problem an item, rather than one string with "\n" inside.
func (e *Error) LogValue() slog.Value {
	if len(e.Problems) == 1 {
		return slog.StringValue(e.Error())
	}
	list := make([]string, len(e.Problems))
	for i := range e.Problems {
		list[i] = e.Problems[i].Error()
	}
	return slog.AnyValue(list)
}

// problems accumulates Problems while loading and locates their keys.
type problems struct {
	list     []Problem
	warnings []Problem // valid, but probably not what was meant (Config.Warnings)
	loc      *locator
}

// warn records a located warning: the config loads, and serve and
// validate show it.
func (ps *problems) warn(key, format string, args ...any) {
	ps.warnings = append(ps.warnings, ps.located(Problem{Key: key, Msg: fmt.Sprintf(format, args...)}))
}

func (ps *problems) add(key, format string, args ...any) {
	ps.addProblem(Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (ps *problems) addProblem(p Problem) {
	ps.list = append(ps.list, ps.located(p))
}

// located fills in where p's key is, unless p already says.
func (ps *problems) located(p Problem) Problem {
	if p.File == "" && p.Env == "" && ps.loc != nil {
		p.File, p.Line, p.Env = ps.loc.locate(p.Key)
	}
	return p
}

// where names the place of key for a message: "line 12" when it is in
// the file, else the key itself.
func (ps *problems) where(key string) string {
	if ps.loc != nil {
		if n, ok := ps.loc.lines[key]; ok {
			return "line " + strconv.Itoa(n)
		}
	}
	return key
}

// addError adds err, splitting joined errors and keeping *Problem keys.
func (ps *problems) addError(key string, err error) {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			ps.addError(key, e)
		}
		return
	}
	var p *Problem
	if errors.As(err, &p) {
		ps.addProblem(*p)
		return
	}
	ps.add(key, "%v", err)
}

// err returns nil or an *Error with the problems sorted by file and line;
// problems without a line keep their order after the located ones.
func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	list := append([]Problem(nil), ps.list...)
	rank := map[string]int{}
	for _, p := range list {
		if _, ok := rank[p.File]; !ok {
			rank[p.File] = len(rank)
		}
	}
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if (a.Line > 0) != (b.Line > 0) {
			return a.Line > 0
		}
		if rank[a.File] != rank[b.File] {
			return rank[a.File] < rank[b.File]
		}
		return a.Line < b.Line
	})
	return &Error{Problems: list}
}

// validatorKey matches an error message that starts with a key path and a
// colon, in index form (triggers[0].fields) or id form
// (triggers[OC_demo].workflows[urgent].tasks[notify].url), as validators
// such as the workflow compiler write them.
// An id may hold dots and brackets (acme.orders, OC]x), never spaces.
var validatorKey = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*(?:\[\S*?\])*(?:\.[A-Za-z0-9_-]+(?:\[\S*?\])*)*): (?s:(.+))$`)

// addValidatorError adds what an Options.Validators function returned:
// *Problem values as they are, and plain errors whose message starts with
// a key path located by that key, ids resolved to list indexes.
func (ps *problems) addValidatorError(c *Config, err error) {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			ps.addValidatorError(c, e)
		}
		return
	}
	var p *Problem
	if errors.As(err, &p) {
		ps.addProblem(*p)
		return
	}
	if m := validatorKey.FindStringSubmatch(err.Error()); m != nil {
		if key, ok := resolveKey(c, m[1]); ok {
			ps.add(key, "%s", m[2])
			return
		}
	}
	ps.add("", "%v", err)
}

// resolveKey turns ids in list brackets (accounts[demo], triggers[OC_demo],
// workflows[w], tasks[t]) into indexes, so the key can be located. Ids may
// hold dots and brackets: a bracket is matched against the ids that list
// holds, the longest first, before it is read as an index.
func resolveKey(c *Config, key string) (string, bool) {
	var out strings.Builder
	var trigger *Trigger
	var workflow *Workflow
	rest := key
	for rest != "" {
		// A name, up to a bracket or a dot.
		i := strings.IndexAny(rest, ".[")
		if i < 0 {
			out.WriteString(rest)
			break
		}
		name := rest[:i]
		out.WriteString(name)
		if rest[i] == '.' {
			out.WriteByte('.')
			rest = rest[i+1:]
			continue
		}
		rest = rest[i+1:] // after '['
		var ids []string
		switch {
		case name == "accounts" && out.Len() == len(name):
			for _, a := range c.Accounts {
				ids = append(ids, a.ID)
			}
		case name == "triggers" && out.Len() == len(name):
			for _, t := range c.Triggers {
				ids = append(ids, t.ID)
			}
		case name == "workflows" && trigger != nil:
			for _, w := range trigger.Workflows {
				ids = append(ids, w.ID)
			}
		case name == "tasks" && workflow != nil:
			for _, t := range workflow.Tasks {
				ids = append(ids, t.ID)
			}
		}
		idx, n := -1, 0 // the list index, and how much of rest it took
		for j, id := range ids {
			if len(id)+1 > n && strings.HasPrefix(rest, id+"]") {
				idx, n = j, len(id)+1
			}
		}
		if idx < 0 {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return "", false
			}
			v, err := strconv.Atoi(rest[:end])
			if err != nil || v < 0 || (ids != nil && v >= len(ids)) {
				return "", false
			}
			idx, n = v, end+1
		}
		switch {
		case name == "triggers" && ids != nil:
			trigger = &c.Triggers[idx]
		case name == "workflows" && ids != nil:
			workflow = &trigger.Workflows[idx]
		}
		fmt.Fprintf(&out, "[%d]", idx)
		rest = rest[n:]
	}
	return out.String(), true
}
