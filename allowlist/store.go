package allowlist

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/calico-plan/calico-plan/internal/fsutil"
	"github.com/calico-plan/calico-plan/profile"
)

// FormatVersion is the store format this build reads and writes.
const FormatVersion = 1

// MetaFile is the store-wide state file inside the store directory.
const MetaFile = "_store.yaml"

// Rollout stages.
const (
	StageObserve  = "observe"
	StageStaged   = "staged"
	StageEnforced = "enforced"
	StageExcluded = "excluded"
)

// Namespace is one namespace's allowlist file.
type Namespace struct {
	Version   int    `yaml:"version" json:"version"`
	Namespace string `yaml:"namespace" json:"namespace"`
	// Tier is the namespace's rollout tier ("unassigned" when unknown);
	// TierSource says where it came from: label, name-rule or unassigned.
	Tier        string      `yaml:"tier" json:"tier"`
	TierSource  string      `yaml:"tierSource" json:"tierSource"`
	Rollout     Rollout     `yaml:"rollout" json:"rollout"`
	Observation Observation `yaml:"observation" json:"observation"`
	// Egress is the allowlist: allowed egress seen from this namespace.
	Egress []Entry `yaml:"egress" json:"egress"`
	// Denied is egress the dataplane denied: seen, never allowlisted.
	Denied []Entry `yaml:"denied,omitempty" json:"denied,omitempty"`
	// WouldDeny is allowed egress that this namespace's staged allowlist
	// policy would deny (from pending policy traces).
	WouldDeny []Entry `yaml:"wouldDeny,omitempty" json:"wouldDeny,omitempty"`
	// NoEgress lists workloads (such as CronJobs) an operator declared to
	// need no egress, with the reason.
	NoEgress []NoEgress `yaml:"noEgress,omitempty" json:"noEgress,omitempty"`

	accs [numClasses]map[key]*acc
}

// Rollout is a namespace's place in the observe → staged → enforced rollout.
type Rollout struct {
	Stage   string         `yaml:"stage" json:"stage"`
	Since   Time           `yaml:"since,omitempty" json:"since,omitempty"`
	Reason  string         `yaml:"reason,omitempty" json:"reason,omitempty"`
	By      string         `yaml:"by,omitempty" json:"by,omitempty"`
	Forced  bool           `yaml:"forced,omitempty" json:"forced,omitempty"`
	History []RolloutEvent `yaml:"history,omitempty" json:"history,omitempty"`
}

// RolloutEvent records one stage change.
type RolloutEvent struct {
	From   string   `yaml:"from" json:"from"`
	To     string   `yaml:"to" json:"to"`
	At     Time     `yaml:"at" json:"at"`
	Reason string   `yaml:"reason,omitempty" json:"reason,omitempty"`
	By     string   `yaml:"by,omitempty" json:"by,omitempty"`
	Forced bool     `yaml:"forced,omitempty" json:"forced,omitempty"`
	Unmet  []string `yaml:"unmetGates,omitempty" json:"unmetGates,omitempty"`
}

// NoEgress declares that a workload needs no egress.
type NoEgress struct {
	Workload string `yaml:"workload" json:"workload"`
	Reason   string `yaml:"reason" json:"reason"`
}

// Observation summarizes what was observed for a namespace.
type Observation struct {
	From         Time   `yaml:"from" json:"from"`
	To           Time   `yaml:"to" json:"to"`
	LastNewEntry Time   `yaml:"lastNewEntry" json:"lastNewEntry"`
	State        string `yaml:"state" json:"state"`
	Gaps         []Gap  `yaml:"gaps,omitempty" json:"gaps,omitempty"`
}

// Gap is a period the store has no data for.
type Gap struct {
	From   Time   `yaml:"from" json:"from"`
	To     Time   `yaml:"to" json:"to"`
	Source string `yaml:"source" json:"source"`
	Reason string `yaml:"reason" json:"reason"`
}

// Meta is the store-wide state (_store.yaml).
type Meta struct {
	Version     int            `yaml:"version" json:"version"`
	Observation MetaWindow     `yaml:"observation" json:"observation"`
	Sources     []SourceRecord `yaml:"sources" json:"sources"`
	Gaps        []Gap          `yaml:"gaps,omitempty" json:"gaps,omitempty"`
	Ingest      Ingest         `yaml:"ingest" json:"ingest"`
	Warnings    []string       `yaml:"warnings,omitempty" json:"warnings,omitempty"`
}

