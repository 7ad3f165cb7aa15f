package main

import (
	"errors"
	"flag"
	"fmt"
	"github.com/jsonevent/jsonevent/core"
	"io"

	"github.com/jsonevent/jsonevent/adapters"
	"github.com/jsonevent/jsonevent/core/config"
	"github.com/jsonevent/jsonevent/core/workflow"
)

// defaultConfigPath is the config file the commands read without --config.
const defaultConfigPath = "configs/jsonevent.yaml"

func init() {
	commands["validate"] = command{
		summary: "check a config file (and JSONEVENT_* overrides) without starting",
		run:     runValidate,
	}
}

// configOptions are the load options every command uses, so that
// validate, token and serve accept and refuse exactly the same configs.
// presetsDir "" means presets/ beside the config file.
func configOptions(presetsDir string) config.Options {
	reg := adapters.Default()
	return config.Options{
		PresetsDir: presetsDir,
		Adapters:   reg.Names(),
		Validators: []func(*config.Config) error{workflow.Validate, adapterOptions(reg)},
	}
}

// adapterOptions checks each trigger's adapter options the way serve
// configures the adapters, so that validate refuses (with the key's line)
// what serve would refuse at start-up or on reload.
func adapterOptions(reg *adapters.Registry) func(*config.Config) error {
	return func(cfg *config.Config) error {
		var errs []error
		for _, t := range cfg.Triggers {
			name := t.Adapter
			if name == "" {
				name = "generic"
			}
			if _, ok := reg.Get(name); !ok {
				continue // the config already reports an unknown adapter
			}
			if _, err := reg.ForTrigger(name, t.Options, core.AdapterDeps{}); err != nil {
				msg := err.Error()
				var ce *core.Error
				if errors.As(err, &ce) {
					msg = ce.Message
				}
				errs = append(errs, fmt.Errorf("triggers[%s].options: %s", t.ID, msg))
			}
		}
		return errors.Join(errs...)
	}
}

// runValidate loads the config exactly as serve would and prints "ok", or
// every problem with its key and line and exits 1.
func runValidate(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", defaultConfigPath, "config `file` to check")
	presets := fs.String("presets", "", "presets `dir` (default: presets/ beside the config file)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: jsonevent validate [--config FILE] [--presets DIR]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return parseFailed(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "jsonevent validate: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg, err := config.Load(*path, configOptions(*presets))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	for _, f := range cfg.MissingPresets {
		fmt.Fprintf(stderr, "warning: %s does not exist: triggers of that adapter get only their own fields (presets are read from beside the config file, or --presets)\n", f)
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w.Error())
	}
	fmt.Fprintln(stdout, "ok")
	return 0
}
