package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"syscall"

	"github.com/jsonevent/jsonevent/core/config"
	"github.com/jsonevent/jsonevent/core/store"
)

func init() {
	commands["migrate"] = command{
		summary: "apply the database schema migrations (serve also does at start-up) and exit",
		run:     runMigrate,
	}
}

// runMigrate opens the store the config names, which applies river's and
// jsonevent's pending migrations (one node at a time on PostgreSQL), prints
// the schema version and exits. A schema newer than this binary, or a
// database that cannot be reached, is an error and exit status 1.
func runMigrate(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", defaultConfigPath, "config `file`")
	presets := fs.String("presets", "", "presets `dir` (default: presets/ beside the config file)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: jsonevent migrate [--config FILE] [--presets DIR]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return parseFailed(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "jsonevent migrate: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg, err := config.Load(*path, configOptions(*presets))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// Warnings only: a step waiting for a table lock says so while it waits.
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := store.Open(ctx, cfg.Store, log)
	if err != nil {
		fmt.Fprintf(stderr, "jsonevent migrate: %v\n", err)
		return 1
	}
	defer st.Close()
	v, err := st.SchemaVersion(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "jsonevent migrate: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s schema at version %d\n", st.Driver(), v)
	return 0
}