// MetaWindow bounds everything ingested.
type MetaWindow struct {
	From Time `yaml:"from" json:"from"`
	To   Time `yaml:"to" json:"to"`
}

// Ingest totals what every observe run read.
type Ingest struct {
	Stats `yaml:",inline" json:",inline"`
	// Bad counts records the decoders rejected (malformed, wrong types).
	Bad         int64            `yaml:"bad,omitempty" json:"bad,omitempty"`
	BadByReason map[string]int64 `yaml:"badByReason,omitempty" json:"badByReason,omitempty"`
}

// Source kinds.
const (
	SourceFile          = "file"
	SourceElasticsearch = "elasticsearch"
	SourceGoldmane      = "goldmane"
	SourceLoki          = "loki"
)

// HeadBytes is how many leading bytes of a file SourceRecord.Head hashes.
const HeadBytes = 64 << 10

// SourceRecord remembers what was ingested from one source, so that
// re-observing the same data changes nothing.
type SourceRecord struct {
	Kind string `yaml:"kind" json:"kind"`
	// ID is "sha256:<hex>" of the consumed bytes for files; the endpoint
	// (and index or cluster) for Elasticsearch and Goldmane.
	ID string `yaml:"id" json:"id"`
	// Path is informational (the first path a file was read from).
	Path string `yaml:"path,omitempty" json:"path,omitempty"`
	// Bytes consumed from a file (up to its last complete record).
	Bytes int64 `yaml:"bytes,omitempty" json:"bytes,omitempty"`
	// Head is "sha256:<hex>" of a file's first HeadBytes bytes, set when
	// more were consumed: observe hashes a file's whole prefix up to Bytes
	// (to resume after it) only when its head matches, so an unrelated
	// file is read once, not twice.
	Head    string `yaml:"head,omitempty" json:"head,omitempty"`
	Records int64  `yaml:"records" json:"records"`
	From    Time   `yaml:"from,omitempty" json:"from,omitempty"`
	To      Time   `yaml:"to,omitempty" json:"to,omitempty"`
	// Watermark is the end of the last complete window read from a
	// time-based source; the next observe resumes there.
	Watermark Time `yaml:"watermark,omitempty" json:"watermark,omitempty"`
	// Partial marks data read with errors that were downgraded to warnings.
	Partial bool `yaml:"partial,omitempty" json:"partial,omitempty"`
	// Provisional is what a source counted for a window it reads again
	// next time (the Elasticsearch overlap); it is subtracted then.
	Provisional *Provisional `yaml:"provisional,omitempty" json:"provisional,omitempty"`
	// Mark lets the next run tell whether the source restarted and lost
	// what it held since the watermark (Goldmane keeps flows in memory
	// only).
	Mark *SourceMark `yaml:"mark,omitempty" json:"mark,omitempty"`
}

// SourceMark identifies what one process of a time-based source served:
// for Goldmane, a few flow keys of one bucket with the ids that Goldmane
// process gave them ("<key digest>=<id>"), which a restarted Goldmane
// gives anew.
type SourceMark struct {
	Bucket Time     `yaml:"bucket" json:"bucket"`
	Keys   []string `yaml:"keys" json:"keys"`
}

// Provisional is what a time-based source counted for the window
// [From, Watermark) that the next run reads again.
type Provisional struct {
	// From is where the next run resumes for the subtraction to be exact.
	From Time `yaml:"from" json:"from"`
	// Ingest holds the store-wide ingest counters of the window.
	Ingest Stats `yaml:"ingest" json:"ingest"`
	// Sums holds the counters of each allowlist key of the window.
	Sums []ProvisionalSum `yaml:"sums,omitempty" json:"sums,omitempty"`
}

// ProvisionalSum is one key's counters from a provisional window.
type ProvisionalSum struct {
	Namespace string `yaml:"namespace" json:"namespace"`
	Class     string `yaml:"class" json:"class"`
	Peer      Peer   `yaml:"peer" json:"peer"`
	Port      string `yaml:"port" json:"port"`
	Flows     int64  `yaml:"flows" json:"flows"`
	Bytes     int64  `yaml:"bytes" json:"bytes"`
}

