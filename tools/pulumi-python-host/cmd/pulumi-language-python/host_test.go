package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
	"google.golang.org/protobuf/types/known/structpb"
)

func info(t *testing.T, opts map[string]any) *pulumirpc.ProgramInfo {
	t.Helper()
	s, err := structpb.NewStruct(opts)
	if err != nil {
		t.Fatal(err)
	}
	return &pulumirpc.ProgramInfo{RootDirectory: "/r", ProgramDirectory: "/r/p", EntryPoint: ".", Options: s}
}

func TestPythonOptions(t *testing.T) {
	o, err := pythonOptions(info(t, map[string]any{"virtualenv": "/abs/venv", "toolchain": "uv", "typechecker": "mypy"}), false)
	if err != nil {
		t.Fatal(err)
	}
	if o.Virtualenv != "/abs/venv" || o.Toolchain != toolchain.Uv || o.Typechecker != toolchain.TypeCheckerMypy ||
		o.Root != "/r" || o.ProgramDir != "/r/p" {
		t.Fatalf("unexpected options %+v", o)
	}
	// Programs and policy packs keep the ambient interpreter; other plugins default to ./venv.
	if o, _ := pythonOptions(info(t, nil), false); o.Virtualenv != "" {
		t.Fatalf("program got default virtualenv %q", o.Virtualenv)
	}
	if o, _ := pythonOptions(info(t, nil), true); o.Virtualenv != "venv" {
		t.Fatalf("plugin got virtualenv %q, want venv", o.Virtualenv)
	}
	if o, _ := pythonOptions(info(t, map[string]any{"toolchain": "poetry"}), true); o.Virtualenv != "" {
		t.Fatalf("poetry plugin got virtualenv %q", o.Virtualenv)
	}
	for _, bad := range []map[string]any{{"virtualenv": 3.0}, {"toolchain": "conda"}, {"typechecker": "pytype"}} {
		if _, err := pythonOptions(info(t, bad), false); err == nil {
			t.Errorf("options %v: expected an error", bad)
		}
	}
}

func TestPluginVersion(t *testing.T) {
	cases := map[string]string{
		"1":                 "1.0.0",
		"1.2":               "1.2.0",
		"7.51.1":            "7.51.1",
		"1.2.3.4":           "1.2.3.4",
		"1.2.3a4":           "1.2.3-alpha.4",
		"1.2.3b4":           "1.2.3-beta.4",
		"1.2.3rc4":          "1.2.3-rc.4",
		"1.2.3.post4":       "1.2.3+post4",
		"1.2.3.dev5":        "1.2.3+dev5",
		"1.2.3.post4.dev5":  "1.2.3+post4dev5",
		"3.31.0a1605189729": "3.31.0-alpha.1605189729",
	}
	for in, want := range cases {
		got, err := pluginVersion(in)
		if err != nil || got != want {
			t.Errorf("pluginVersion(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "1!2.0", "1.0+local", "abc", "1.0.0-beta"} {
		if got, err := pluginVersion(bad); err == nil {
			t.Errorf("pluginVersion(%q) = %q, want an error", bad, got)
		}
	}
}

func TestPackageDependency(t *testing.T) {
	s := func(v string) *string { return &v }
	got, err := packageDependency(installedDist{Name: "pulumi-aws", Version: "7.51.1",
		PluginJSON: s(`{"resource": true, "name": "aws", "version": "7.51.1"}`)})
	if err != nil || got == nil || got.Name != "aws" || got.Version != "v7.51.1" || got.Kind != "resource" {
		t.Fatalf("aws: %v, %v", got, err)
	}
	got, _ = packageDependency(installedDist{Name: "pulumi-random", Version: "4.1"})
	if got == nil || got.Name != "random" || got.Version != "v4.1.0" {
		t.Fatalf("random (name only): %v", got)
	}
	for _, d := range []installedDist{
		{Name: "pulumi-policy", Version: "1.21.0", PluginJSON: s(`{"resource": false}`)},
		{Name: "pulumi-policy", Version: "1.21.0"},
		{Name: "pulumi", Version: "3.259.0"},
		{Name: "requests", Version: "2.34.2"},
		{Name: "mycomponents", Version: "1.0", PluginJSON: s(`{"resource": false}`)},
	} {
		if got, err := packageDependency(d); err != nil || got != nil {
			t.Errorf("%s: got %v, %v; want not a provider package", d.Name, got, err)
		}
	}
	if _, err := packageDependency(installedDist{Name: "pulumi-x", Version: "1", PluginJSON: s("{")}); err == nil {
		t.Error("broken pulumi-plugin.json: expected an error")
	}
}

func TestExecArgumentsAndEnv(t *testing.T) {
	req := &pulumirpc.RunRequest{
		Project: "proj", Stack: "dev", Pwd: "/r/p", DryRun: true, Parallel: 8, MonitorAddress: "127.0.0.1:1",
		Organization: "org", Info: info(t, nil), Args: []string{"x"},
		Config: map[string]string{"proj:a": "1"}, ConfigSecretKeys: []string{"proj:s"},
	}
	got := execArguments(req, "127.0.0.1:2", "")
	want := []string{"--monitor", "127.0.0.1:1", "--engine", "127.0.0.1:2", "--project", "proj",
		"--root_directory", "/r", "--stack", "dev", "--pwd", "/r/p", "--dry_run", "true", "--parallel", "8",
		"--organization", "org", ".", "x"}
	if !slices.Equal(got, want) {
		t.Fatalf("execArguments:\n got %q\nwant %q", got, want)
	}
	env, err := runEnv([]string{"A=1"}, req)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]string
	var keys []string
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PULUMI_CONFIG="); ok {
			if err := json.Unmarshal([]byte(v), &cfg); err != nil {
				t.Fatal(err)
			}
		}
		if v, ok := strings.CutPrefix(e, "PULUMI_CONFIG_SECRET_KEYS="); ok {
			if err := json.Unmarshal([]byte(v), &keys); err != nil {
				t.Fatal(err)
			}
		}
	}
	if cfg["proj:a"] != "1" || !slices.Equal(keys, []string{"proj:s"}) || env[0] != "A=1" {
		t.Fatalf("runEnv: %q", env)
	}
	// No secrets still yields "[]": the SDK parses the variable when present.
	env, _ = runEnv([]string{}, &pulumirpc.RunRequest{})
	if !slices.Contains(env, "PULUMI_CONFIG_SECRET_KEYS=[]") {
		t.Fatalf("runEnv without secrets: %q", env)
	}
}

func TestPolicyEnv(t *testing.T) {
	env, err := policyEnv(&pulumirpc.AnalyzerStackConfigureRequest{
		Project: "p", Stack: "s", DryRun: false, Config: map[string]string{"p:k": "v"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PULUMI_PROJECT=p", "PULUMI_STACK=s", "PULUMI_DRY_RUN=false", `PULUMI_CONFIG={"p:k":"v"}`} {
		if !slices.Contains(env, want) {
			t.Errorf("policyEnv lacks %s: %q", want, env)
		}
	}
	if env, _ := policyEnv(nil); env != nil {
		t.Errorf("policyEnv(nil) = %q", env)
	}
}
