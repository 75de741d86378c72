package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/calico-plan/calico-plan/allowlist"
	"github.com/calico-plan/calico-plan/flows"
	"github.com/calico-plan/calico-plan/flows/elasticsearch/estest"
	"github.com/calico-plan/calico-plan/internal/demo"
)

const (
	esTestIndex  = "tigera_secure_ee_flows.cluster.fluentd-20261113-000001"
	esTestSecret = "Elastic-Pa55-9f3k"
)

// esHarness is an observe command with only the Elasticsearch flags, as
// observe.go wires them: open the store, runElasticsearch, save.
func esHarness(t *testing.T, env map[string]string, args ...string) (stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	g := &globals{stdout: &out, stderr: &errb, stdin: strings.NewReader(""), isTerminal: func() bool { return false }}
	cmd := &cobra.Command{Use: "observe", Args: cobra.NoArgs, SilenceUsage: true, SilenceErrors: true}
	cmd.PersistentFlags().StringVar(&g.storeDir, "store", "allowlists", "")
	f := addElasticsearchFlags(cmd)
	f.env = func(k string) string { return env[k] }
	cmd.RunE = func(c *cobra.Command, _ []string) error {
		require.True(t, f.enabled())
		w, err := g.openStoreForWrite(true)
		if err != nil {
			return err
		}
		defer w.close()
		res, err := runElasticsearch(c.Context(), g, w.st, f)
		if err != nil {
			return err
		}
		if err := w.save(); err != nil {
			return err
		}
		printESReport(g, res)
		return nil
	}
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	err = cmd.ExecuteContext(context.Background())
	require.Empty(t, out.String(), "observe --es reports on stderr")
	return errb.String(), err
}

type esFixture struct {
	srv        *estest.Server
	docs       [][]byte
	from, to   string
	caFile     string
	passFile   string
	storeDir   string
	start, end time.Time
}

func newESFixture(t *testing.T, opt estest.Options) *esFixture {
	t.Helper()
	dopt := demo.DefaultOptions()
	var fs []flows.Flow
	require.NoError(t, demo.Generate(dopt, func(f *flows.Flow) error { fs = append(fs, *f); return nil }))
	srv, err := estest.NewServer(opt)
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	srv.CreateIndex(esTestIndex, nil)
	docs, err := srv.AddFlows(esTestIndex, "cluster", fs)
	require.NoError(t, err)
	dir := t.TempDir()
	fx := &esFixture{srv: srv, docs: docs, start: dopt.Start, end: dopt.Start.Add(time.Duration(dopt.Days)*24*time.Hour + time.Second),
		caFile: filepath.Join(dir, "es-ca.pem"), passFile: filepath.Join(dir, "es-password"), storeDir: filepath.Join(dir, "allowlists")}
	fx.from, fx.to = fx.start.Format(time.RFC3339), fx.end.Format(time.RFC3339)
	require.NoError(t, os.WriteFile(fx.caFile, srv.CACertPEM, 0o600))
	require.NoError(t, os.WriteFile(fx.passFile, []byte(esTestSecret+"\n"), 0o600))
	return fx
}

func esReadDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range ents {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".calico-plan") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		out[e.Name()] = string(b)
	}
	return out
}

// esWithoutSources drops _store.yaml's source records, which name the source.
func esWithoutSources(t *testing.T, files map[string]string) map[string]string {
	t.Helper()
	var m allowlist.Meta
	require.NoError(t, yaml.Unmarshal([]byte(files[allowlist.MetaFile]), &m))
	m.Sources = nil
	b, err := yaml.Marshal(&m)
	require.NoError(t, err)
	out := map[string]string{}
	for k, v := range files {
		out[k] = v
	}
	out[allowlist.MetaFile] = string(b)
	return out
}