// Store is the allowlist store: a directory with one YAML file per
// namespace and a _store.yaml with the sources ingested.
type Store struct {
	Dir  string
	Meta Meta
	prof *profile.Profile
	ns   map[string]*Namespace
	// isNew: the directory holds no store yet; Save creates it.
	isNew bool
	// Broken are the namespace files OpenReadable left out, by namespace,
	// with why; a store with any is never saved.
	Broken map[string]error
}

// isNamespaceFile reports whether a file name in a store directory is a
// namespace file (<namespace>.yaml; not _store.yaml, hidden or temp files).
func isNamespaceFile(name string) bool {
	return strings.HasSuffix(name, ".yaml") && !strings.HasPrefix(name, "_") && !strings.HasPrefix(name, ".")
}

// Exists reports whether dir holds a store (or what is left of one): a
// _store.yaml, a namespace file or the journal of an interrupted write.
// It only lists the directory; a missing dir holds none.
func Exists(dir string) (bool, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store %s: %w", dir, err)
	}
	for _, e := range ents {
		if n := e.Name(); n == MetaFile || n == fsutil.JournalName || (!e.IsDir() && isNamespaceFile(n)) {
			return true, nil
		}
	}
	return false, nil
}

// Open loads a store, or returns a new empty one (IsNew) when dir does not
// exist or holds no store files. It never changes the directory: it reads
// under a shared lock that waits for a write in progress, and reads the
// files of an interrupted write as that write committed them (the next
// Save completes it on disk). Namespace files without a _store.yaml are
// refused: the record of what was ingested is lost, and observing into
// them would count every input again.
func Open(dir string, prof *profile.Profile) (*Store, error) { return open(dir, prof, false) }

func open(dir string, prof *profile.Profile, tolerant bool) (*Store, error) {
	s := &Store{Dir: dir, prof: prof, ns: map[string]*Namespace{}, Meta: Meta{Version: FormatVersion}}
	broken := map[string]error{}
	metaPath := filepath.Join(dir, MetaFile)
	var meta []byte
	haveMeta := false
	var names, errs []string
	err := fsutil.ReadFiles(dir, func(name string) bool { return name == MetaFile || isNamespaceFile(name) }, func(name string, b []byte) error {
		if name == MetaFile {
			meta, haveMeta = b, true
			return nil
		}
		// Namespace files are parsed as they are read, so that their
		// bytes are not all held at once.
		names = append(names, name)
		path := filepath.Join(dir, name)
		n, err := ParseNamespace(b, path)
		if err != nil {
			errs = append(errs, err.Error())
			broken[strings.TrimSuffix(name, ".yaml")] = err
			return nil
		}
		if want := strings.TrimSuffix(name, ".yaml"); n.Namespace != want {
			err := fmt.Errorf("%s: namespace %q does not match the file name (want %q)", path, n.Namespace, want)
			errs = append(errs, err.Error())
			broken[want] = err
			return nil
		}
		s.ns[n.Namespace] = n
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(dir); errors.Is(serr, fs.ErrNotExist) {
			s.isNew = true
			return s, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", dir, err)
	}
	switch {
	case !haveMeta && len(names) == 0:
		s.isNew = true
		return s, nil
	case !haveMeta:
		return nil, missingMetaError(dir, names)
	case len(bytes.TrimSpace(meta)) == 0:
		return nil, fmt.Errorf("%s is empty: %s", metaPath, restoreMeta(dir))
	}
	if err := decodeStrict(meta, &s.Meta); err != nil {
		return nil, fmt.Errorf("%s: %w (%s)", metaPath, err, restoreMeta(dir))
	}
	if s.Meta.Version != FormatVersion {
		return nil, fmt.Errorf("%s: version %d is not supported (this build reads %d)", metaPath, s.Meta.Version, FormatVersion)
	}
	if len(errs) > 0 {
		if !tolerant {
			return nil, errors.New(strings.Join(errs, "\n"))
		}
		s.Broken = broken
	}
	return s, nil
}

// OpenExisting loads a store that must exist: what every command but
// observe reads. Only observe creates a store.
func OpenExisting(dir string, prof *profile.Profile) (*Store, error) {
	return openExisting(dir, prof, false)
}

// OpenReadable is OpenExisting for a reader about some namespaces: a
// namespace file that does not parse is left out and recorded in Broken
// (by namespace) instead of failing the whole store. The store metadata
// must still be sound. Such a store must not be saved.
func OpenReadable(dir string, prof *profile.Profile) (*Store, error) {
	return openExisting(dir, prof, true)
}

func openExisting(dir string, prof *profile.Profile, tolerant bool) (*Store, error) {
	s, err := open(dir, prof, tolerant)
	if err != nil {
		return nil, err
	}
	if s.isNew {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("store %s does not exist: check --store, or create it with 'calico-plan observe --store %s --from PATH'", dir, dir)
		}
		return nil, fmt.Errorf("%s is not an allowlist store (it has no %s): check --store, or create one there with 'calico-plan observe --store %s --from PATH'", dir, MetaFile, dir)
	}
	return s, nil
}

// IsNew reports whether the store's directory holds no store yet: Save
// will create it.
func (s *Store) IsNew() bool { return s.isNew }

// restoreMeta says how to get a lost or damaged _store.yaml back.
func restoreMeta(dir string) string {
	return fmt.Sprintf("it records which inputs were already counted; restore it from git (git checkout -- %s) or a backup",
		filepath.Join(dir, MetaFile))
}

func missingMetaError(dir string, names []string) error {
	shown := names
	if len(shown) > 3 {
		shown = append(shown[:3:3], "...")
	}
	return fmt.Errorf("store %s has %d namespace files (%s) but no %s, the record of which inputs were already counted: "+
		"nothing reads or observes into it, because the same flows would be counted twice. "+
		"Restore %s from git (git checkout -- %s) or a backup; if it is lost for good, move the namespace files out of %s "+
		"and observe every flow log again into the empty store (then re-apply rollout stages and hand edits)",
		dir, len(names), strings.Join(shown, ", "), MetaFile, MetaFile, filepath.Join(dir, MetaFile), dir)
}

func decodeStrict(b []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return errors.New(profile.YAMLError(err))
	}
	return nil
}

