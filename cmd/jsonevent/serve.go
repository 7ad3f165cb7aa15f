package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/signal"
	"syscall"
	"time"

	"github.com/jsonevent/jsonevent/adapters"
	"github.com/jsonevent/jsonevent/core"
	"github.com/jsonevent/jsonevent/core/capture"
	"github.com/jsonevent/jsonevent/core/config"
	"github.com/jsonevent/jsonevent/core/receiver"
	"github.com/jsonevent/jsonevent/core/store"
)

func init() {
	commands["serve"] = command{
		summary: "run the HTTP receiver (POST events, GET /v1/events/{id}, /metrics)",
		run:     runServe,
	}
}

// runServe loads the config, opens the store (applying migrations), serves
// until SIGINT/SIGTERM, then drains in-flight requests and closes the store
// so that every request answered 202 is committed.
func runServe(args []string, _ io.Reader, _, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", defaultConfigPath, "config `file`")
	listen := fs.String("listen", "", "listen `address` host:port (default: server.listen from the config)")
	presets := fs.String("presets", "", "presets `dir` (default: presets/ beside the config file)")
	level := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: jsonevent serve [--config FILE] [--listen ADDR] [--presets DIR] [--log-level LEVEL]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return parseFailed(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "jsonevent serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(stderr, "jsonevent serve: --log-level %q: %v\n", *level, err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: lvl}))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, *path, *listen, *presets, log); err != nil {
		log.Error("jsonevent serve stopped", "err", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, path, listen, presets string, log *slog.Logger) error {
	reg := adapters.Default()
	opt := configOptions(presets) // validate refuses exactly what serve refuses
	// Watch before loading, so that an edit saved while the store opens (or
	// just after the service says it listens) is applied, not lost.
	watcher, watchErr := config.NewWatcher(path, opt, log)
	if watchErr == nil {
		defer watcher.Close()
	}
	cfg, err := config.Load(path, opt)
	if err != nil {
		return err
	}
	warnConfig(log, cfg)
	if watchErr != nil { // said after Load, which reports a missing file or directory better
		log.Error("config watch failed; edits will not be picked up until a restart", "err", watchErr)
	}
	listenFlag := listen != ""
	if !listenFlag {
		listen = cfg.Server.Listen
	}

	wf, stOpt, err := newWorkflows(cfg, log)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.Store, log, stOpt)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("closing the store", "err", err)
		}
	}()
	wf.registry.MustRegister(st.Collectors()...) // group commits, fsync time, writable
	if err := wf.start(ctx, st); err != nil {
		return err
	}
	// SIGTERM's whole stop fits server.shutdown_timeout: the drain takes
	// what it needs, the workflow queue the rest (see below).
	wfStop := 30 * time.Second
	defer func() { wf.stop(st, wfStop) }()

	lim, err := newLimiter(ctx, st)
	if err != nil {
		return err
	}
	// Capture sessions and adopted fields (issue 5): loaded from the store.
	capt, err := capture.New(ctx, st, capture.Options{Log: log})
	if err != nil {
		return err
	}
	go syncCapture(ctx, capt, st, log) // other nodes' sessions and fields (PostgreSQL)
	srv, err := receiver.New(cfg, receiver.Options{
		Store:   st,
		Capture: capt,
		Limiter: lim,
		Adapters: receiver.AdapterFunc(func(name string, options map[string]any) (core.Adapter, error) {
			// The store keeps adapter snapshots (dynamics merge_snapshots) durably.
			return reg.ForTrigger(name, options, core.AdapterDeps{Snapshots: st})
		}),
		Log:       log,
		Jobs:      wf.engine.PlanJobs,
		Workflows: wf.engine,
		Registry:  wf.registry,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	if watcher != nil {
		go func() {
			if err := watcher.Run(watchCtx, func(c *config.Config) {
				// The workflows follow only a config the receiver took, so
				// both run the same one.
				if srv.Apply(c) == nil {
					wf.apply(c)
					warnRestartRequired(log, cfg, c, listenFlag)
					warnConfig(log, c)
				}
			}); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("config watch stopped; edits are no longer picked up", "err", err)
			}
		}()
	}
	log.Info("jsonevent listening", "addr", ln.Addr().String(), "config", path, "store", cfg.Store.Driver)

	select {
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	timeout := cfg.Server.ShutdownTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	log.Info("shutting down: draining in-flight requests", "timeout", timeout.String())
	deadline := time.Now().Add(timeout)
	sctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Error("drain did not finish", "err", err)
	}
	// Workflow attempts still running get what is left; then they are
	// cancelled (wf.stop gives them stopCancelGrace to record it), and
	// river retries them after the restart, instead of a supervisor's
	// SIGKILL leaving them to the rescuer.
	wfStop = max(time.Until(deadline), 0)
	stopWatch()
	log.Info("stopped")
	return nil
}

// warnConfig says which adapters' preset files are missing (their
// triggers get only their own fields, which would otherwise go unnoticed
// until an event lacks them) and logs the config's warnings.
func warnConfig(log *slog.Logger, cfg *config.Config) {
	for _, f := range cfg.MissingPresets {
		log.Warn("preset file missing: triggers of its adapter get only their own fields (presets are read from beside the config file, or --presets)", "file", f)
	}
	for _, w := range cfg.Warnings {
		log.Warn("config: "+w.Error(), "key", w.Key)
	}
}

// warnRestartRequired says which keys of a reloaded config keep their
// running values until a restart (the listener, the store, the queue):
// they are set up once, and applying the rest without a word would let an
// operator believe the service moved. With --listen, server.listen is not
// in use at all.
func warnRestartRequired(log *slog.Logger, running, next *config.Config, listenFlag bool) {
	var keys []string
	for _, k := range config.RestartRequired(running, next) {
		if k != "server.listen" || !listenFlag {
			keys = append(keys, k)
		}
	}
	if len(keys) > 0 {
		log.Warn("config reloaded, but these keys keep their running values until jsonevent is restarted", "keys", keys)
	}
}
