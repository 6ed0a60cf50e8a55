package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
)

// The engine asks which Pulumi packages (provider plugins) a program needs, so it can load or install them.
// For Python the answer is "whatever Pulumi provider SDKs are installed in the program's environment" (not what
// the program imports): distributions that ship a pulumi-plugin.json next to their top-level package, or whose
// name starts with "pulumi-". With plugin acquisition disabled the engine only uses the list to pre-load
// providers lazily, but it must still be true.

// noPluginPackages are "pulumi-*" distributions known to have no provider plugin. pulumi-policy even ships a
// pulumi-plugin.json saying so; pulumi-esc-sdk is a client library.
var noPluginPackages = map[string]bool{"pulumi-policy": true, "pulumi-esc-sdk": true}

// listScript prints, for every distribution in the interpreter's environment, its normalized name (PEP 503),
// version and the text of its pulumi-plugin.json if it has one. One interpreter start for all packages: a
// venv with pulumi_aws and friends has a few hundred distributions.
const listScript = `
import importlib.metadata as md, importlib.util, json, os, re
out, seen = [], set()
for d in md.distributions():
    name = d.metadata["Name"]
    if not name:
        continue
    norm = re.sub(r"[-_.]+", "-", name).lower()
    if norm in seen:  # shadowed by an earlier sys.path entry
        continue
    seen.add(norm)
    text = None
    files = d.files
    if files is not None:  # RECORD lists <top-level package>/pulumi-plugin.json
        for f in files:
            if len(f.parts) == 2 and f.parts[1] == "pulumi-plugin.json":
                try:
                    text = f.read_text()
                except OSError:
                    pass
                break
    else:  # no RECORD (some editable installs): look inside the importable package
        try:
            spec = importlib.util.find_spec(norm.replace("-", "_"))
            for loc in (spec.submodule_search_locations or []) if spec else []:
                p = os.path.join(loc, "pulumi-plugin.json")
                if os.path.isfile(p):
                    with open(p) as fh:
                        text = fh.read()
                    break
        except Exception:
            pass
    out.append({"name": norm, "version": d.version, "plugin_json": text})
print(json.dumps(out))
`

type installedDist struct {
	Name       string  `json:"name"`
	Version    string  `json:"version"`
	PluginJSON *string `json:"plugin_json"`
}

// pulumiPackages returns the provider packages installed in the environment of tc.
func pulumiPackages(ctx context.Context, tc toolchain.Toolchain) ([]*pulumirpc.PackageDependency, error) {
	cmd, err := tc.Command(ctx, "-c", listScript)
	if err != nil {
		return nil, err
	}
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("could not list the Python packages with %s: %w%s", cmd.Path, err, stderrOf(err))
	}
	var dists []installedDist
	if err := json.Unmarshal(out, &dists); err != nil {
		return nil, fmt.Errorf("could not parse the package list printed by %s: %w", cmd.Path, err)
	}
	var pkgs []*pulumirpc.PackageDependency
	for _, d := range dists {
		pkg, err := packageDependency(d)
		if err != nil {
			return nil, err
		}
		if pkg != nil {
			pkgs = append(pkgs, pkg)
		}
	}
	return pkgs, nil
}

// packageDependency decides whether one distribution is a Pulumi provider package and describes it. nil means
// "not a provider package" (or one whose plugin version cannot be derived, which is logged).
func packageDependency(d installedDist) (*pulumirpc.PackageDependency, error) {
	if noPluginPackages[d.Name] {
		return nil, nil
	}
	var meta *plugin.PulumiPluginJSON
	if d.PluginJSON != nil {
		meta = &plugin.PulumiPluginJSON{}
		if err := json.Unmarshal([]byte(*d.PluginJSON), meta); err != nil {
			return nil, fmt.Errorf("the pulumi-plugin.json of the Python package %s %s is not valid JSON: %w",
				d.Name, d.Version, err)
		}
	} else if !strings.HasPrefix(d.Name, "pulumi-") {
		return nil, nil
	}

	dep := &pulumirpc.PackageDependency{Kind: "resource"}
	if meta != nil {
		if !meta.Resource { // the package says it has no plugin (e.g. a pure Python component library)
			return nil, nil
		}
		dep.Name, dep.Version, dep.Server = meta.Name, meta.Version, meta.Server
		if p := meta.Parameterization; p != nil {
			dep.Parameterization = &pulumirpc.PackageParameterization{Name: p.Name, Version: p.Version, Value: p.Value}
		}
		if p := meta.ExtensionParameterization; p != nil {
			dep.Extension = &pulumirpc.PackageParameterization{Name: p.Name, Version: p.Version, Value: p.Value}
		}
	}
	if dep.Name == "" {
		dep.Name = strings.TrimPrefix(d.Name, "pulumi-")
	}
	if dep.Version == "" {
		v, err := pluginVersion(d.Version)
		if err != nil {
			logging.V(5).Infof("skipping %s: cannot derive a plugin version from %q: %v", d.Name, d.Version, err)
			return nil, nil
		}
		dep.Version = v
	}
	if !strings.HasPrefix(dep.Version, "v") {
		dep.Version = "v" + dep.Version
	}
	return dep, nil
}