// LoadNamespaceFile reads and validates one namespace file. Errors name the
// file, the line and the field.
func LoadNamespaceFile(path string) (*Namespace, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseNamespace(b, path)
}

// ParseNamespace decodes and validates a namespace file's bytes.
func ParseNamespace(b []byte, path string) (*Namespace, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, errors.New(profile.AtFile(path, err.Error()))
	}
	n := &Namespace{}
	if err := decodeStrict(b, n); err != nil {
		return nil, errors.New(profile.AtFile(path, err.Error()))
	}
	if n.Version != FormatVersion {
		return nil, fmt.Errorf("%s: version %d is not supported (this build reads %d)", path, n.Version, FormatVersion)
	}
	if msgs := validation.IsDNS1123Label(n.Namespace); len(msgs) > 0 {
		return nil, fmt.Errorf("%s:%d: namespace: %q is not a valid namespace name", path, fieldLine(&doc, "namespace"), n.Namespace)
	}
	if key, err := validateObservation(&n.Observation); err != nil {
		return nil, fmt.Errorf("%s:%d: observation.%s", path, nodeLine(&doc, "observation", -1, key), err)
	}
	for ci, list := range [...][]Entry{n.Egress, n.Denied, n.WouldDeny} {
		field := classFields[ci]
		for i := range list {
			if err := validateEntry(&list[i]); err != nil {
				return nil, fmt.Errorf("%s:%d: %s[%d].%s", path, entryLine(&doc, field, i), field, i, err)
			}
			for j := range list[i].Ports {
				if key, err := validateEvidence(&list[i].Ports[j].Evidence); err != nil {
					return nil, fmt.Errorf("%s:%d: %s[%d].ports[%d].%s", path, portLine(&doc, field, i, j, key), field, i, j, err)
				}
			}
		}
	}
	n.buildAccs()
	return n, nil
}

var classFields = [...]string{"egress", "denied", "wouldDeny"}

func fieldLine(doc *yaml.Node, field string) int {
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		m := doc.Content[0]
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == field {
				return m.Content[i+1].Line
			}
		}
	}
	return 0
}

func entryLine(doc *yaml.Node, field string, i int) int {
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		m := doc.Content[0]
		for j := 0; j+1 < len(m.Content); j += 2 {
			if m.Content[j].Value == field && i < len(m.Content[j+1].Content) {
				return m.Content[j+1].Content[i].Line
			}
		}
	}
	return 0
}

