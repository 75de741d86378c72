package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/internal/config"
	"github.com/calico-plan/calico-plan/internal/fsutil"
	"github.com/calico-plan/calico-plan/internal/output"
)

// defaultStoreDir is the --store default.
const defaultStoreDir = "allowlists"

// globals are the flags every command shares.
type globals struct {
	configPath string
	storeDir   string
	stdout     io.Writer
	stderr     io.Writer
	stdin      io.Reader
	// isTerminal reports whether progress may be shown on stderr.
	isTerminal func() bool
	// stdoutTerminal reports whether stdout is a terminal (colour); nil
	// means it is not.
	stdoutTerminal func() bool
}

func newRootCmd() *cobra.Command {
	g := &globals{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin,
		isTerminal:     func() bool { return isatty.IsTerminal(os.Stderr.Fd()) },
		stdoutTerminal: func() bool { return isatty.IsTerminal(os.Stdout.Fd()) }}
	return buildRoot(g)
}

func buildRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "calico-plan",
		Short: "Lock pod egress down with Calico, observe-then-enforce, without an outage",
		Long: `calico-plan turns Calico flow logs into per-namespace egress allowlists with
evidence, kept as reviewable YAML files in git, and renders default-deny egress
policies from them: first as Calico staged policies that only report what they
would deny, then enforced, namespace by namespace.

The workflow:
  1. observe   read flow logs (files from Calico Enterprise or Goldmane, Elasticsearch,
               Goldmane over gRPC, packet logs from Loki) into the store (./allowlists)
  2. status    see which namespaces have been observed long enough to be Stable
  3. explain   review a namespace's allowlist: every rule with its evidence (graph
               draws it)
  4. waves     plan the rollout; promote moves a namespace to staged, then enforced,
               once its gates pass (rollback and allow when something needs it)
  5. render    write the policies (--rollout: the whole desired state) and apply them
  6. check and diff in CI: replay the flows against the policies of a pull
               request, and weigh what changes

Conventions: -o table|wide|json|yaml|md on every report (render writes yaml, json
or hcl; graph mermaid, md, dot or json); -n NS, repeatable, wherever a command
takes namespaces; cluster facts from --cluster FILE, --namespace-file FILE or
--kubeconfig/--context; --dry-run on every command that changes the store;
durations take days (7d). Full reference: docs/commands.md.

Every command reads the cluster profile (--config; built-in default: a
Calico OSS 3.30 homelab with NodeLocal DNS and tiers as a 'tier' namespace
label). Print the default with 'calico-plan profile'.

Exit codes: 0 success; 1 error; 2 diff found changes; 3 check found problems.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(g.stdout)
	root.SetErr(g.stderr)
	root.PersistentFlags().StringVar(&g.configPath, "config", "", "cluster profile YAML (default: the built-in profile, see 'calico-plan profile')")
	root.PersistentFlags().StringVar(&g.storeDir, "store", defaultStoreDir, "allowlist store directory (one YAML file per namespace; commit it to git)")
	groups := []*cobra.Group{
		{ID: "sources", Title: "Sources (read flows and cluster facts):"},
		{ID: "review", Title: "Review (what was observed, and why a rule exists):"},
		{ID: "rollout", Title: "Rollout (plan, promote, render):"},
		{ID: "ci", Title: "CI (pull requests):"},
	}
	root.AddGroup(groups...)
	// Commands are listed in workflow order, not alphabetically.
	cobra.EnableCommandSorting = false
	root.AddCommand(
		newObserveCmd(g),
		newSnapshotCmd(g),
		newGenerateCmd(g),
		newStatusCmd(g),
		newExplainCmd(g),
		newGraphCmd(g),
		newProfileCmd(g),
		newWavesCmd(g),
		newPromoteCmd(g),
		newRollbackCmd(g),
		newAllowCmd(g),
		newRenderCmd(g),
		newCheckCmd(g),
		newDiffCmd(g),
		newReportCmd(g),
		newVersionCmd(g),
	)
	for _, c := range root.Commands() {
		switch c.Name() {
		case "observe", "snapshot", "generate":
			c.GroupID = "sources"
		case "status", "explain", "graph", "profile":
			c.GroupID = "review"
		case "waves", "promote", "rollback", "allow", "render":
			c.GroupID = "rollout"
		case "check", "diff", "report":
			c.GroupID = "ci"
		}
	}
	for _, c := range root.Commands() {
		switch c.Name() {
		case "generate", "version":
			hideGlobalFlags(c, "store", "config")
		case "profile", "snapshot": // snapshot --apply: the observe policy's name
			hideGlobalFlags(c, "store")
		}
	}
	acceptDays(root)
	flagOutput(root, g.stderr)
	return root
}

// flagOutput sends pflag's messages (deprecated flags) to stderr; cobra
// would keep them in a buffer nobody reads.
func flagOutput(cmd *cobra.Command, w io.Writer) {
	cmd.Flags().SetOutput(w)
	for _, c := range cmd.Commands() {
		flagOutput(c, w)
	}
}

func (g *globals) profile() (*config.Profile, error) { return config.Load(g.configPath) }

// stateColors colour the stability states and gates in tables.
var stateColors = map[string]string{"Stable": output.Green, "Stabilizing": output.Yellow, "Learning": output.Yellow,
	"NoData": output.Grey, "enforced": output.Green, "staged": output.Yellow, "excluded": output.Grey}

// table writes an aligned table as text, coloured on a terminal (never
// with NO_COLOR).
func (g *globals) table(text string) error {
	if output.ColorEnabled(g.stdoutTerminal != nil && g.stdoutTerminal(), os.Getenv) {
		text = output.Paint(text, stateColors)
	}
	_, err := io.WriteString(g.stdout, text)
	return err
}

// globalArgs repeats the global flags that differ from their defaults, for
// the follow-up commands printed as hints (" --store DIR --config FILE").
func (g *globals) globalArgs() string {
	s := ""
	if g.storeDir != "" && g.storeDir != defaultStoreDir {
		s += " --store " + g.storeDir
	}
	if g.configPath != "" {
		s += " --config " + g.configPath
	}
	return s
}

// openStore loads the profile and the store, which must exist (only
// observe creates one). It reads without changing anything in the store.
func (g *globals) openStore() (*allowlist.Store, error) {
	p, err := g.profile()
	if err != nil {
		return nil, err
	}
	return allowlist.OpenExisting(g.storeDir, p)
}

// openStoreFor opens the store for a command about the namespaces given:
// a broken allowlist file of another namespace is left out with a warning
// instead of failing the command. Without names (a command about every
// namespace) any broken file fails it, as openStore.
func (g *globals) openStoreFor(names []string) (*allowlist.Store, error) {
	if len(names) == 0 {
		return g.openStore()
	}
	p, err := g.profile()
	if err != nil {
		return nil, err
	}
	st, err := allowlist.OpenReadable(g.storeDir, p)
	if err != nil {
		return nil, err
	}
	var others []string
	for ns, err := range st.Broken {
		if slices.Contains(names, ns) {
			return nil, err
		}
		others = append(others, ns)
	}
	if len(others) > 0 {
		slices.Sort(others)
		fmt.Fprintf(g.stderr, "warning: the allowlist files of %s do not parse and were not read (see 'calico-plan status'); this command does not need them\n", strings.Join(others, ", "))
	}
	return st, nil
}

// storeWriter is a store opened by a command that changes it. The store is
// locked against other writers from the start when it exists, and from its
// first save when it does not: until then nothing is created.
type storeWriter struct {
	st     *allowlist.Store
	unlock func()
}

// openStoreForWrite locks and loads the store. With create, a store that
// does not exist yet starts empty and is created by the first save;
// without, it must exist.
func (g *globals) openStoreForWrite(create bool) (*storeWriter, error) {
	p, err := g.profile()
	if err != nil {
		return nil, err
	}
	exists, err := allowlist.Exists(g.storeDir)
	if err != nil {
		return nil, err
	}
	if !exists {
		if !create {
			// Says what is missing (no directory, or no store in it).
			if _, err := allowlist.OpenExisting(g.storeDir, p); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("store %s appeared while it was being opened: run the command again", g.storeDir)
		}
		st, err := allowlist.Open(g.storeDir, p)
		if err != nil {
			return nil, err
		}
		return &storeWriter{st: st}, nil
	}
	unlock, err := fsutil.Lock(g.storeDir)
	if err != nil {
		return nil, err
	}
	st, err := allowlist.Open(g.storeDir, p)
	if err != nil {
		unlock()
		return nil, err
	}
	return &storeWriter{st: st, unlock: unlock}, nil
}

// save writes the store. A store that did not exist is created here, and
// locked; if another process created it meanwhile, nothing is saved.
func (w *storeWriter) save() error {
	if w.unlock == nil {
		dir := w.st.Dir
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		unlock, err := fsutil.Lock(dir)
		if err != nil {
			return err
		}
		w.unlock = unlock
		exists, err := allowlist.Exists(dir)
		if err != nil {
			return err
		}
		if exists || !w.st.IsNew() {
			return fmt.Errorf("store %s was created by another calico-plan process while this one ran: nothing was saved; run the command again", dir)
		}
	}
	return w.st.Save()
}

// close releases the lock.
func (w *storeWriter) close() {
	if w.unlock != nil {
		w.unlock()
		w.unlock = nil
	}
}

// parseNow parses --now (RFC 3339 or a date); empty means "newest observed".
func parseNow(s string) (allowlist.Time, error) {
	if s == "" {
		return 0, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return allowlist.Time(t.Unix()), nil
		}
	}
	return 0, fmt.Errorf("--now %q: want RFC 3339 (2026-11-27T12:00:00Z) or a date (2026-11-27)", s)
}