// pep440Re matches the PEP 440 subset Pulumi packages use: release, optional a/b/rc pre-release, .postN, .devN.
var pep440Re = regexp.MustCompile(`^(\d+(?:\.\d+)*)(?:(a|b|rc)(\d+))?(?:\.post(\d+))?(?:\.dev(\d+))?$`)

// pluginVersion converts a Python package version into the semver of its plugin, the way Pulumi's provider
// build maps them: 1.2 -> 1.2.0, 1.2.3a4 -> 1.2.3-alpha.4, 1.2.3b4 -> -beta.4, 1.2.3rc4 -> -rc.4,
// 1.2.3.post4 -> 1.2.3+post4, 1.2.3.dev5 -> 1.2.3+dev5, 1.2.3.post4.dev5 -> 1.2.3+post4dev5.
// Epochs and local versions have no semver equivalent and are rejected.
func pluginVersion(v string) (string, error) {
	m := pep440Re.FindStringSubmatch(v)
	if m == nil {
		return "", fmt.Errorf("%q is not a supported PEP 440 version", v)
	}
	release := strings.Split(m[1], ".")
	for len(release) < 3 {
		release = append(release, "0")
	}
	out := strings.Join(release, ".")
	if m[2] != "" {
		out += "-" + map[string]string{"a": "alpha", "b": "beta", "rc": "rc"}[m[2]] + "." + m[3]
	}
	build := ""
	if m[4] != "" {
		build += "post" + m[4]
	}
	if m[5] != "" {
		build += "dev" + m[5]
	}
	if build != "" {
		out += "+" + build
	}
	return out, nil
}

// prepareEnv makes sure the environment exists before we inspect it (the engine calls GetRequired* before Run;
// a project with `virtualenv: venv` that was never installed gets its venv created here, like upstream),
// reporting progress to the engine's log.
func (h *host) prepareEnv(ctx context.Context, info *pulumirpc.ProgramInfo) (toolchain.Toolchain, error) {
	_, tc, err := resolve(info, false)
	if err != nil {
		return nil, err
	}
	stdout, stderr, closeLog, err := h.engineLog(ctx)
	if err != nil {
		return nil, err
	}
	defer closeLog()
	if err := tc.EnsureVenv(ctx, info.GetProgramDirectory(), false, true, stdout, stderr); err != nil {
		return nil, err
	}
	return tc, nil
}

func (h *host) GetRequiredPackages(ctx context.Context,
	req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	tc, err := h.prepareEnv(ctx, req.GetInfo())
	if err != nil {
		return nil, err
	}
	pkgs, err := pulumiPackages(ctx, tc)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: pkgs}, nil
}

// GetRequiredPlugins is the pre-GetRequiredPackages form of the same question, still used by some engine paths
// and older CLIs. Parameterized packages cannot be expressed in it; they are reported by their base plugin.
func (h *host) GetRequiredPlugins(ctx context.Context,
	req *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	tc, err := h.prepareEnv(ctx, req.GetInfo())
	if err != nil {
		return nil, err
	}
	pkgs, err := pulumiPackages(ctx, tc)
	if err != nil {
		return nil, err
	}
	plugins := make([]*pulumirpc.PluginDependency, 0, len(pkgs))
	for _, p := range pkgs {
		plugins = append(plugins, &pulumirpc.PluginDependency{
			Name: p.Name, Kind: p.Kind, Version: p.Version, Server: p.Server,
		})
	}
	return &pulumirpc.GetRequiredPluginsResponse{Plugins: plugins}, nil
}