// validateEntry checks a hand-editable entry: every value that can reach a
// policy must be a valid Kubernetes name, label or CIDR.
func validateEntry(e *Entry) error {
	p := &e.Peer
	if err := validatePeer(p); err != nil {
		return err
	}
	if e.Folded != nil {
		if len(p.Nets) == 0 {
			return fmt.Errorf("folded: only entries with nets are folded")
		}
		if err := e.Folded.validate(); err != nil {
			return err
		}
	}
	for _, d := range e.Domains {
		if NormalizeDomain(d) != d {
			return fmt.Errorf("domains: %q is not a lower-case DNS name (optionally *.-prefixed) outside the cluster domain", d)
		}
	}
	if len(e.Domains) > 0 && p.Kind != PeerPublic && p.Kind != PeerPrivate && p.Kind != PeerSpecial {
		return fmt.Errorf("domains: only kinds public, private and special take domains")
	}
	if e.Source != "" && e.Source != SourcePacketLog {
		return fmt.Errorf("source: %q is not %s (or absent, for flow logs)", e.Source, SourcePacketLog)
	}
	if len(e.Ports) == 0 {
		return fmt.Errorf("ports: at least one port is required")
	}
	for i, pe := range e.Ports {
		if _, err := ParsePortSpec(pe.Port); err != nil {
			return fmt.Errorf("ports[%d]: %v", i, err)
		}
	}
	return nil
}

// validatePeer checks an entry's peer: its kind, names, labels and nets.
func validatePeer(p *Peer) error {
	if err := validatePeerNames(p); err != nil {
		return err
	}
	if err := validatePeerLabels(p); err != nil {
		return err
	}
	if len(p.Nets) > 0 && p.Kind != PeerPrivate && p.Kind != PeerPublic && p.Kind != PeerHost && p.Kind != PeerSpecial {
		return fmt.Errorf("peer.nets: only kinds private, public, special and host take nets")
	}
	for _, c := range p.Nets {
		pr, err := netip.ParsePrefix(c)
		if err != nil || pr.Masked() != pr {
			return fmt.Errorf("peer.nets: %q is not a CIDR in canonical form", c)
		}
		if p.Kind == PeerSpecial && !Covered(pr, SpecialClassPrefixes(p.Name)) {
			return fmt.Errorf("peer.nets: %s is not inside the %s ranges", c, p.Name)
		}
	}
	return nil
}

func validatePeerLabels(p *Peer) error {
	if len(p.Labels) > 0 && p.Kind != PeerNamespace && p.Kind != PeerNetworkSet && p.Kind != PeerGlobalNetworkSet {
		return fmt.Errorf("peer.labels: only kinds namespace, networkset and globalnetworkset take labels")
	}
	for k, v := range p.Labels {
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			return fmt.Errorf("peer.labels: key %q is not a valid label key", k)
		}
		if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
			return fmt.Errorf("peer.labels[%s]: %q is not a valid label value", k, v)
		}
	}
	return nil
}

// validatePeerNames checks the kind, and the namespace and name it needs.
func validatePeerNames(p *Peer) error {
	if !ValidPeerKind(p.Kind) {
		return fmt.Errorf("peer.kind: %q is not one of dns, namespace, networkset, globalnetworkset, host, private, public, special", p.Kind)
	}
	if p.Namespace != "" {
		if msgs := validation.IsDNS1123Label(p.Namespace); len(msgs) > 0 {
			return fmt.Errorf("peer.namespace: %q is not a valid namespace name", p.Namespace)
		}
	}
	if p.Name != "" {
		if msgs := validation.IsDNS1123Subdomain(p.Name); len(msgs) > 0 {
			return fmt.Errorf("peer.name: %q is not a valid name", p.Name)
		}
	}
	switch p.Kind {
	case PeerNamespace:
		if p.Namespace == "" {
			return fmt.Errorf("peer.namespace: required for kind namespace")
		}
	case PeerNetworkSet:
		if p.Namespace == "" || p.Name == "" {
			return fmt.Errorf("peer: namespace and name are required for kind networkset")
		}
	case PeerGlobalNetworkSet:
		if p.Name == "" {
			return fmt.Errorf("peer.name: required for kind globalnetworkset")
		}
	case PeerSpecial:
		if !ValidSpecialClass(p.Name) {
			return fmt.Errorf("peer.name: %q is not a special address class (%s)", p.Name, strings.Join(SpecialClasses(), ", "))
		}
	}
	return nil
}

