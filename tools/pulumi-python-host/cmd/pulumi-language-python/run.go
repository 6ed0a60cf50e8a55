package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
)

const (
	// Environment variables the Python SDK reads its configuration from (pulumi.runtime.config).
	envConfig           = "PULUMI_CONFIG"
	envConfigSecretKeys = "PULUMI_CONFIG_SECRET_KEYS"

	// exitBail is what pulumi-language-python-exec exits with after it already showed the user a good error
	// (e.g. an unhandled exception with its traceback): the engine then must not add a second message.
	exitBail = 32

	// How long a cancelled program gets between SIGINT and SIGKILL.
	cancelGrace = 5 * time.Second
)

// Run executes a Python program: `<venv python> pulumi-language-python-exec --monitor ... <entry point> [args]`.
// The exec script connects to the resource monitor and runs the program; its stdout/stderr go to our own, which
// the engine reads and shows. Program failures are reported in RunResponse.Error (not as gRPC errors): a gRPC
// error means the host itself failed.
func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	if h.engine() == "" {
		return nil, errors.New("no engine address: the engine must call Handshake before Run when attaching")
	}
	if req.GetAttachDebugger() {
		// Debugging needs debugpy plumbing (port selection, log tailing, StartDebugging) we chose not to carry.
		return &pulumirpc.RunResponse{Error: "this language host (fastdata's pulumi-language-python) does not " +
			"support --attach-debugger; run the program under debugpy yourself instead"}, nil
	}
	opts, tc, err := resolve(req.GetInfo(), false)
	if err != nil {
		return nil, err
	}
	// A configured but missing/broken virtualenv gets the sdk's explanatory error (how to create it).
	if err := tc.ValidateVenv(ctx); err != nil {
		return nil, err
	}

	if err := runTypechecker(ctx, tc, opts); err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}

	// The child dies with the request (engine went away) or with the Cancel RPC, whichever comes first.
	runCtx, stop := context.WithCancel(h.cancelCtx)
	defer stop()
	context.AfterFunc(ctx, stop)

	args := append([]string{h.executor}, execArguments(req, h.engine(), h.tracing)...)
	cmd, err := tc.Command(runCtx, args...)
	if err != nil {
		return nil, fmt.Errorf("could not prepare the Python command: %w", err)
	}
	env, err := runEnv(cmd.Env, req)
	if err != nil {
		return nil, err
	}
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	// Interrupt first so Python can unwind (finally blocks, pending RPCs), kill if it does not exit in time.
	cmd.Cancel = func() error {
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			return cmd.Process.Kill()
		}
		return nil
	}
	cmd.WaitDelay = cancelGrace
	logging.V(5).Infof("Run: %s", cmd.String())

	runErr := cmd.Run()
	// The engine reads our stdout/stderr; make sure nothing the child wrote is stuck in our buffers when an
	// early crash is reported.
	_ = os.Stdout.Sync()
	_ = os.Stderr.Sync()
	if runErr == nil {
		return &pulumirpc.RunResponse{}, nil
	}
	var exitErr *exec.ExitError
	if !errors.As(runErr, &exitErr) {
		return &pulumirpc.RunResponse{Error: fmt.Sprintf(
			"could not run the Python program with %s: %v", cmd.Path, runErr)}, nil
	}
	switch code := exitErr.ExitCode(); code {
	case exitBail:
		return &pulumirpc.RunResponse{Bail: true}, nil
	case -1: // killed by a signal
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("program was terminated: %v", exitErr)}, nil
	default:
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("program exited with non-zero exit code: %d", code)}, nil
	}
}

// execArguments builds the command line pulumi-language-python-exec parses (argparse, see the script): options
// that are empty are left out, then the entry point ("." for the program directory), then user arguments.
func execArguments(req *pulumirpc.RunRequest, engineAddress, tracing string) []string {
	var args []string
	add := func(name, value string) {
		if value != "" {
			args = append(args, "--"+name, value)
		}
	}
	add("monitor", req.GetMonitorAddress())
	add("engine", engineAddress)
	add("project", req.GetProject())
	add("root_directory", req.GetInfo().GetRootDirectory())
	add("stack", req.GetStack())
	add("pwd", req.GetPwd())
	add("dry_run", strconv.FormatBool(req.GetDryRun()))
	add("parallel", strconv.Itoa(int(req.GetParallel())))
	add("tracing", tracing)
	add("organization", req.GetOrganization())
	entry := req.GetInfo().GetEntryPoint()
	if entry == "" {
		entry = "." // older engines sent the entry point in the deprecated Program field only
		if req.GetProgram() != "" {
			entry = req.GetProgram()
		}
	}
	args = append(args, entry)
	return append(args, req.GetArgs()...)
}

// runEnv adds the stack configuration to the environment the toolchain prepared (venv activation). The SDK
// expects PULUMI_CONFIG as a JSON object of "project:key" -> string value, and PULUMI_CONFIG_SECRET_KEYS as a
// JSON array of the keys whose values are secrets (it wraps those in secret Outputs).
func runEnv(base []string, req *pulumirpc.RunRequest) ([]string, error) {
	env := base
	if env == nil {
		env = os.Environ()
	}
	if cfg := req.GetConfig(); cfg != nil {
		b, err := json.Marshal(cfg)
		if err != nil {
			return nil, fmt.Errorf("could not serialize the stack configuration: %w", err)
		}
		env = append(env, envConfig+"="+string(b))
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	b, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, fmt.Errorf("could not serialize the secret configuration keys: %w", err)
	}
	return append(env, envConfigSecretKeys+"="+string(b)), nil
}

// runTypechecker runs mypy or pyright over the program directory when the `typechecker` option asks for it.
// Skipping it silently would report a type-checked run that never happened, so a missing checker is an error.
func runTypechecker(ctx context.Context, tc toolchain.Toolchain, opts toolchain.PythonOptions) error {
	var name string
	switch opts.Typechecker {
	case toolchain.TypeCheckerMypy:
		name = "mypy"
	case toolchain.TypeCheckerPyright:
		name = "pyright"
	default:
		return nil
	}
	pkgs, err := tc.ListPackages(ctx, true)
	if err != nil {
		return fmt.Errorf("could not check whether %s is installed: %w", name, err)
	}
	found := false
	for _, p := range pkgs {
		found = found || p.Name == name
	}
	if !found {
		return fmt.Errorf("the runtime option typechecker is %s, but %s is not installed in the program's "+
			"Python environment; add it to the project's requirements and install them", name, name)
	}
	args := []string{"-m", name}
	if name == "mypy" {
		// Do not type-check the virtualenv when it lives inside the program directory.
		if venv, err := tc.VirtualEnvPath(ctx); err == nil && venv != "" {
			if rel, err := filepath.Rel(opts.ProgramDir, venv); err == nil {
				args = append(args, "--exclude", rel)
			}
		}
	}
	args = append(args, opts.ProgramDir)
	cmd, err := tc.Command(ctx, args...)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	cmd.Dir = opts.ProgramDir
	cmd.Stdout = io.MultiWriter(os.Stdout, &out)
	cmd.Stderr = io.MultiWriter(os.Stderr, &out)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s found problems (%v):\n%s", name, err, out.String())
	}
	return nil
}

// stderrOf returns ": <stderr>" for an *exec.ExitError from Output(), so errors show what Python said.
func stderrOf(err error) string {
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && len(exitErr.Stderr) > 0 {
		return ": " + string(bytes.TrimSpace(exitErr.Stderr))
	}
	return ""
}
