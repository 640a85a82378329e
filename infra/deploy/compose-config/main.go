// compose-config loads Compose files the way `docker compose config` does
// (compose-go: schema validation, interpolation, merging, normalization) and
// prints the resolved model as YAML, or the error and exit status 1. It stands
// in for `docker compose config` where the Compose plugin is not installed: the
// plugin is built on this same loader.
//
// Usage: go run . [-q] [-format yaml|json] -f FILE [-f FILE...]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
)

type files []string

func (f *files) String() string     { return strings.Join(*f, ",") }
func (f *files) Set(v string) error { *f = append(*f, v); return nil }

func main() {
	var paths files
	flag.Var(&paths, "f", "a Compose file (repeatable)")
	quiet := flag.Bool("q", false, "only validate; print nothing")
	format := flag.String("format", "yaml", "yaml or json")
	flag.Parse()
	if len(paths) == 0 {
		fmt.Fprintln(os.Stderr, "usage: compose-config [-q] [-format yaml|json] -f FILE [-f FILE...]")
		os.Exit(2)
	}
	options, err := cli.NewProjectOptions(paths, cli.WithOsEnv, cli.WithDotEnv, cli.WithInterpolation(true), cli.WithResolvedPaths(true))
	if err != nil {
		fail(err)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	var out []byte
	if *format == "json" {
		out, err = project.MarshalJSON()
	} else {
		out, err = project.MarshalYAML()
	}
	if err != nil {
		fail(err)
	}
	if !*quiet {
		os.Stdout.Write(out)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "compose-config:", err)
	os.Exit(1)
}