// buildAccs turns the file's entries into accumulators for merging.
func (n *Namespace) buildAccs() {
	for ci, list := range [...][]Entry{n.Egress, n.Denied, n.WouldDeny} {
		m := map[key]*acc{}
		for _, e := range list {
			prefixes, _ := e.Peer.Prefixes()
			for _, pe := range e.Ports {
				ps, _ := ParsePortSpec(pe.Port)
				k := key{
					ns: n.Namespace, class: Class(ci), kind: e.Peer.Kind,
					peerNS: e.Peer.Namespace, peerName: e.Peer.Name, labels: canonFromMap(e.Peer.Labels),
					hasNets: len(prefixes) > 0, proto: ps.Proto, port: ps.Port, origin: originOf(e.Source),
				}
				a := &acc{ev: pe.Evidence, workloads: append([]string(nil), e.Workloads...), services: append([]string(nil), e.Services...), domains: append([]string(nil), e.Domains...)}
				sort.Strings(a.domains)
				sort.Strings(a.workloads)
				sort.Strings(a.services)
				if len(prefixes) > 0 {
					a.nets = make(map[netip.Prefix]Time, len(prefixes))
					for _, p := range prefixes {
						a.nets[p] = pe.FirstSeen
					}
					if e.Folded != nil {
						f := *e.Folded
						a.folded = &f
					}
				}
				if old := m[k]; old != nil {
					old.merge(a, 1<<30, nil)
				} else {
					m[k] = a
				}
			}
		}
		n.accs[ci] = m
	}
}

// buildEntries turns the accumulators back into sorted entries; r (nil
// when no profile is at hand) brings folded address sets into their final
// form first.
func (n *Namespace) buildEntries(samples int, r *netRules) {
	lists := [numClasses]*[]Entry{&n.Egress, &n.Denied, &n.WouldDeny}
	for ci := range lists {
		*lists[ci] = entriesFrom(n.accs[ci], samples, r)
	}
}

type peerGroup struct {
	k      key // port fields zero
	nets   string
	folded NetsFolded
}

func entriesFrom(m map[key]*acc, samples int, r *netRules) []Entry {
	groups := map[peerGroup]*Entry{}
	for k, a := range m {
		g := peerGroup{k: k}
		g.k.proto, g.k.port = 0, 0
		var nets []string
		if k.hasNets {
			if r != nil {
				a.finalize(r)
			}
			// The addresses as seen (or as folded), sorted, without the
			// ones inside another: sibling addresses are not joined, so
			// that the file holds what folding counts.
			for _, p := range aggregateNets(a.prefixes(), 0, 0, false) {
				nets = append(nets, p.String())
			}
			g.nets = strings.Join(nets, ",")
			if a.folded != nil {
				g.folded = *a.folded
			}
		}
		e := groups[g]
		if e == nil {
			e = &Entry{Peer: Peer{Kind: k.kind, Namespace: k.peerNS, Name: k.peerName, Labels: parseCanonLabels(k.labels), Nets: nets}, Source: sourceOf(k.origin)}
			if a.folded != nil {
				f := *a.folded
				e.Folded = &f
			}
			groups[g] = e
		}
		e.Ports = append(e.Ports, PortEvidence{Port: PortSpec{Proto: k.proto, Port: k.port}.String(), Evidence: a.ev})
		for _, d := range a.domains {
			e.Domains = addSample(e.Domains, d, MaxDomains)
		}
		for _, w := range a.workloads {
			e.Workloads = addSample(e.Workloads, w, samples)
		}
		for _, s := range a.services {
			e.Services = addSample(e.Services, s, samples)
		}
	}
	keys := make([]peerGroup, 0, len(groups))
	for g := range groups {
		keys = append(keys, g)
	}
	sort.Slice(keys, func(i, j int) bool { return lessGroup(keys[i], keys[j]) })
	out := make([]Entry, 0, len(keys))
	for _, g := range keys {
		e := groups[g]
		sort.Slice(e.Ports, func(i, j int) bool {
			a, _ := ParsePortSpec(e.Ports[i].Port)
			b, _ := ParsePortSpec(e.Ports[j].Port)
			return a.Less(b)
		})
		out = append(out, *e)
	}
	return out
}

