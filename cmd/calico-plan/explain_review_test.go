package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// The calico flavors write one DNS rule per protocol: explain must show
// each with its own port and that port's evidence, not the DNS total twice.
func TestExplainDNSRulesCarryTheirOwnPortAndEvidence(t *testing.T) {
	store := observeDemo(t)
	js, _ := mustRun(t, "explain", "--store", store, "--namespace", "tasks", "-o", "json")
	var ex explainReport
	require.NoError(t, json.Unmarshal([]byte(js), &ex))
	require.Equal(t, []string{"UDP/53"}, ex.Rules[0].Ports)
	require.Equal(t, []string{"TCP/53"}, ex.Rules[1].Ports)
	require.NotNil(t, ex.Rules[0].Evidence)
	require.NotNil(t, ex.Rules[1].Evidence)
	require.NotEqual(t, ex.Rules[0].Evidence.Flows, ex.Rules[1].Evidence.Flows)

	// The k8s flavor has one DNS rule for both protocols: all of it.
	js, _ = mustRun(t, "explain", "--store", store, "--namespace", "tasks", "--flavor", "k8s", "-o", "json")
	var k explainReport
	require.NoError(t, json.Unmarshal([]byte(js), &k))
	require.Equal(t, []string{"UDP/53", "TCP/53"}, k.Rules[0].Ports)
	require.Equal(t, ex.Rules[0].Evidence.Flows+ex.Rules[1].Evidence.Flows, k.Rules[0].Evidence.Flows)
}
