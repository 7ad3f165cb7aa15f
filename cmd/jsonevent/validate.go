package main

import (
	"flag"
	"fmt"
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
	return config.Options{
		PresetsDir: presetsDir,
		Adapters:   adapters.Default().Names(),
		Validators: []func(*config.Config) error{workflow.Validate},
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
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "jsonevent validate: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if _, err := config.Load(*path, configOptions(*presets)); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintln(stdout, "ok")
	return 0
}
