package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/jsonevent/jsonevent/core/auth"
	"github.com/jsonevent/jsonevent/core/config"
)

func init() {
	commands["token"] = command{
		summary: "token new --account ID: make an API token and print the config line with its hash",
		run:     runToken,
	}
}

// runToken implements `jsonevent token new --account ID [--config FILE]`.
// It prints the token once (it is stored nowhere) and the YAML that holds
// its SHA-256 for the account's tokens list. With --config it first checks
// that the account exists there.
func runToken(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	usage := func() {
		fmt.Fprintln(stderr, "usage: jsonevent token new --account ID [--config FILE]")
	}
	if len(args) > 0 && isHelp(args[0]) {
		usage()
		return 0
	}
	if len(args) == 0 || args[0] != "new" {
		usage()
		return 2
	}
	fs := flag.NewFlagSet("token new", flag.ContinueOnError)
	fs.SetOutput(stderr)
	account := fs.String("account", "", "account `id` the token belongs to (required)")
	path := fs.String("config", "", "config `file` in which the account must exist (optional)")
	fs.Usage = func() {
		usage()
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		return parseFailed(err)
	}
	if *account == "" || fs.NArg() > 0 {
		usage()
		return 2
	}
	existing := 0
	if *path != "" {
		cfg, err := config.Load(*path, configOptions(""))
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		found := false
		for _, a := range cfg.Accounts {
			if a.ID == *account {
				found, existing = true, len(a.Tokens)
			}
		}
		if !found {
			fmt.Fprintf(stderr, "jsonevent token: account %q is not in %s; add it under accounts: first\n", *account, *path)
			return 1
		}
	}
	token, hash, err := auth.NewToken()
	if err != nil {
		fmt.Fprintf(stderr, "jsonevent token: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "New token for account %q. It is shown only this once; give it to the sender now:\n\n", *account)
	fmt.Fprintf(stdout, "    %s\n\n", token)
	fmt.Fprintln(stdout, "Put its hash in the account's tokens in the config:")
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "    tokens: [ { sha256: %q } ]\n", hash)
	if existing > 0 {
		fmt.Fprintf(stdout, "\nThe account already has %d token(s): to keep them working, append { sha256: %q } to its list instead.\n", existing, hash)
	}
	return 0
}
