package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise the module version of the build is used.
var version = ""

func (a *app) version(args []string) error {
	var asJSON bool
	fs := newFlagSet("version")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 0, ""); err != nil {
		return err
	}
	v, rev := buildVersion()
	if asJSON {
		raw, _ := json.Marshal(struct {
			Version  string `json:"version"`
			Revision string `json:"revision,omitempty"`
			Go       string `json:"go"`
		}{v, rev, runtime.Version()})
		return printJSON(a.stdout, raw)
	}
	if rev != "" {
		v += " (" + rev + ")"
	}
	fmt.Fprintf(a.stdout, "authd %s %s %s/%s\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

func buildVersion() (v, rev string) {
	v = version
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		if v == "" {
			v = "devel"
		}
		return v, ""
	}
	if v == "" {
		v = bi.Main.Version
	}
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			rev = s.Value[:12]
		}
	}
	return v, rev
}
