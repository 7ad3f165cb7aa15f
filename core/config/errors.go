package config

import (
	"errors"
	"fmt"
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

// problems accumulates Problems while loading and locates their keys.
type problems struct {
	list []Problem
	loc  *locator
}

func (ps *problems) add(key, format string, args ...any) {
	ps.addProblem(Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (ps *problems) addProblem(p Problem) {
	if p.File == "" && p.Env == "" && ps.loc != nil {
		p.File, p.Line, p.Env = ps.loc.locate(p.Key)
	}
	ps.list = append(ps.list, p)
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
