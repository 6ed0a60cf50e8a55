package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"
)

// host implements pulumirpc.LanguageRuntimeServer. Methods this host does not provide (code generation:
// GenerateProject/Program/Package, Pack, Link) answer Unimplemented through the embedded type; the CLI only
// calls them for `pulumi convert`, `pulumi package ...` and SDK generation, which fastdata does not use.
type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	executor string // path of pulumi-language-python-exec
	tracing  string // Zipkin endpoint passed on to programs (--tracing)

	mu            sync.Mutex
	engineAddress string // from the command line, or from Handshake when attached

	// cancelled by the Cancel RPC (the engine asks us to stop running programs, e.g. on Ctrl-C).
	cancelCtx  context.Context
	cancelFunc context.CancelFunc
}

func newHost(executor, engineAddress, tracing string) *host {
	ctx, cancel := context.WithCancel(context.Background())
	return &host{
		executor:      executor,
		engineAddress: engineAddress,
		tracing:       tracing,
		cancelCtx:     ctx,
		cancelFunc:    cancel,
	}
}

func (h *host) engine() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.engineAddress
}

// Handshake is the first call when the host was attached rather than started by the engine: it tells us where
// the engine is. We also watch the engine's health from then on, like at startup.
func (h *host) Handshake(ctx context.Context,
	req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.mu.Lock()
	h.engineAddress = req.EngineAddress
	h.mu.Unlock()
	if req.EngineAddress != "" {
		// The health check must outlive this RPC, so it gets a background context; on failure it cancels
		// running programs.
		if err := rpcutil.Healthcheck(context.Background(), req.EngineAddress, engineHealthInterval,
			h.cancelFunc); err != nil {
			return nil, fmt.Errorf("could not start the health check of the engine at %s: %w", req.EngineAddress, err)
		}
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(ctx context.Context, _ *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	// version.Version is set by the -X ldflag in build-pulumi.sh to the CLI's version.
	return &pulumirpc.PluginInfo{Version: version.Version}, nil
}

// Cancel stops programs started by Run (they get SIGINT, then SIGKILL after a grace period).
func (h *host) Cancel(ctx context.Context, _ *emptypb.Empty) (*emptypb.Empty, error) {
	h.cancelFunc()
	return &emptypb.Empty{}, nil
}

// pythonOptions turns the `runtime.options` of Pulumi.yaml / PulumiPolicy.yaml (ProgramInfo.options) into the
// sdk's toolchain options. Supported keys, as upstream documents them:
//
//	virtualenv:  path of the virtual environment, relative to the project root unless absolute
//	toolchain:   pip | poetry | uv   (default: detected from uv.lock / poetry.lock, else pip)
//	typechecker: mypy | pyright      (run before the program; fails the run on type errors)
//
// forPlugin is true for non-policy plugins (e.g. Python providers run from source): those must not run in
// the ambient interpreter, so a pip/auto toolchain without `virtualenv` defaults to "venv" like upstream.
// Policy packs and programs keep the ambient interpreter for compatibility.
func pythonOptions(info *pulumirpc.ProgramInfo, forPlugin bool) (toolchain.PythonOptions, error) {
	if info == nil {
		return toolchain.PythonOptions{}, errors.New("the request carries no program info (root and program directory)")
	}
	opts := toolchain.PythonOptions{Root: info.RootDirectory, ProgramDir: info.ProgramDirectory}
	raw := info.GetOptions().AsMap()

	str := func(key string) (string, bool, error) {
		v, ok := raw[key]
		if !ok {
			return "", false, nil
		}
		s, isStr := v.(string)
		if !isStr {
			return "", true, fmt.Errorf("runtime option %q must be a string, got %T (%v)", key, v, v)
		}
		return s, true, nil
	}

	if v, ok, err := str("virtualenv"); err != nil {
		return opts, err
	} else if ok {
		opts.Virtualenv = v
	}
	if v, ok, err := str("toolchain"); err != nil {
		return opts, err
	} else if ok {
		switch v {
		case "pip":
			opts.Toolchain = toolchain.Pip
		case "poetry":
			opts.Toolchain = toolchain.Poetry
		case "uv":
			opts.Toolchain = toolchain.Uv
		default:
			return opts, fmt.Errorf("unsupported runtime option toolchain: %q (use pip, poetry or uv)", v)
		}
	}
	if v, ok, err := str("typechecker"); err != nil {
		return opts, err
	} else if ok {
		switch v {
		case "mypy":
			opts.Typechecker = toolchain.TypeCheckerMypy
		case "pyright":
			opts.Typechecker = toolchain.TypeCheckerPyright
		default:
			return opts, fmt.Errorf("unsupported runtime option typechecker: %q (use mypy or pyright)", v)
		}
	}

	if forPlugin && opts.Virtualenv == "" && (opts.Toolchain == toolchain.Auto || opts.Toolchain == toolchain.Pip) {
		opts.Virtualenv = "venv"
	}
	return opts, nil
}

// resolve parses the options and picks the toolchain (pip+venv, poetry or uv) in one step.
func resolve(info *pulumirpc.ProgramInfo, forPlugin bool) (toolchain.PythonOptions, toolchain.Toolchain, error) {
	opts, err := pythonOptions(info, forPlugin)
	if err != nil {
		return opts, nil, err
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return opts, nil, fmt.Errorf("could not set up the Python toolchain %s: %w", toolchain.Name(opts.Toolchain), err)
	}
	return opts, tc, nil
}

// About reports the interpreter and toolchain for `pulumi about`.
func (h *host) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	// Old CLIs sent no program info; then describe the ambient pip/python like upstream.
	opts := toolchain.PythonOptions{Toolchain: toolchain.Pip}
	if req.GetInfo() != nil {
		var err error
		if opts, err = pythonOptions(req.Info, false); err != nil {
			return nil, err
		}
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return nil, err
	}
	info, err := tc.About(ctx)
	if err != nil {
		return nil, fmt.Errorf("could not inspect the Python interpreter: %w", err)
	}
	return &pulumirpc.AboutResponse{
		Executable: info.PythonExecutable,
		Version:    info.PythonVersion.String(),
		Metadata: map[string]string{
			"toolchain":        toolchain.Name(opts.Toolchain),
			"toolchainVersion": info.ToolchainVersion.String(),
			"typechecker":      toolchain.TypeCheckerName(opts.Typechecker),
		},
	}, nil
}

// GetProgramDependencies lists the installed distributions (`pulumi about`, `pulumi whoami -v` and friends).
func (h *host) GetProgramDependencies(ctx context.Context,
	req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	_, tc, err := resolve(req.GetInfo(), false)
	if err != nil {
		return nil, err
	}
	pkgs, err := tc.ListPackages(ctx, req.TransitiveDependencies)
	if err != nil {
		return nil, fmt.Errorf("could not list the Python packages of the program: %w", err)
	}
	deps := make([]*pulumirpc.DependencyInfo, 0, len(pkgs))
	for _, p := range pkgs {
		deps = append(deps, &pulumirpc.DependencyInfo{Name: p.Name, Version: p.Version})
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: deps}, nil
}

// RuntimeOptionsPrompts is what `pulumi new` asks about a Python project: which toolchain and, for pip, which
// virtualenv directory. We offer poetry/uv only when they are on PATH (the sdk helper checks that).
func (h *host) RuntimeOptionsPrompts(ctx context.Context,
	req *pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	raw := req.GetInfo().GetOptions().AsMap()
	tc, hasToolchain := raw["toolchain"]
	_, hasVenv := raw["virtualenv"]

	str := func(s string) *pulumirpc.RuntimeOptionPrompt_RuntimeOptionValue {
		return &pulumirpc.RuntimeOptionPrompt_RuntimeOptionValue{
			PromptType: pulumirpc.RuntimeOptionPrompt_STRING, StringValue: s, DisplayName: s,
		}
	}
	var prompts []*pulumirpc.RuntimeOptionPrompt
	switch {
	case !hasToolchain:
		choices := append([]*pulumirpc.RuntimeOptionPrompt_RuntimeOptionValue{str("pip")},
			plugin.MakeExecutablePromptChoices("poetry", "uv")...)
		prompts = append(prompts, &pulumirpc.RuntimeOptionPrompt{
			Key:         "toolchain",
			Description: "The toolchain to use for installing dependencies and running the program",
			PromptType:  pulumirpc.RuntimeOptionPrompt_STRING,
			Choices:     choices,
			Default:     str("pip"),
		})
	case tc == "pip" && !hasVenv:
		prompts = append(prompts, &pulumirpc.RuntimeOptionPrompt{
			Key:         "virtualenv",
			Description: "The virtualenv to use",
			PromptType:  pulumirpc.RuntimeOptionPrompt_STRING,
			Choices:     []*pulumirpc.RuntimeOptionPrompt_RuntimeOptionValue{str("venv")},
			Default:     str("venv"),
		})
	}
	return &pulumirpc.RuntimeOptionsResponse{Prompts: prompts}, nil
}

// Template prepares a freshly created project for its toolchain (`pulumi new`): a no-op for pip, converting
// requirements.txt to pyproject.toml for poetry and uv.
func (h *host) Template(ctx context.Context, req *pulumirpc.TemplateRequest) (*pulumirpc.TemplateResponse, error) {
	_, tc, err := resolve(req.GetInfo(), false)
	if err != nil {
		return nil, err
	}
	if err := tc.PrepareProject(ctx, req.ProjectName, req.GetInfo().GetProgramDirectory(), false, nil, nil); err != nil {
		return nil, fmt.Errorf("could not prepare the project for its Python toolchain: %w", err)
	}
	return &pulumirpc.TemplateResponse{}, nil
}

// engineLog returns writers that forward text to the engine as ephemeral log messages (shown while an
// operation runs, e.g. venv creation during GetRequiredPackages, which has no output stream of its own).
func (h *host) engineLog(ctx context.Context) (stdout, stderr io.Writer, closeFn func(), err error) {
	addr := h.engine()
	if addr == "" {
		// Nobody to log to (should not happen: the CLI always gives us its address); keep the output visible.
		return os.Stdout, os.Stderr, func() {}, nil
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		rpcutil.GrpcChannelOptions())
	if err != nil {
		return nil, nil, nil, fmt.Errorf("could not connect to the engine at %s: %w", addr, err)
	}
	client := pulumirpc.NewEngineClient(conn)
	stream := rand.Int32() // groups the lines of one operation in the CLI's display
	mk := func(sev pulumirpc.LogSeverity) io.Writer {
		return writerFunc(func(p []byte) (int, error) {
			_, err := client.Log(ctx, &pulumirpc.LogRequest{
				Severity: sev, Message: strings.ToValidUTF8(string(p), "\uFFFD"), Ephemeral: true, StreamId: stream,
			})
			if err != nil {
				return 0, err
			}
			return len(p), nil
		})
	}
	return mk(pulumirpc.LogSeverity_INFO), mk(pulumirpc.LogSeverity_ERROR), func() {
		if err := conn.Close(); err != nil {
			logging.V(5).Infof("closing engine log connection: %v", err)
		}
	}, nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