func TestObserveESHelpTeachesTheConnection(t *testing.T) {
	cmd := &cobra.Command{Use: "observe"}
	f := addElasticsearchFlags(cmd)
	require.False(t, f.enabled())
	for _, s := range []string{
		"kubectl port-forward -n tigera-elasticsearch svc/tigera-secure-es-http 9200",
		"kubectl -n tigera-elasticsearch get secret tigera-secure-es-elastic-user",
		"tigera-secure-es-http-certs-public (key tls.crt)",
		"--es-tls-server-name tigera-secure-es-http.tigera-elasticsearch.svc",
		"ES_PASSWORD", "--allow-partial", "calico_flowlogs.*",
	} {
		require.Contains(t, cmd.Long, s)
	}
	require.Contains(t, cmd.Example, "--es-password-file es-password")
	for _, name := range []string{"es", "es-index", "es-cluster", "es-raw", "since", "start-time", "end-time", "es-overlap", "es-api-key",
		"es-api-key-file", "es-username", "es-password", "es-password-file", "es-ca-cert", "es-cloud-id", "es-insecure-skip-verify", "allow-partial"} {
		require.NotNil(t, cmd.Flags().Lookup(name), name)
	}
}

// The CLI end to end, over TLS with a self-signed CA and basic auth from
// files, in both modes, against `observe --from` on the same documents.
func TestObserveESMatchesObserveFromOverTLS(t *testing.T) {
	fx := newESFixture(t, estest.Options{TLS: true, Username: "elastic", Password: esTestSecret})
	file := filepath.Join(t.TempDir(), "flows.ndjson")
	require.NoError(t, os.WriteFile(file, append(bytes.Join(fx.docs, []byte("\n")), '\n'), 0o600))

	var errb bytes.Buffer
	g := &globals{stdout: &bytes.Buffer{}, stderr: &errb, stdin: strings.NewReader(""), isTerminal: func() bool { return false }}
	root := buildRoot(g)
	fileStore := filepath.Join(t.TempDir(), "allowlists")
	root.SetArgs([]string{"observe", "--store", fileStore, "--from", file})
	require.NoError(t, root.Execute(), errb.String())
	want := esWithoutSources(t, esReadDir(t, fileStore))

	for _, raw := range []bool{false, true} {
		store := filepath.Join(t.TempDir(), "allowlists")
		args := []string{"--store", store, "--es", fx.srv.URL, "--es-password-file", fx.passFile, "--es-ca-cert", fx.caFile,
			"--start-time", fx.from, "--end-time", fx.to, "--es-page-size", "200"}
		if raw {
			args = append(args, "--es-raw")
		}
		stderr, err := esHarness(t, nil, args...)
		require.NoError(t, err, stderr)
		if raw {
			require.Contains(t, stderr, "raw scan:")
		} else {
			require.Contains(t, stderr, "aggregation push-down:")
		}
		require.Contains(t, stderr, "4908 records, 3516 used for egress allowlists")
		require.NotContains(t, stderr, "warning")
		files := esReadDir(t, store)
		require.Equal(t, want, esWithoutSources(t, files), "raw=%v", raw)
		for name, content := range files {
			require.NotContains(t, content, esTestSecret, name)
		}
		require.Contains(t, files[allowlist.MetaFile], "id: "+fx.srv.URL+" index=tigera_secure_ee_flows.cluster.* cluster=cluster")
		require.NotContains(t, stderr, esTestSecret)
	}
}