func lessGroup(a, b peerGroup) bool {
	if a.k.kind != b.k.kind {
		return peerKindOrder[a.k.kind] < peerKindOrder[b.k.kind]
	}
	if a.k.peerNS != b.k.peerNS {
		return a.k.peerNS < b.k.peerNS
	}
	if a.k.peerName != b.k.peerName {
		return a.k.peerName < b.k.peerName
	}
	if a.k.labels != b.k.labels {
		return a.k.labels < b.k.labels
	}
	if a.k.origin != b.k.origin {
		return a.k.origin < b.k.origin
	}
	if a.k.hasNets != b.k.hasNets {
		return !a.k.hasNets
	}
	if a.nets != b.nets {
		return a.nets < b.nets
	}
	return lessFolded(a.folded, b.folded)
}

func lessFolded(a, b NetsFolded) bool {
	if a.IPv4 != b.IPv4 {
		return a.IPv4 < b.IPv4
	}
	if a.IPv6 != b.IPv6 {
		return a.IPv6 < b.IPv6
	}
	if a.Over != b.Over {
		return a.Over < b.Over
	}
	return !a.Truncated && b.Truncated
}

// Profile returns the store's profile.
func (s *Store) Profile() *profile.Profile { return s.prof }

// Names returns the namespaces in the store, sorted.
func (s *Store) Names() []string {
	out := make([]string, 0, len(s.ns))
	for n := range s.ns {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Namespace returns one namespace's allowlist, or nil.
func (s *Store) Namespace(name string) *Namespace { return s.ns[name] }

// Namespaces returns every namespace's allowlist, sorted by name.
func (s *Store) Namespaces() []*Namespace {
	out := make([]*Namespace, 0, len(s.ns))
	for _, n := range s.Names() {
		out = append(out, s.ns[n])
	}
	return out
}

// FindSource returns the record of a source, or nil.
func (s *Store) FindSource(kind, id string) *SourceRecord {
	for i := range s.Meta.Sources {
		if s.Meta.Sources[i].Kind == kind && s.Meta.Sources[i].ID == id {
			return &s.Meta.Sources[i]
		}
	}
	return nil
}

// PutSource adds or replaces a source record.
func (s *Store) PutSource(r SourceRecord) {
	if old := s.FindSource(r.Kind, r.ID); old != nil {
		*old = r
		return
	}
	s.Meta.Sources = append(s.Meta.Sources, r)
}

// AddGap records a period without data (for example Goldmane retention
// overrun); it resets the stability clock of every namespace it overlaps.
func (s *Store) AddGap(g Gap) {
	for _, old := range s.Meta.Gaps {
		if old == g {
			return
		}
	}
	s.Meta.Gaps = append(s.Meta.Gaps, g)
}

// AddWarning records a warning (for example a partial read) in the store.
func (s *Store) AddWarning(w string) {
	for _, old := range s.Meta.Warnings {
		if old == w {
			return
		}
	}
	s.Meta.Warnings = append(s.Meta.Warnings, w)
}

// Apply merges an aggregator's result into the store. Rules only grow:
// entries are added or their evidence extended, never removed.
func (s *Store) Apply(a *Aggregator) {
	samples := s.prof.Aggregation.WorkloadSamples
	r := newNetRules(s.prof)
	for k, ac := range a.accs {
		n := s.ensure(k.ns)
		m := n.accs[k.class]
		old := m[k]
		if k.hasNets {
			ac.finalize(r) // what it holds no longer depends on how it was fed
			var prev PrefixSet
			if old != nil {
				prev = NewPrefixSet(old.prefixes())
			}
			var lastNew Time
			for p, t := range ac.nets {
				if t > lastNew && !prev.Covers(p) {
					lastNew = t
				}
			}
			if lastNew > ac.ev.LastNewAddress {
				ac.ev.LastNewAddress = lastNew
			}
		}
		if old == nil {
			m[k] = ac
		} else {
			old.merge(ac, samples, r)
		}
	}
	for ns, meta := range a.ns {
		n := s.ensure(ns)
		if n.Observation.From == 0 || meta.first < n.Observation.From {
			n.Observation.From = meta.first
		}
		if meta.last > n.Observation.To {
			n.Observation.To = meta.last
		}
		if n.Rollout.Stage == "" {
			n.Rollout.Stage = StageObserve
			n.Rollout.Since = n.Observation.From
		}
	}
	s.Meta.Ingest.Stats.merge(&a.Stats)
	w := &s.Meta.Observation
	if w.From == 0 || (a.Stats.From != 0 && a.Stats.From < w.From) {
		w.From = a.Stats.From
	}
	if a.Stats.To > w.To {
		w.To = a.Stats.To
	}
}

func (s *Store) ensure(ns string) *Namespace {
	n := s.ns[ns]
	if n == nil {
		n = &Namespace{Version: FormatVersion, Namespace: ns, Tier: TierUnassigned, TierSource: TierUnassigned}
		for i := range n.accs {
			n.accs[i] = map[key]*acc{}
		}
		if t, from := s.prof.TierFor(ns, nil); from != "" {
			n.Tier, n.TierSource = t, from
		}
		s.ns[ns] = n
	}
	return n
}

// TierUnassigned is the tier of a namespace whose tier is unknown.
const TierUnassigned = "unassigned"

// SetNamespaceLabels resolves tiers from namespace labels (a Namespace
// list or the live cluster). Namespaces not in the map keep a tier they got
// from labels earlier; otherwise the profile's name rules apply.
func (s *Store) SetNamespaceLabels(labels map[string]map[string]string) {
	for name, n := range s.ns {
		l, ok := labels[name]
		if !ok {
			if n.TierSource == "label" {
				continue
			}
		}
		if t, from := s.prof.TierFor(name, l); from != "" {
			n.Tier, n.TierSource = t, from
		} else {
			n.Tier, n.TierSource = TierUnassigned, TierUnassigned
		}
	}
}

// Save writes every changed file atomically, all or nothing.
func (s *Store) Save() error {
	if len(s.Broken) > 0 {
		return fmt.Errorf("store %s was read without its %d broken namespace files: it is not saved (fix them first)", s.Dir, len(s.Broken))
	}
	files, err := s.Render()
	if err != nil {
		return err
	}
	if _, err := fsutil.WriteFiles(s.Dir, files); err != nil {
		return fmt.Errorf("writing store %s: %w", s.Dir, err)
	}
	s.isNew = false
	return nil
}

// storeGitignore keeps the lock, journal and temp files out of git.
const storeGitignore = "# written by calico-plan\n.calico-plan.lock\n.calico-plan-journal\n.*.tmp-*\n"

// Render returns the bytes of every store file, deterministically.
func (s *Store) Render() (map[string][]byte, error) {
	samples := s.prof.Aggregation.WorkloadSamples
	r := newNetRules(s.prof)
	now := s.Meta.Observation.To
	files := map[string][]byte{".gitignore": []byte(storeGitignore)}
	for name, n := range s.ns {
		n.buildEntries(samples, r)
		n.Observation.LastNewEntry = lastNewEntry(n)
		n.Observation.Gaps = gapsWithin(s.Meta.Gaps, n.Observation.From, now)
		n.Observation.State = Assess(n, now, s.prof.Stability).State
		b, err := marshalYAML(n)
		if err != nil {
			return nil, fmt.Errorf("namespace %s: %w", name, err)
		}
		files[name+".yaml"] = b
	}
	m := s.Meta
	m.Version = FormatVersion
	m.Sources = append([]SourceRecord(nil), s.Meta.Sources...)
	sort.Slice(m.Sources, func(i, j int) bool {
		a, b := m.Sources[i], m.Sources[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.ID < b.ID
	})
	m.Gaps = append([]Gap(nil), s.Meta.Gaps...)
	sortGaps(m.Gaps)
	sort.Strings(m.Warnings)
	b, err := marshalYAML(&m)
	if err != nil {
		return nil, err
	}
	files[MetaFile] = b
	return files, nil
}

func marshalYAML(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func lastNewEntry(n *Namespace) Time {
	var t Time
	for _, e := range n.Egress {
		for _, p := range e.Ports {
			if p.FirstSeen > t {
				t = p.FirstSeen
			}
			if p.LastNewAddress > t {
				t = p.LastNewAddress
			}
		}
	}
	return t
}

func gapsWithin(gaps []Gap, from, to Time) []Gap {
	var out []Gap
	for _, g := range gaps {
		if g.To >= from && g.From <= to {
			out = append(out, g)
		}
	}
	sortGaps(out)
	return out
}

// sortGaps orders gaps by every field, so that the order they were
// recorded in does not show in the files.
func sortGaps(gaps []Gap) {
	sort.Slice(gaps, func(i, j int) bool {
		a, b := gaps[i], gaps[j]
		switch {
		case a.From != b.From:
			return a.From < b.From
		case a.To != b.To:
			return a.To < b.To
		case a.Source != b.Source:
			return a.Source < b.Source
		}
		return a.Reason < b.Reason
	})
}
