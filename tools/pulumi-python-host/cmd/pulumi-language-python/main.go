// Command pulumi-language-python is fastdata's own Pulumi language host for Python programs and policy packs.
//
// Why this exists: the Pulumi CLI (built offline from github.com/pulumi/pulumi/pkg/v3, see
// scripts/build-pulumi.sh) starts a "language host" plugin for every Python project and policy pack. Upstream's
// host is a separate Go module (github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3) that has no
// tags and that the module proxy reachable from our machines refuses to serve (403 for every pseudo-version).
// The old host inside sdk/v3@v3.79.0 builds, but it predates the runtime options `virtualenv`/`toolchain` and
// RunPlugin, so policy packs fail to start under CLI 3.259. This host depends only on
// github.com/pulumi/pulumi/sdk/v3 (served by the proxy), which provides the gRPC protocol (proto/go), the
// venv/pip/poetry/uv handling (python/toolchain) and the policy-pack proxy used by RunPlugin.
//
// Protocol, as the CLI uses it: the CLI runs `pulumi-language-python <engine address>`, reads the port we print
// on stdout, and then calls the LanguageRuntime gRPC service (host.go and the files next to it). Programs are
// executed by the `pulumi-language-python-exec` script (from the sdk/v3 module) which must sit next to this
// binary; build-pulumi.sh installs both into the same directory.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
)

// executorName is the Python shim that connects a user program to the engine; by convention it lives next to
// the language host binary (that is how the official tarball and our .tools/pulumi/bin are laid out).
const executorName = "pulumi-language-python-exec"

// engineHealthInterval is how often we check that the engine that started us is still alive; if it is gone
// (e.g. the CLI was killed) we stop serving instead of lingering as an orphan.
const engineHealthInterval = 5 * time.Minute

func main() {
	tracingEndpoint := flag.String("tracing", "", "Emit tracing to a Zipkin-compatible tracing endpoint")
	showVersion := flag.Bool("version", false, "Print the plugin version and exit")
	useExecutor := flag.String("use-executor", "",
		"Run programs with this executor script instead of the "+executorName+" next to this binary")
	flag.Parse()

	if *showVersion {
		fmt.Println(version.Version)
		return
	}

	// Honour the CLI's verbosity flags (-v=N, --logtostderr) the same way every Pulumi plugin does.
	logging.InitLogging(false, 0, false)
	if *tracingEndpoint != "" {
		cmdutil.InitTracing("pulumi-language-python", "pulumi-language-python", *tracingEndpoint)
	}

	executor, err := findExecutor(*useExecutor)
	if err != nil {
		cmdutil.Exit(err)
	}

	// The engine address is the only positional argument. It is empty when a developer starts the host by hand
	// to attach it (PULUMI_DEBUG_LANGUAGES); then the engine sends its address in Handshake instead.
	engineAddress := flag.Arg(0)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if engineAddress != "" {
		if err := rpcutil.Healthcheck(ctx, engineAddress, engineHealthInterval, stop); err != nil {
			cmdutil.Exit(fmt.Errorf("could not start the health check of the engine at %s: %w", engineAddress, err))
		}
	}

	// rpcutil stops the server when this channel is closed: on SIGINT or when the engine health check fails.
	cancel := make(chan bool)
	go func() {
		<-ctx.Done()
		close(cancel)
	}()

	h := newHost(executor, engineAddress, *tracingEndpoint)
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
		Options: rpcutil.TracingServerInterceptorOptions(nil),
	})
	if err != nil {
		cmdutil.Exit(fmt.Errorf("could not start the language host gRPC server: %w", err))
	}

	// The CLI reads exactly one line, the port, from our stdout.
	fmt.Printf("%d\n", handle.Port)

	if err := <-handle.Done; err != nil {
		cmdutil.Exit(fmt.Errorf("language host gRPC server stopped: %w", err))
	}
}

// findExecutor returns the path of pulumi-language-python-exec: the one given with -use-executor, or the one
// next to this binary. We do not search PATH: an exec script from another Pulumi version would speak a
// different argument protocol.
func findExecutor(given string) (string, error) {
	if given != "" {
		return given, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("could not determine the path of this language host: %w", err)
	}
	path := filepath.Join(filepath.Dir(self), executorName)
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("missing %s next to the language host (%s): %w; "+
			"re-run scripts/build-pulumi.sh, which installs both into the same directory", executorName, path, err)
	}
	return path, nil
}
