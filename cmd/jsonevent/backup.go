package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"

	"github.com/jsonevent/jsonevent/core/config"
	"github.com/jsonevent/jsonevent/core/store"
)

func init() {
	commands["backup"] = command{
		summary: "copy the SQLite database to a new file, consistently, while the service runs",
		run:     runBackup,
	}
}

const backupUsage = `usage: jsonevent backup [--config FILE] OUT

Writes a consistent copy of the SQLite database that store.dsn names to the
new file OUT (it must not exist), while jsonevent serve may be running: the
copy holds every event committed before it began. To restore, stop the
service, move the copy into store.dsn's place (and delete that file's -wal
and -shm beside it), then start the service. On PostgreSQL use pg_dump.

Exit status: 0 copied, 1 the copy failed, 2 usage or config error.
`

// runBackup implements "jsonevent backup".
func runBackup(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", defaultConfigPath, "config `file`")
	presets := fs.String("presets", "", "presets `dir` (default: presets/ beside the config file)")
	fs.Usage = func() {
		fmt.Fprint(stderr, backupUsage)
		fs.PrintDefaults()
	}
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stdout, backupUsage)
		return 0
	}
	// Flags may come before or after OUT.
	if err := fs.Parse(args); err != nil {
		return parseFailed(err)
	}
	out := fs.Arg(0)
	if fs.NArg() > 0 {
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return parseFailed(err)
		}
	}
	if out == "" || fs.NArg() > 0 {
		fmt.Fprint(stderr, "jsonevent backup: give the new file to write, once\n\n"+backupUsage)
		return 2
	}
	cfg, err := config.Load(*path, configOptions(*presets))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if cfg.Store.Driver != "sqlite" {
		fmt.Fprintf(stderr, "jsonevent backup: store.driver is %s: back it up with its own tools (pg_dump for PostgreSQL)\n", cfg.Store.Driver)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	n, err := store.BackupSQLite(ctx, cfg.Store.DSN, out)
	if err != nil {
		// store's errors start "backup: " already.
		fmt.Fprintf(stderr, "jsonevent backup: %s\n", strings.TrimPrefix(err.Error(), "backup: "))
		return 1
	}
	fmt.Fprintf(stdout, "backed up %s to %s (%d bytes)\n", cfg.Store.DSN, out, n)
	return 0
}
