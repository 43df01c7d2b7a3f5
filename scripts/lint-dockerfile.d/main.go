// lint-dockerfile: BuildKit's Dockerfile checks (docker build --check), offline.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	digest "github.com/opencontainers/go-digest"
)

// offlineResolver answers every base image with a minimal config, so no registry is contacted.
type offlineResolver struct{}

func (offlineResolver) ResolveImageConfig(_ context.Context, ref string, opt sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	osName, arch := "linux", runtime.GOARCH
	if opt.ImageOpt != nil && opt.ImageOpt.Platform != nil {
		osName, arch = opt.ImageOpt.Platform.OS, opt.ImageOpt.Platform.Architecture
	}
	dt, err := json.Marshal(map[string]any{
		"os": osName, "architecture": arch,
		"config": map[string]any{"Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
	})
	if err != nil {
		return "", "", nil, err
	}
	return ref, digest.FromBytes(dt), dt, nil
}

type warning struct {
	Rule   string `json:"rule"`
	Line   int    `json:"line"`
	Detail string `json:"detail"`
	URL    string `json:"url,omitempty"`
}

type command struct {
	Name       string            `json:"name"`
	Line       int               `json:"line"`
	Code       string            `json:"code"`
	Args       []string          `json:"args,omitempty"`
	ExecForm   *bool             `json:"execForm,omitempty"`
	From       string            `json:"from,omitempty"`
	Chown      string            `json:"chown,omitempty"`
	Chmod      string            `json:"chmod,omitempty"`
	Sources    []string          `json:"sources,omitempty"`
	Dest       string            `json:"dest,omitempty"`
	Env        map[string]string `json:"env,omitempty"`
	Value      string            `json:"value,omitempty"`
}

type stage struct {
	Name     string    `json:"name,omitempty"`
	Base     string    `json:"base"`
	Platform string    `json:"platform,omitempty"`
	Line     int       `json:"line"`
	Commands []command `json:"commands"`
}

type report struct {
	File     string    `json:"file"`
	Warnings []warning `json:"warnings"`
	Error    string    `json:"error,omitempty"`
	Stages   []stage   `json:"stages"`
}

func lineOf(r []parser.Range) int {
	if len(r) == 0 {
		return 0
	}
	return r[0].Start.Line
}

func describe(c instructions.Command) command {
	out := command{Name: c.Name(), Line: lineOf(c.Location())}
	if s, ok := c.(fmt.Stringer); ok {
		out.Code = s.String()
	}
	execForm := func(p bool) *bool { v := !p; return &v }
	switch t := c.(type) {
	case *instructions.RunCommand:
		out.Args, out.ExecForm = t.CmdLine, execForm(t.PrependShell)
	case *instructions.CmdCommand:
		out.Args, out.ExecForm = t.CmdLine, execForm(t.PrependShell)
	case *instructions.EntrypointCommand:
		out.Args, out.ExecForm = t.CmdLine, execForm(t.PrependShell)
	case *instructions.CopyCommand:
		out.From, out.Chown, out.Chmod, out.Sources, out.Dest = t.From, t.Chown, t.Chmod, t.SourcePaths, t.DestPath
	case *instructions.AddCommand:
		out.Chown, out.Chmod, out.Sources, out.Dest = t.Chown, t.Chmod, t.SourcePaths, t.DestPath
	case *instructions.EnvCommand:
		out.Env = map[string]string{}
		for _, kv := range t.Env {
			out.Env[kv.Key] = kv.Value
		}
	case *instructions.UserCommand:
		out.Value = t.User
	case *instructions.WorkdirCommand:
		out.Value = t.Path
	case *instructions.ExposeCommand:
		out.Args = t.Ports
	}
	return out
}

func run(path string) (*report, error) {
	dt, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	rep := &report{File: path, Warnings: []warning{}, Stages: []stage{}}
	add := func(rule, url, detail string, loc []parser.Range) {
		rep.Warnings = append(rep.Warnings, warning{Rule: rule, Line: lineOf(loc), Detail: detail, URL: url})
	}

	// 1. BuildKit's checks, as `docker build --check` runs them.
	def, err := llb.Scratch().Marshal(ctx)
	if err != nil {
		return nil, err
	}
	sm := llb.NewSourceMap(nil, filepath.Base(path), "Dockerfile", dt)
	sm.Definition = def
	res, err := dockerfile2llb.DockerfileLint(ctx, dt, dockerfile2llb.ConvertOpt{MetaResolver: offlineResolver{}, SourceMap: sm})
	if err != nil {
		return nil, err
	}
	for _, w := range res.Warnings {
		line := 0
		if w.Location != nil && len(w.Location.Ranges) > 0 && w.Location.Ranges[0].Start != nil {
			line = int(w.Location.Ranges[0].Start.Line)
		}
		rep.Warnings = append(rep.Warnings, warning{Rule: w.RuleName, Line: line, Detail: w.Detail, URL: w.URL})
	}
	if res.Error != nil {
		rep.Error = res.Error.Message
	}

	// 2. The parsed instructions (same parser), and CopyIgnoredFile against .dockerignore.
	ast, err := parser.Parse(strings.NewReader(string(dt)))
	if err != nil {
		if rep.Error == "" {
			rep.Error = err.Error()
		}
		return rep, nil
	}
	stages, _, err := instructions.Parse(ast.AST, linter.New(&linter.Config{}))
	if err != nil {
		if rep.Error == "" {
			rep.Error = err.Error()
		}
		return rep, nil
	}
	var matcher *patternmatcher.PatternMatcher
	if f, err := os.Open(filepath.Join(filepath.Dir(path), ".dockerignore")); err == nil {
		patterns, perr := ignorefile.ReadAll(f)
		f.Close()
		if perr != nil {
			return nil, perr
		}
		if matcher, err = patternmatcher.New(patterns); err != nil {
			return nil, err
		}
	}
	for _, st := range stages {
		s := stage{Name: st.Name, Base: st.BaseName, Platform: st.Platform, Line: lineOf(st.Location), Commands: []command{}}
		for _, c := range st.Commands {
			s.Commands = append(s.Commands, describe(c))
			// BuildKit's validateCopySourcePath, but also run when .dockerignore has "!" exclusions
			// (BuildKit skips those; an allow-list .dockerignore is exactly where a COPY of a path
			// that was never allowed goes unnoticed).
			var srcs []string
			verb := ""
			switch t := c.(type) {
			case *instructions.CopyCommand:
				if t.From == "" {
					srcs, verb = t.SourcePaths, "Copy"
				}
			case *instructions.AddCommand:
				srcs, verb = t.SourcePaths, "Add"
			}
			if matcher == nil {
				continue
			}
			for _, src := range srcs {
				src = filepath.ToSlash(filepath.Clean(src))
				if src == "." || src == "/" {
					continue
				}
				if ok, err := matcher.MatchesOrParentMatches(src); err == nil && ok {
					add(linter.RuleCopyIgnoredFile.Name, linter.RuleCopyIgnoredFile.URL, linter.RuleCopyIgnoredFile.Format(verb, src), c.Location())
				}
			}
		}
		rep.Stages = append(rep.Stages, s)
	}
	sort.SliceStable(rep.Warnings, func(i, j int) bool { return rep.Warnings[i].Line < rep.Warnings[j].Line })
	return rep, nil
}

func main() {
	asJSON := false
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "--json" {
		asJSON, args = true, args[1:]
	}
	path := "Dockerfile"
	if len(args) > 0 {
		path = args[0]
	}
	rep, err := run(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "lint-dockerfile: %s: %v\n", path, err)
		os.Exit(2)
	}
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		for _, w := range rep.Warnings {
			fmt.Printf("%s:%d %s: %s\n", path, w.Line, w.Rule, w.Detail)
		}
		if rep.Error != "" {
			fmt.Printf("%s: error: %s\n", path, rep.Error)
		}
		if len(rep.Warnings) == 0 && rep.Error == "" {
			fmt.Printf("%s: no warnings (BuildKit checks)\n", path)
		}
	}
	if len(rep.Warnings) > 0 || rep.Error != "" {
		os.Exit(1)
	}
}
