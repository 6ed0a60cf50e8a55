package main

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
)

// InstallDependencies implements `pulumi install` (and the install step of `pulumi new` / policy packs):
// create the virtualenv if needed and install requirements.txt / pyproject.toml into it with the configured
// toolchain (the sdk's python/toolchain does pip, poetry and uv). Output streams back to the CLI as it happens.
func (h *host) InstallDependencies(req *pulumirpc.InstallDependenciesRequest,
	server pulumirpc.LanguageRuntime_InstallDependenciesServer,
) error {
	ctx := server.Context()
	_, tc, err := resolve(req.GetInfo(), req.IsPlugin)
	if err != nil {
		return err
	}
	// With a terminal on the other side, pip's progress output goes through a pty so it keeps its colours.
	closer, stdout, stderr, err := rpcutil.MakeInstallDependenciesStreams(server, req.IsTerminal)
	if err != nil {
		return err
	}
	defer closer.Close()
	dir := req.GetInfo().GetProgramDirectory()

	fmt.Fprintf(stdout, "Installing dependencies...\n\n")

	// A plugin that is itself a Python package (pyproject.toml with a build system) is installed into its
	// venv too, so `python -m pulumi.run.plugin <name>` can import it.
	if req.IsPlugin {
		buildable, err := toolchain.IsBuildablePackage(dir)
		if err != nil {
			return fmt.Errorf("checking whether %s is a buildable Python package: %w", dir, err)
		}
		if buildable {
			if err := tc.EnsureVenv(ctx, dir, req.UseLanguageVersionTools, true, stdout, stderr); err != nil {
				return fmt.Errorf("creating the virtual environment for %s: %w", dir, err)
			}
			cmd, err := tc.ModuleCommand(ctx, "pip", "install", dir)
			if err != nil {
				return err
			}
			cmd.Stdout, cmd.Stderr = stdout, stderr
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("`pip install %s` failed: %w", dir, err)
			}
		}
	}

	if err := tc.InstallDependencies(ctx, dir, req.UseLanguageVersionTools, true, stdout, stderr); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Finished installing dependencies\n\n")
	return closer.Close()
}