func TestObserveESCredentialsFromTheEnvironment(t *testing.T) {
	fx := newESFixture(t, estest.Options{Username: "reader", Password: esTestSecret, APIKey: "a2V5aWQ6c2VjcmV0"})
	base := []string{"--store", fx.storeDir, "--es", fx.srv.URL, "--start-time", fx.from, "--end-time", fx.to}

	stderr, err := esHarness(t, map[string]string{"ES_USERNAME": "reader", "ES_PASSWORD": esTestSecret}, base...)
	require.NoError(t, err, stderr)
	for _, r := range fx.srv.Requests() {
		require.True(t, strings.HasPrefix(r.Header.Get("Authorization"), "Basic "))
	}

	fx.srv.ResetRequests()
	stderr, err = esHarness(t, map[string]string{"ES_API_KEY": "a2V5aWQ6c2VjcmV0", "ES_USERNAME": "reader"}, base...)
	require.NoError(t, err, stderr)
	require.Contains(t, stderr, "(resumed)\n  note: resuming at 2026-11-26T23:50:01Z", "the second run re-reads only the overlap")
	require.NotEmpty(t, fx.srv.Requests())
	for _, r := range fx.srv.Requests() {
		require.True(t, strings.HasPrefix(strings.ToLower(r.Header.Get("Authorization")), "apikey "))
	}

	// A wrong password: a clear error that names where the password lives,
	// and no secret in it.
	stderr, err = esHarness(t, map[string]string{"ES_PASSWORD": "wrong-" + esTestSecret}, "--store", t.TempDir(), "--es", fx.srv.URL, "--since", "30d")
	require.ErrorContains(t, err, "HTTP 401")
	require.ErrorContains(t, err, "tigera-secure-es-elastic-user")
	require.NotContains(t, err.Error(), esTestSecret)
	require.NotContains(t, stderr, esTestSecret)
}

func TestObserveESWarnsAboutInsecureOptions(t *testing.T) {
	fx := newESFixture(t, estest.Options{TLS: true, Username: "elastic", Password: esTestSecret})
	stderr, err := esHarness(t, nil, "--store", fx.storeDir, "--es", fx.srv.URL, "--es-insecure-skip-verify",
		"--es-password", esTestSecret, "--start-time", fx.from, "--end-time", fx.to)
	require.NoError(t, err, stderr)
	require.Contains(t, stderr, "warning: TLS certificate verification is disabled (--es-insecure-skip-verify)")
	require.Contains(t, stderr, "warning: --es-password on the command line can end up in shell history")
	require.NotContains(t, stderr, esTestSecret)

	// Without the CA (and without the insecure flag) the certificate is rejected.
	_, err = esHarness(t, nil, "--store", t.TempDir(), "--es", fx.srv.URL, "--es-password-file", fx.passFile, "--since", "30d")
	require.ErrorContains(t, err, "--es-ca-cert")
}

func TestObserveESFlagErrors(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	require.NoError(t, os.WriteFile(keyFile, []byte("a2V5"), 0o600))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--since", "7d", "--start-time", "2026-11-01T00:00:00Z"}, "give --since or --start-time, not both"},
		{[]string{"--start-time", "yesterday"}, `--start-time "yesterday": want RFC 3339`},
		{[]string{"--start-time", "2026-11-02", "--end-time", "2026-11-01"}, "--end-time must be after --start-time"},
		{[]string{"--since", "-1d"}, "want a positive duration"},
		{[]string{"--es-overlap", "soon"}, "--es-overlap"},
		{[]string{"--es-api-key-file", keyFile, "--es-username", "elastic"}, "not both"},
		{[]string{"--es-password", "x", "--es-password-file", keyFile}, "with the flag or the file, not both"},
		{[]string{"--es-ca-cert", filepath.Join(dir, "missing.pem")}, "--es-ca-cert"},
		{[]string{"--es-password-file", filepath.Join(dir, "missing")}, "reading the password"},
	} {
		args := append([]string{"--store", filepath.Join(dir, "store"), "--es", "http://127.0.0.1:1"}, c.args...)
		_, err := esHarness(t, nil, args...)
		require.ErrorContains(t, err, c.want, "%v", c.args)
	}
}

// Flags another time-based source already registered are shared, not
// registered twice (cobra would panic).
func TestObserveESSharesTimeFlags(t *testing.T) {
	cmd := &cobra.Command{Use: "observe"}
	cmd.Flags().Duration("since", time.Hour, "someone else's --since")
	cmd.Flags().Bool("allow-partial", false, "someone else's --allow-partial")
	f := addElasticsearchFlags(cmd)
	require.NoError(t, cmd.Flags().Parse([]string{"--es", "http://127.0.0.1:1", "--since", "36h", "--allow-partial"}))
	o, err := f.options(func(string) {})
	require.NoError(t, err)
	require.Equal(t, 36*time.Hour, o.Since)
	require.True(t, o.AllowPartial)
}
