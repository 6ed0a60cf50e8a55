package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	sdk "github.com/pulumi/pulumi/sdk/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
)

// RunPlugin runs a plugin written in Python and streams its stdout/stderr (and finally its exit code) back to
// the engine, which reads the plugin's gRPC port from that stdout like for any plugin binary.
//
// Policy packs (Kind == "analyzer", from `--policy-pack DIR` with `runtime: python` in PulumiPolicy.yaml) run as
// `python -u -m pulumi.policy <engine address> <pack dir>` in the pack's directory, in the interpreter selected
// by the pack's own runtime options (e.g. `virtualenv`). The pulumi-policy library reads the stack's project,
// stack name, dry-run flag and config from PULUMI_* environment variables at startup, but the engine only sends
// them over gRPC (Analyzer.ConfigureStack) after the plugin is up. sdk.PolicyProxy bridges that: it serves the
// Analyzer API first, collects ConfigureStack, then we start Python with that environment and the proxy forwards
// all further calls to the real pack.
//
// Other plugins (e.g. a provider written in Python) run `python <dir>` when the directory has __main__.py, or
// `python -m pulumi.run.plugin <project name>` for a buildable package (pyproject.toml).
func (h *host) RunPlugin(req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer) error {
	ctx := server.Context()
	if req.GetAttachDebugger() {
		return errors.New("this language host (fastdata's pulumi-language-python) does not support " +
			"attaching a debugger to plugins")
	}
	isPolicyPack := req.Kind == string(apitype.AnalyzerPlugin)
	opts, tc, err := resolve(req.GetInfo(), !isPolicyPack)
	if err != nil {
		return err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return err
	}
	dir := req.GetInfo().GetProgramDirectory()

	var cmd *exec.Cmd
	if isPolicyPack {
		args := append([]string{"-u", "-m", "pulumi.policy"}, req.Args...)
		if cmd, err = tc.Command(ctx, append(args, dir)...); err != nil {
			return err
		}
		// Policy packs have always run from their own directory (relative file reads in packs rely on it).
		cmd.Dir = dir
	} else {
		if cmd, err = pluginCommand(ctx, tc, opts, req); err != nil {
			return err
		}
		cmd.Dir = req.Pwd
	}
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}

	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()

	var proxy *sdk.PolicyProxy
	if isPolicyPack {
		// From here on the child's stdout goes through the proxy, which swallows the pack's port line.
		if proxy, stdout, err = sdk.NewPolicyProxy(ctx, stdout); err != nil {
			return fmt.Errorf("could not start the policy pack proxy: %w", err)
		}
		cfg, err := proxy.AwaitConfiguration(ctx) // prints the proxy's port for the engine
		if err != nil {
			return fmt.Errorf("did not get the stack configuration for the policy pack: %w", err)
		}
		env, err := policyEnv(cfg)
		if err != nil {
			return err
		}
		cmd.Env = append(cmd.Env, env...)
	}
	cmd.Env = append(cmd.Env, req.Env...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	logging.V(5).Infof("RunPlugin: %s (in %s)", cmd.String(), cmd.Dir)

	if err := cmd.Start(); err != nil {
		return fmt.Errorf("could not start the Python plugin with %s: %w", cmd.Path, err)
	}
	if proxy != nil {
		err = proxy.Attach(ctx, cmd) // waits for the pack's port, connects, then waits for the process
	} else {
		err = cmd.Wait()
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		// A plugin failing is a result to report, not a host error: the engine shows it with the plugin's stderr.
		if err := closer.Close(); err != nil {
			return err
		}
		return server.Send(&pulumirpc.RunPluginResponse{
			Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(exitErr.ExitCode())},
		})
	}
	if err != nil {
		return fmt.Errorf("running the Python plugin %s failed: %w", dir, err)
	}
	return closer.Close()
}

// policyEnv is the environment pulumi.policy reads at startup (see pulumi/policy/__main__.py): it configures
// pulumi.runtime only when PROJECT, STACK and DRY_RUN are all set. cfg is nil when the engine never sent a
// stack configuration (e.g. `pulumi policy publish`), then the pack runs without stack settings.
func policyEnv(cfg *pulumirpc.AnalyzerStackConfigureRequest) ([]string, error) {
	if cfg == nil {
		return nil, nil
	}
	var env []string
	set := func(k, v string) {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	set("PULUMI_ORGANIZATION", cfg.Organization)
	set("PULUMI_PROJECT", cfg.Project)
	set("PULUMI_STACK", cfg.Stack)
	set("PULUMI_DRY_RUN", strconv.FormatBool(cfg.DryRun))
	if cfg.Config != nil {
		b, err := json.Marshal(cfg.Config)
		if err != nil {
			return nil, fmt.Errorf("could not serialize the stack configuration for the policy pack: %w", err)
		}
		set(envConfig, string(b))
	}
	return env, nil
}

// pluginCommand picks how to start a non-policy Python plugin rooted at opts.Root.
func pluginCommand(c context.Context, tc toolchain.Toolchain, opts toolchain.PythonOptions,
	req *pulumirpc.RunPluginRequest,
) (*exec.Cmd, error) {
	if _, err := os.Stat(filepath.Join(opts.Root, "__main__.py")); err == nil {
		return tc.Command(c, append([]string{req.GetInfo().GetProgramDirectory()}, req.Args...)...)
	} else if !os.IsNotExist(err) {
		return nil, fmt.Errorf("looking for __main__.py in %s: %w", opts.Root, err)
	}
	buildable, err := toolchain.IsBuildablePackage(opts.Root)
	if err != nil {
		return nil, fmt.Errorf("checking whether %s is a buildable Python package: %w", opts.Root, err)
	}
	if !buildable {
		return nil, fmt.Errorf("the Python plugin in %s is not runnable: it has neither __main__.py nor a "+
			"buildable pyproject.toml", opts.Root)
	}
	// pulumi.run.plugin exists only in newer Python SDKs; say so instead of failing with a bare traceback.
	check, err := tc.Command(c, "-c", "import pulumi.run.plugin")
	if err != nil {
		return nil, err
	}
	if out, err := check.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("the Python plugin in %s is a package, which needs the pulumi.run.plugin module "+
			"of a newer pulumi SDK in its environment: %v: %s", opts.Root, err, strings.TrimSpace(string(out)))
	}
	pyproject, err := toolchain.LoadPyproject(opts.Root)
	if err != nil {
		return nil, fmt.Errorf("reading %s/pyproject.toml: %w", opts.Root, err)
	}
	return tc.ModuleCommand(c, "pulumi.run.plugin", append([]string{pyproject.Project.Name}, req.Args...)...)
}
